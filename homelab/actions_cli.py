"""``homelab actions``: the action queue from the shell, rendered from the read model
(``actors.readmodel.queue``); decisions go through the one command path
(``actors.decisions``), the same as the UI's buttons."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from rich.console import Console
from rich.text import Text

from actors.domain import drivers, states
from actors.readmodel import queue
from actors.readmodel.models import ActionEvent, ActionView
from bus.dataroot import DataRoot

SHOWN_OUTPUT = 4000  # characters of an action's output shown by `actions show`


def show_list(root: Path, as_json: bool, console: Console | None = None) -> None:
    found = queue.records(DataRoot(root).require().path)
    if as_json:  # one JSON document: an array of actions, keys as in their files
        print(json.dumps([a.model_dump(mode="json") for a in found], indent=2, sort_keys=True))
        return
    console = console or Console(highlight=False, soft_wrap=True)
    if not found:
        console.print("no actions")
    for a in found:
        extra = a.model_extra or {}
        line = Text(f"{a.id}  ")
        line.append(f"{a.state:<11}", style="yellow" if a.state == states.PENDING else "")
        line.append(f" {a.type:<8} {extra.get('service') or '':<16} {extra.get('reason', '')}")
        console.print(line)


def show_one(root: Path, action_id: str, as_json: bool) -> None:
    queue.check_id(action_id)
    detail = queue.detail(DataRoot(root).require().path, action_id)
    record = detail.action.model_dump(mode="json")
    if as_json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return
    console = Console(highlight=False, soft_wrap=True)
    for key in (
        "id",
        "state",
        "type",
        "service",
        "node",
        "target",
        "reason",
        "revision",
        "approval",
    ):
        console.print(Text(f"{key + ':':<13}{record.get(key)}"))
    for key, value in decision_lines(detail.action):
        console.print(Text(f"{key + ':':<13}{value}"))
    console.print(Text(f"{'hash:':<13}{record['hash']}"))
    for argv in record["commands"]:
        console.print(Text(f"{'runs:':<13}{drivers.command_text([argv])}"))
    for event in detail.action.history:
        when = dt.datetime.fromtimestamp(event.at).strftime("%Y-%m-%d %H:%M:%S")
        console.print(Text(f"  {when}  {event_text(event)}"))
    if detail.output_path is not None:
        console.print(Text(f"output ({detail.output_path}):", style="bold"))
        console.print(Text(detail.output[-SHOWN_OUTPUT:]))


EVENT_WORDS = {  # lifecycle event -> the state it led to, as people read it
    "queue": "pending",
    "approve": "approved",
    "reject": "rejected",
    "expire": "expired",
    "obsolete": "obsolete",
    "refuse": "refused",
    "start": "running",
    "succeed": "succeeded",
    "fail": "failed",
    "time_out": "timed out",
    "interrupt": "interrupted",
}


def decision_lines(action: ActionView) -> list[tuple[str, str]]:
    """Who decided and why, as ``key: value`` lines: ``approved_by``, ``rejected_by``,
    ``refused_by`` (the executor would not run what was approved), or ``decided_by`` (nobody
    for an expiry, nobody yet while pending), and ``why``."""
    decision = action.decision
    lines = [("approved_by", action.approved_by)] if action.approved_by else []
    if decision is None:
        return lines or [("decided_by", "nobody yet")]
    if decision.kind == "reject":
        return [("rejected_by", decision.by), ("why", decision.reason or "no reason given")]
    if decision.kind == "refuse":
        return [*lines, ("refused_by", decision.by), ("why", decision.reason or "refused")]
    if decision.kind == "expire" and not action.approved_by:
        lines.append(("decided_by", "nobody"))
    elif decision.kind == "obsolete":
        lines.append(("decided_by", decision.by))
    if decision.kind in ("expire", "obsolete"):
        lines.append(("why", decision.reason or EVENT_WORDS[decision.kind]))
    return lines


def event_text(event: ActionEvent) -> str:
    """One line of an action's timeline: what happened, by whom, why."""
    word = EVENT_WORDS.get(event.kind, event.kind)
    if event.kind == "queue":
        return word
    by = "nobody" if event.kind == "expire" else event.by
    return f"{word:<11} by {by}" + (f": {event.reason}" if event.reason else "")
