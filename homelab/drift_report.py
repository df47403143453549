"""``homelab drift``: the supervisor's diff and plan, computed here from the files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from actors import atomic, desired_state, observer, supervisor
from actors.domain import evaluation, inventory_files, plan, world


def build(root: Path, repo: Path) -> dict[str, Any]:
    desired, problems = desired_state.load(repo)
    if desired is None:
        raise inventory_files.InventoryError(problems)
    checkpoint = observer.load_checkpoint(root / observer.CHECKPOINT)
    state = checkpoint[0] if checkpoint else world.World()
    saved = atomic.read_json_object(root / supervisor.STATE_FILE)
    failures = {k: plan.Failures(*v) for k, v in saved.get("failures", {}).items()}
    epoch = saved.get("epoch", 0) if saved.get("revision") == desired.revision.id else -1
    rev = desired.revision.id
    result = evaluation.report(
        rev, *evaluation.evaluate(desired.inventory, rev, state, failures, epoch)
    )
    result["world_seq"] = state.seq
    return result


def show(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    if not report["drifts"]:
        console.print(
            f"no drift (revision {report['revision']}, world at seq {report['world_seq']})"
        )
        return
    console.print(
        Text(f"{report['drifted']} drifted (revision {report['revision']}):", style="bold")
    )
    fixes = {r["drift"]["key"]: r for r in report["recommended"]}
    held = {h["drift"]: h["why"] for h in report["held"]}
    for d in report["drifts"]:
        since = (
            dt.datetime.fromtimestamp(d["since"]).strftime("%Y-%m-%d %H:%M:%S")
            if d["since"]
            else "?"
        )
        line = Text(f"  {d['service']:<20} ")
        line.append(f"{d['kind']:<18}", style="yellow" if d["managed"] else "dim")
        line.append(f" since {since}  {d['detail']}")
        console.print(line)
        if d["key"] in fixes:
            fix = fixes[d["key"]]
            commands = " && ".join(" ".join(argv) for argv in fix["commands"])
            console.print(  # Text, not markup: ids and argv contain brackets
                Text(
                    f"      fix: {fix['type']} ({fix['approval']}"
                    f"{', escalated' if fix['escalated'] else ''}) [{fix['id']}]: {commands}"
                )
            )
        elif d["key"] in held:
            console.print(Text(f"      no fix: {held[d['key']]}", style="dim"))
