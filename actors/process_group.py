"""What every place that runs a child process needs: signal a whole process group, name a
signal or an exit, and pick the line of output worth showing.

Used by the action runner, the probes' CLI calls and ``homelab up``; no other module sends
signals to groups or words an exit code its own way.
"""

from __future__ import annotations

import contextlib
import os
import signal


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    """``sig`` to every process of the group; a group that is gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; ``signal 99`` for a number that names none."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(code: int) -> str:
    """A returncode in words: ``exited with code 3``, ``killed by SIGKILL``."""
    return f"killed by {signal_name(-code)}" if code < 0 else f"exited with code {code}"


def last_line(text: str | bytes, limit: int = 200) -> str:
    """The last non-blank line, stripped and cut to ``limit`` characters; "" if none."""
    return _cut(next(_lines(text, reverse=True), ""), limit)


def first_line(text: str | bytes, limit: int = 200) -> str:
    """The first non-blank line, stripped and cut to ``limit`` characters; "" if none."""
    return _cut(next(_lines(text, reverse=False), ""), limit)


def _lines(text: str | bytes, reverse: bool):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = text.splitlines()
    return (line.strip() for line in (reversed(lines) if reverse else lines) if line.strip())


def _cut(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1] + "…"
