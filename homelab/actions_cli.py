"""``homelab actions``: the action queue from the shell. Reads ``actions/`` (filesystem
first); approving or rejecting sends a request on the bus and waits for the queue's answer."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from actors import atomic, lifecycle
from bus import client
from homelab import data_root
from homelab.user_input import InputError

ORDER = {"pending": 0, "approved": 1, "running": 2}
ANSWER_TIMEOUT = 15.0
ID_PATTERN = re.compile(r"a-[0-9a-f]{16}")  # what actors.plan.action_id makes


class ActionError(Exception):
    pass


def check_id(action_id: str) -> str:
    """An action id as the planner makes them, checked before it names any file."""
    if not ID_PATTERN.fullmatch(action_id):
        raise InputError(
            f"{action_id[:80]!r} is not an action id (like a-1c9e0f3b5d7a2e4c; "
            "see: homelab actions list)"
        )
    return action_id


def records(root: Path) -> list[dict[str, Any]]:
    data_root.require(root)
    found = [atomic.read_json_object(p) for p in sorted((root / "actions").glob("*.json"))]
    found = [r for r in found if r.get("id")]
    return sorted(found, key=lambda r: (ORDER.get(r["state"], 9), -_created(r)))


def load(root: Path, action_id: str) -> dict[str, Any]:
    check_id(action_id)
    data_root.require(root)
    record = atomic.read_json_object(root / "actions" / f"{action_id}.json")
    if record.get("id") != action_id:
        raise ActionError(f"no action {action_id!r} (see: homelab actions list)")
    return record


def show_list(root: Path, as_json: bool, console: Console | None = None) -> None:
    found = records(root)
    if as_json:
        print(json.dumps(found, indent=2))  # one JSON document: an array of actions
        return
    console = console or Console(highlight=False, soft_wrap=True)
    if not found:
        console.print("no actions")
    for r in found:
        line = Text(f"{r['id']}  ")
        line.append(f"{r['state']:<11}", style="yellow" if r["state"] == "pending" else "")
        line.append(f" {r['type']:<8} {r.get('service') or '':<16} {r.get('reason', '')}")
        console.print(line)


def show_one(root: Path, action_id: str, as_json: bool) -> None:
    record = load(root, action_id)
    log = root / "logs" / "actions" / f"{action_id}.log"
    if as_json:
        print(json.dumps(record, indent=2))
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
        "approved_by",
        "hash",
    ):
        console.print(Text(f"{key + ':':<13}{record.get(key)}"))
    for argv in record["commands"]:
        console.print(Text(f"{'runs:':<13}{' '.join(argv)}"))
    for event in record["history"]:
        when = dt.datetime.fromtimestamp(event["at"]).strftime("%Y-%m-%d %H:%M:%S")
        console.print(Text(f"  {when}  {event['kind']:<10} {event['by']}  {event['reason']}"))
    if log.exists():
        console.print(Text(f"output ({log}):", style="bold"))
        console.print(Text(log.read_text(errors="replace")[-4000:]))


def decide(root: Path, endpoint: str, action_id: str, kind: str, by: str, reason: str) -> str:
    """Send an approve/reject request and wait for the queue's answer: a line for people."""
    record = load(root, action_id)
    if record["state"] != "pending":
        who = f" by {record['approved_by']}" if record.get("approved_by") else ""
        raise ActionError(f"{action_id} is already {record['state']}{who}; nothing done")
    expected = record["hash"]
    if expected != lifecycle.run_hash(
        record["type"], record["target"], record["commands"], record["revision"]
    ):
        raise ActionError(f"{action_id}: its file does not match its own hash; not sent")
    payload = {"id": action_id, "by": by, "hash": expected, "reason": reason}
    with client.Publisher(endpoint, f"cli:{by}") as publisher:
        request = publisher.publish(f"action.request.{kind}", payload)
    answer = _answer(endpoint, request, action_id, kind)
    if answer.topic == "action.refused":
        raise ActionError(answer.payload.get("reason", "refused"))
    return f"{action_id} {'approved' if kind == 'approve' else 'rejected'} by {by}"


def _answer(endpoint: str, request: int, action_id: str, kind: str):
    done = "action.approved" if kind == "approve" else "action.rejected"
    deadline = time.monotonic() + ANSWER_TIMEOUT
    with client.Subscriber(endpoint, "action.", since=request + 1) as subscriber:
        while time.monotonic() < deadline:
            message = subscriber.get(timeout=0.5)
            if message is None:
                continue
            if message.topic == done and message.payload.get("id") == action_id:
                return message
            if message.topic == "action.refused" and message.payload.get("request") == request:
                return message
    raise ActionError(
        f"no answer from the action queue within {ANSWER_TIMEOUT:g} s "
        "(is `homelab supervisor` running?)"
    )


def _created(record: dict[str, Any]) -> float:
    history = record.get("history") or [{}]
    return float(history[0].get("at") or 0)
