"""How messages look on a terminal (aligned, coloured) and as JSON lines (one object per
message, for ``tap --json`` and ``replay --json``)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from typing import Any

from rich.console import Console
from rich.text import Text

from actors.domain import drift as drifts
from actors.domain import states
from actors.readmodel import disk as usage
from actors.readmodel.models import DiskUse
from bus.envelope import Message

_TOPIC_STYLES = {
    "bus": "dim",
    "obs": "cyan",
    "world": "green",
    "desired": "blue",
    "drift": "yellow",
    "action": "magenta",
}
SUMMARY_CHARS = 120
# control characters (C0, DEL, C1) as escapes: a publisher's text must not drive the terminal
_VISIBLE = {c: repr(chr(c))[1:-1] for c in (*range(0x20), *range(0x7F, 0xA0))}


def iso_time(epoch: float) -> str:
    return (
        dt.datetime.fromtimestamp(epoch, dt.UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def json_line(message: Message) -> str:
    record = message.to_json_dict()
    record["time"] = iso_time(message.time)
    return _dumps(record, ensure_ascii=False)


def _dumps(value: Any, ensure_ascii: bool = True) -> str:
    """Strict JSON. Bin keys, NaN and infinities only come from records stored before the
    broker enforced the payload rule (docs/protocol.md): keys decoded, numbers as null."""
    try:
        return json.dumps(
            value,
            default=_json_default,
            ensure_ascii=ensure_ascii,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError):
        return json.dumps(
            _legacy(value), default=_json_default, ensure_ascii=ensure_ascii, separators=(",", ":")
        )


def _legacy(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k.decode("utf-8", "backslashreplace") if isinstance(k, bytes) else k: _legacy(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_legacy(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return str(value)


def summary(payload: dict[str, Any], limit: int = SUMMARY_CHARS) -> str:
    """``key=value`` pairs, one line, cut to ``limit`` characters."""
    parts = []
    for key, value in payload.items():
        shown = value if isinstance(value, int | float | bool) or value is None else value
        if isinstance(shown, dict | list):
            shown = _dumps(shown)
        parts.append(f"{key}={shown}")
    text = " ".join(parts).translate(_VISIBLE)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty_line(message: Message, topic_width: int = 32) -> Text:
    local = dt.datetime.fromtimestamp(message.time).strftime("%H:%M:%S.%f")[:-3]
    style = _TOPIC_STYLES.get(message.topic.split(".", 1)[0], "white")
    line = Text()
    line.append(f"{message.seq:>8} ", style="bold")
    line.append(f"{local} ", style="dim")
    line.append(f"{message.topic:<{topic_width}} ", style=style)
    line.append(f"{speaker(message).translate(_VISIBLE):<14} ", style="dim")
    line.append(summary(message.payload))
    return line


def speaker(message: Message) -> str:
    """Its source, and who sent it (the broker's proof) where the source alone would
    mislead: ``emit [tool:cli]``, not ``agent:web1 [agent:web1]`` nor ``observer
    [service:observer]``; a record stored before identities shows its source alone."""
    who = message.identity
    if who is None or who == message.source or who.endswith(":" + message.source):
        return message.source
    return f"{message.source} [{who}]"


class Printer:
    """Prints messages pretty (for people) or as JSON lines (for programs)."""

    def __init__(self, as_json: bool, console: Console | None = None):
        self.as_json = as_json
        self.console = console or Console(highlight=False, soft_wrap=True)

    def __call__(self, message: Message) -> None:
        if self.as_json:
            self.console.file.write(json_line(message) + "\n")
        else:
            self.console.print(pretty_line(message))

    def flush(self) -> None:
        self.console.file.flush()


_HEALTH_STYLES = {
    states.HEALTHY: "green",
    states.DEGRADED: "yellow",
    states.DOWN: "red",
    states.UNKNOWN: "dim",
}


def status(report: dict[str, Any], console: Console | None = None) -> None:
    """``homelab status``: nodes, services and the bus, one line each."""
    console = console or Console(highlight=False, soft_wrap=True)
    if not report.get("observed", True):
        console.print(
            Text(
                "world: none yet: the observer has not written world/ "
                "(is `homelab observer` running?)",
                style="red",
            )
        )
    for title, entries in (("nodes", report["nodes"]), ("services", report["services"])):
        counts = report["counts"][title]
        shown = ", ".join(f"{n} {h}" for h, n in counts.items() if n) or "none observed yet"
        console.print(Text(f"{title}: {shown}", style="bold"))
        for name, entry in entries.items():
            line = Text(f"  {name:<24} ")
            line.append(f"{entry['health']:<9}", style=_HEALTH_STYLES.get(entry["health"], ""))
            if entry.get("node"):
                line.append(f" on {entry['node']:<12}", style="dim")
            line.append(f" {entry.get('reason') or ''}")
            if entry.get("desired") not in (None, "running"):
                line.append(f" [{entry['desired']} (desired)]", style="blue")
            console.print(line)
    desired, drift = report.get("desired") or {}, report.get("drift") or {}
    if desired.get("problems"):
        console.print(
            Text(
                f"inventory: {len(desired['problems'])} problem(s), keeping revision "
                f"{desired.get('revision')}",
                style="red",
            )
        )
        for problem in desired["problems"]:
            console.print(f"  {problem['file']}:{problem['line']}: {problem['message']}")
    elif desired.get("revision"):
        console.print(f"desired state: revision {desired['revision']}")
    if drift.get("count"):
        console.print(
            Text(
                f"drift: {drift['count']} ({', '.join(map(_drift_item, drift['items']))}); "
                f"{drift['recommended']} fix(es) recommended",
                style="yellow",
            )
        )
        for line in drift.get("gave_up") or []:  # the supervisor stopped trying
            console.print(Text(f"  gave up: {line}", style="red"))
    elif desired.get("revision"):
        unknown = [n for n, e in report["services"].items() if e["health"] == states.UNKNOWN]
        if not report["services"] or unknown:  # the supervisor saw nothing there to judge
            what = f"{len(unknown)} service(s) not observed" if unknown else "no service observed"
            console.print(Text(f"drift: none seen yet ({what})", style="yellow"))
        else:
            console.print("drift: none")
    _bus_line(report["bus"], console)
    if report.get("disk"):
        _disk_lines(report["disk"], console)


def _drift_item(item: str) -> str:
    """``web: unexpected_running`` as ``web: unexpected running``."""
    service, colon, kind = item.rpartition(": ")
    return f"{service}{colon}{drifts.words(kind)}"


def _disk_lines(disk: dict[str, Any], console: Console) -> None:
    """The data root on disk, the history the log keeps, and the file system's room."""
    found = DiskUse.model_validate(disk)
    text, level = usage.line(found)
    console.print(Text(f"disk: {text}", style={"critical": "red", "low": "yellow"}.get(level, "")))
    if found.history is not None and found.history.held_by:
        console.print(
            Text(f"  history over its limit but kept: {found.history.held_by}", style="red")
        )


def _bus_line(bus: dict[str, Any], console: Console) -> None:
    if not bus["reachable"]:
        console.print(Text(f"bus {bus['endpoint']}: not reachable: {bus['error']}", style="red"))
        return
    deferred = f", {bus['deferred']} deferred" if bus.get("deferred") else ""
    console.print(
        f"bus {bus['endpoint']}: seq {bus['seq']}, {bus['rate']} msg/s, "
        f"{bus['subscribers']} subscriber(s), {bus['rejected']} rejected{deferred}"
    )
    for alarm in bus.get("alarms") or []:  # a broker before alarms sends none
        console.print(Text(f"  alarm: {alarm['reason']}", style="red"))
    step = bus.get("clock_step")  # the last step of the broker's wall clock (bus.clock)
    if step:
        when = dt.datetime.fromtimestamp(step["time"]).strftime("%Y-%m-%d %H:%M:%S")
        console.print(Text(f"  clock: {step['report']} (at {when})", style="yellow"))
    for client in bus.get("clients") or []:
        if client.get("limited"):
            who = (
                f"{client['client']} ({client['source']})" if client["source"] else client["client"]
            )
            console.print(
                Text(f"  limited: {who}, {client['deferred']} message(s) deferred", style="yellow")
            )
