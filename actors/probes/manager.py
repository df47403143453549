"""Asking a service manager's CLI (docker, systemctl) for JSON, and what its failures mean.

A missing CLI, a hang, a non-zero exit or unreadable output each become a Result that says
so; the pure helpers ``load_json`` and ``as_text`` are what the parsers read that JSON with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from actors import process_group
from actors.probes.child_process import OUTPUT_CAP, CliResult, run_cli
from actors.probes.result import Facts, Result, reason


async def ask(
    argv: Sequence[str],
    label: str,
    timeout: float,
    parse: Callable[[str], Facts],
    *,
    missing: re.Pattern[str] | None = None,
) -> Facts | Result:
    """The facts ``parse`` reads from what ``argv`` printed, or a Result saying why there are
    none. A non-zero exit whose stderr matches ``missing`` is the fact state 'missing'."""
    try:
        result = await run_cli(argv, timeout=timeout)
    except FileNotFoundError:
        return Result("error", f"{argv[0]}: not installed")
    except OSError as exc:
        return Result("error", f"{argv[0]}: {reason(exc)}")
    if result.timed_out:
        return Result("timeout", f"{label}: no answer within {timeout:g} s")
    if result.returncode != 0:
        if missing is not None and missing.search(result.err):
            return {"state": "missing"}
        return _exited(label, result)
    try:
        return parse(result.out)
    except ValueError as exc:
        return _unreadable(label, result, exc)


def safe_arg(value: str) -> str:
    """Names come validated from the inventory; this is the last line of defence."""
    if not value or value.startswith("-") or "\x00" in value:
        raise ValueError(f"refusing {value!r} as a command-line argument")
    return value


def _exited(label: str, result: CliResult) -> Result:
    said = process_group.first_line(result.err) or process_group.first_line(result.out)
    return Result("error", f"{label} exited {result.returncode}" + (f": {said}" * bool(said)))


def _unreadable(label: str, result: CliResult, exc: Exception) -> Result:
    if result.truncated:
        return Result("error", f"{label}: output larger than {OUTPUT_CAP // 1024} KiB")
    return Result("error", f"{label}: unreadable output ({exc})")


# -- reading the JSON (pure) ---------------------------------------------------------------------


def load_json(text: str) -> Any:
    """The JSON value of ``text``; ValueError saying where, if it is not JSON."""
    if len(text) > OUTPUT_CAP:
        raise ValueError(f"more than {OUTPUT_CAP // 1024} KiB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc


def as_text(value: Any) -> str | None:
    """A JSON field as text; None for null or ''."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
