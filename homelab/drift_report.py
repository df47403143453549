"""``homelab drift``, rendered: the report itself is the read model's
(``actors.readmodel.drift``), the same one the UI's Drift page shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console
from rich.text import Text

from actors.domain import drift as drifts
from actors.domain import drivers
from actors.readmodel.models import DriftReport


def show(drift: DriftReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    report = drift.model_dump(mode="json")
    where = f"revision {report['revision']}, world at seq {report['world_seq']}"
    if not report["drifts"] and not report["unobserved"]:
        console.print(f"no drift ({where})")
        return
    if report["drifts"]:
        _show_drifts(report, console)
    if report["unobserved"]:
        _show_unobserved(report, where, console)


def _show_unobserved(report: dict[str, Any], where: str, console: Console) -> None:
    count = len(report["unobserved"])
    head = "cannot tell whether it drifts" if not report["drifts"] else "not judged"
    console.print(Text(f"{count} service(s) not observed yet, {head} ({where}):", style="bold"))
    for entry in report["unobserved"]:
        console.print(Text(f"  {entry['service']:<20} {entry['why']}", style="dim"))


def _show_drifts(report: dict[str, Any], console: Console) -> None:
    console.print(
        Text(f"{report['drifted']} drifted (revision {report['revision']}):", style="bold")
    )
    fixes = {r["drift"]["key"]: r for r in report["recommended"]}
    held = {h["drift"]: h for h in report["held"]}
    for d in report["drifts"]:
        since = (
            dt.datetime.fromtimestamp(d["since"]).strftime("%Y-%m-%d %H:%M:%S")
            if d["since"]
            else "?"
        )
        line = Text(f"  {d['service']:<20} ")
        line.append(f"{drifts.words(d['kind']):<18}", style="yellow" if d["managed"] else "dim")
        line.append(f" since {since}  {d['detail']}")
        console.print(line)
        if d["key"] in fixes:
            fix = fixes[d["key"]]
            commands = drivers.command_text(fix["commands"])
            console.print(  # Text, not markup: ids and argv contain brackets
                Text(
                    f"      fix: {fix['type']} ({fix['approval']}"
                    f"{', escalated' if fix['escalated'] else ''}) [{fix['id']}]: {commands}"
                )
            )
            if fix.get("previous"):  # the fix before it ended without mending the drift
                console.print(Text(f"      after: {fix['previous']}", style="dim"))
        elif d["key"] in held:
            why, gave_up = held[d["key"]]["why"], held[d["key"]].get("gave_up")
            console.print(Text(f"      no fix: {why}", style="bold red" if gave_up else "dim"))
