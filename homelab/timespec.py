"""Parsing ``SEQ|TIME`` arguments: 42, 2026-11-26T10:00, 2026-11-26, 10m, 2h, 3d."""

from __future__ import annotations

import datetime as dt
import re

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TimeSpecError(ValueError):
    pass


def parse(text: str, now: float) -> tuple[str, float]:
    """('seq', n) or ('time', epoch seconds). Naive times are local time, like journalctl."""
    text = text.strip()
    if text.isdigit():
        return "seq", int(text)
    relative = _RELATIVE.match(text)
    if relative:
        return "time", now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise TimeSpecError(
            f"{text!r} is neither a sequence number nor a time "
            "(e.g. 42, 2026-11-26T10:00, 2026-11-26, 10m, 2h, 3d)"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time
    return "time", when.timestamp()
