"""How the pages put things into words: times (absolute and "3 min ago"), durations, one
bus record in full, the last failures, the rate chart's points. Pure (no NiceGUI), so it is
tested without a browser or a socket."""

from __future__ import annotations

import collections
import datetime as dt
import json
from typing import Any

from actors.domain import states, topics
from actors.readmodel import publishers, timespec
from actors.readmodel.models import ActionView
from bus.envelope import Message

LINE_MAX = 400  # characters of one line of the Events page
RATE_POINTS = 120  # bus.stats ticks kept on the dashboard's chart


def words(name: str) -> str:
    """A name of the code as people read it: "unexpected_running" -> "unexpected running"."""
    return str(name).replace("_", " ")


def alarm(entry: dict) -> str:
    """One of the broker's alarms (``bus.alarm``) in a line: its reason, and since when."""
    reason = str(entry.get("reason") or entry.get("alarm") or "alarm")
    since = entry.get("since")
    return f"{reason} (since {absolute(since)})" if isinstance(since, int | float) else reason


def clock_step(step) -> str:
    """The last step of the broker's wall clock (``bus.clock``) in a line, "" for none."""
    if not isinstance(step, dict) or not step.get("report"):
        return ""
    when = step.get("time")
    at = f" (at {absolute(when)})" if isinstance(when, int | float) and when else ""
    return f"clock: {step['report']}{at}"


def limited_clients(clients) -> str:
    """The clients the broker holds to their publish limit, as "source (client): N deferred"."""
    held = [c for c in clients or [] if isinstance(c, dict) and c.get("limited")]
    return "; ".join(
        f"held to its limit: {c.get('source') or '?'} ({c.get('client')}), "
        f"{c.get('deferred', 0)} deferred"
        for c in held
    )


def drift_item(item: str) -> str:
    """A summary's drift line, "SERVICE: KIND", in words."""
    service, colon, kind = item.rpartition(": ")
    return f"{service}{colon}{words(kind)}"


def compared(rows: list) -> list[tuple[str, str, str, bool]]:
    """The Drift page's desired | actual rows with whether each matches: the row's own flag
    where the read model gives one (a ``matches`` field or a fourth item), else judged from
    the text (a check that wants "ok" matches "ok: 200 OK")."""
    found = []
    for row in rows:
        if isinstance(row, dict):
            aspect, want, have = row["aspect"], row["desired"], row["actual"]
            flag = row.get("matches")
        elif hasattr(row, "matches"):
            aspect, want, have, flag = row.aspect, row.desired, row.actual, row.matches
        else:
            aspect, want, have, *rest = row
            flag = rest[0] if rest else None
        same = flag if isinstance(flag, bool) else looks_same(str(want), str(have))
        found.append((str(aspect), str(want), str(have), same))
    return found


def looks_same(want: str, have: str) -> bool:
    """ "ok" and "ok: 200 OK", "running" and "running (active)", "stopped" and "not running"."""
    if want == "stopped":
        want = "not running"
    return have == want or have.startswith((f"{want}:", f"{want} ("))


def absolute(epoch: float | None) -> str:
    """Local time to the second; "" for no time."""
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else ""


def relative(epoch: float | None, now: float) -> str:
    """ "just now", "42 s ago", "3 min ago", "2 h ago", "4 d ago" ("in 5 s" for a clock
    ahead of ours); "" for no time."""
    if not epoch:
        return ""
    delta = now - epoch
    ahead, delta = delta < 0, abs(delta)
    if delta < 1:
        return "just now"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if delta >= seconds:
            amount = f"{int(delta // seconds)} {unit}"
            return f"in {amount}" if ahead else f"{amount} ago"
    return "just now"  # unreachable: delta >= 1 here


def since(epoch: float | None, now: float) -> str:
    """Both: "3 min ago (2026-11-28 09:30:00)"."""
    return f"{relative(epoch, now)} ({absolute(epoch)})" if epoch else ""


def duration(seconds: Any) -> str:
    """ "0.4 s", "12.0 s", "3 min 5 s", "1 h 2 min"; "" when the action did not run."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def pretty(payload: Any) -> str:
    """A payload as indented JSON text (what it holds, never interpreted)."""
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=repr)


def tap_line(message: Message, dated: bool = False) -> str:
    """One message on one line: local time (``dated``: with the day), seq, topic, who sent it
    (said when it is not the topic's owner) and the payload as compact JSON, at most
    ``LINE_MAX`` characters."""
    when = dt.datetime.fromtimestamp(message.time)
    who = message.source
    if not publishers.may_publish(message.source, message.topic):
        who += ", not its owner"
    payload = json.dumps(message.payload, separators=(",", ":"), ensure_ascii=False, default=repr)
    text = (
        f"{when.strftime('%Y-%m-%d %H:%M:%S' if dated else '%H:%M:%S')} {message.seq:>8} "
        f"{message.topic} [{who}] {payload}"
    )
    return text if len(text) <= LINE_MAX else text[: LINE_MAX - 1] + "…"


def record_fields(message: Message) -> list[tuple[str, str]]:
    """One record in full, field by field, for the Events page."""
    return [
        ("seq", str(message.seq)),
        ("topic", message.topic),
        ("source", message.source),
        ("id", message.id),
        ("time", f"{absolute(message.time)} ({message.time:.6f})"),
    ]


def parse_time(text: str, now: float) -> float:
    """A time typed or picked on the Events page, as ``homelab replay --from`` takes it:
    "2026-11-28T09:30" (local time, as a datetime-local input gives it), with a zone, or
    relative like "10m", "2h", "3d", "30s". ValueError with a line for the operator otherwise."""
    try:
        kind, value = timespec.parse(text, now)
    except timespec.TimeSpecError:
        kind = "neither"
    if kind != "time":
        raise ValueError(
            f"{text.strip()[:40]!r} is not a time (e.g. 2026-11-28T09:30, or 10m, 2h, 3d)"
        )
    return value


def failures(history: list[ActionView], count: int = 5) -> list[dict[str, str]]:
    """The last ``count`` actions that failed, timed out or were interrupted (``history``
    is newest first, as ``queue.read`` gives it)."""
    found = []
    for a in history:
        if a.state in states.FAILURES:
            service = (a.model_extra or {}).get("service") or a.target
            ended = next((e.at for e in reversed(a.history)), None)
            found.append(
                {
                    "id": a.id,
                    "title": f"{words(a.state)}: {words(a.type)} {service}",
                    "detail": str(a.result.get("detail") or a.result.get("reason") or ""),
                    "at": absolute(ended),
                }
            )
        if len(found) == count:
            break
    return found


class RateSeries:
    """The dashboard chart's points: (time label, messages/s), the last ``RATE_POINTS``."""

    def __init__(self, size: int = RATE_POINTS):
        self.points: collections.deque[tuple[str, float]] = collections.deque(maxlen=size)

    def add(self, message: Message) -> bool:
        """Take a ``bus.stats`` tick; False (nothing added) for anything else."""
        if message.topic != topics.BUS_STATS:
            return False
        rate = message.payload.get("rate")
        if not isinstance(rate, int | float) or isinstance(rate, bool):
            return False
        label = dt.datetime.fromtimestamp(message.time).strftime("%H:%M:%S")
        self.points.append((label, round(float(rate), 2)))
        return True

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.points]

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points]
