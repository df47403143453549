"""Parsing ``SEQ|TIME`` arguments: 42, 2026-11-26T10:00, 2026-11-26, 10m, 2h, 3d.

Whatever is accepted can go on the wire and into ``datetime`` as it is: a sequence number
fits in an unsigned 64-bit integer, a time lies between 1970 and 9999.
"""

from __future__ import annotations

import datetime as dt
import re

from bus import errors

_SEQ = re.compile(r"^[0-9]+$")  # ASCII digits only: str.isdigit() also takes '²'
_RELATIVE = re.compile(r"^([0-9]{1,12}(?:\.[0-9]{1,6})?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SEQ = 2**64 - 1  # what msgpack, the wire and the log carry
FIRST_TIME = 0.0  # 1970-01-01T00:00Z: the broker stamps nothing earlier
LAST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z: the last time datetime can show
MAX_CHARS = 64  # no SEQ or TIME is longer
RANGE = "a time between 1970 and 9999"
EXAMPLES = "e.g. 42, 2026-11-26T10:00, 2026-11-26, 10m, 2h, 3d"


class TimeSpecError(errors.HomelabError, ValueError):
    pass


def parse(text: str, now: float) -> tuple[str, float]:
    """('seq', n) or ('time', epoch seconds). Naive times are local time, like journalctl."""
    text = text.strip()
    if len(text) > MAX_CHARS:
        raise TimeSpecError(f"{text[:20]!r}... is too long for a sequence number or a time")
    if _SEQ.match(text):
        seq = int(text)
        if seq > MAX_SEQ:
            raise TimeSpecError(f"sequence number {text} is out of range (at most {MAX_SEQ})")
        return "seq", seq
    relative = _RELATIVE.match(text)
    if relative:
        return "time", _in_range(now - float(relative.group(1)) * _UNITS[relative.group(2)], text)
    return "time", _in_range(_absolute(text), text)


def _absolute(text: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TimeSpecError(
            f"{text!r} is neither a sequence number nor a time ({EXAMPLES})"
        ) from None
    try:
        if when.tzinfo is None:
            when = when.astimezone()  # local time
        return when.timestamp()
    except (ValueError, OverflowError, OSError):  # a date the platform cannot convert
        raise TimeSpecError(f"{text!r} is out of range ({RANGE})") from None


def _in_range(epoch: float, text: str) -> float:
    if not FIRST_TIME <= epoch <= LAST_TIME:
        raise TimeSpecError(f"{text!r} is out of range ({RANGE})")
    return epoch
