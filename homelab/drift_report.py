"""``homelab drift``: the supervisor's diff and plan, computed here from the files.

The world is the freshest the observer left: its checkpoint (saved every few seconds) or the
``world/`` files (written every second), whichever is further along the log. A declared
service the world has no evidence about is listed as not observed, never counted as clean.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from actors import atomic, inventory_files, observer, plan, supervisor, world
from homelab import data_root


class NoWorld(Exception):
    pass


def build(root: Path, repo: Path) -> dict[str, Any]:
    data_root.require(root)
    desired, problems = supervisor.load_desired(repo)
    if desired is None:
        raise inventory_files.InventoryError(problems)
    state = freshest_world(root)
    if state is None:
        raise NoWorld(
            f"no world yet under {root}: the observer has written neither world/ nor "
            f"{observer.CHECKPOINT} (is `homelab observer` running?)"
        )
    saved = atomic.read_json_object(root / supervisor.STATE_FILE)
    failures = {k: plan.Failures(*v) for k, v in saved.get("failures", {}).items()}
    epoch = saved.get("epoch", 0) if saved.get("revision") == desired.revision.id else -1
    result = supervisor.report(desired, *supervisor.evaluate(desired, state, failures, epoch))
    result["world_seq"] = state.seq
    result["unobserved"] = unobserved(desired.inventory, state)
    return result


def freshest_world(root: Path) -> world.World | None:
    """The checkpoint's world or the one in ``world/``, the later in the log; None if the
    observer has written neither."""
    checkpoint = observer.load_checkpoint(root / observer.CHECKPOINT)
    found = [w for w in (checkpoint[0] if checkpoint else None, _from_files(root)) if w]
    return max(found, key=lambda w: w.seq, default=None)


def _from_files(root: Path) -> world.World | None:
    folder = root / "world"
    summary = atomic.read_json_object(folder / "summary.json")
    if not summary:
        return None
    try:
        return world.from_dict(
            {
                "seq": summary.get("seq"),
                "time": summary.get("time"),
                "rejected": summary.get("rejected"),
                "last_rejected": "",
                "nodes": atomic.read_json_object(folder / "nodes.json"),
                "services": atomic.read_json_object(folder / "services.json"),
            }
        )
    except ValueError:  # torn between files or from another version: the checkpoint decides
        return None


def unobserved(inventory, state: world.World) -> list[dict[str, str]]:
    """The declared services the drift cannot judge: never observed, or their node is
    silent. ``drift.diff`` skips them; here they are named."""
    found = []
    for name, service in sorted(inventory.services.items()):
        observed, node = state.services.get(name), state.nodes.get(service.node)
        if observed is None or not observed.checks:
            why = world.NO_OBSERVATION
        elif node is None or node.health == "unknown":
            why = f"node {service.node}: {node.reason if node else world.NO_HEARTBEAT}"
        else:
            continue
        found.append({"service": name, "node": service.node, "why": why})
    return found


def exit_code(report: dict[str, Any]) -> int:
    """0 nothing drifts, 1 something does, 2 cannot tell (services not observed yet)."""
    if report["drifted"]:
        return 1
    return 2 if report["unobserved"] else 0


def show(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
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
