"""Rewriting a file so that a reader (or a crash) sees the old content or the new, never half.

Write to a temporary file in the same folder, fsync it, rename it over the target (atomic on
POSIX within one file system), then fsync the folder so the rename itself survives a power
cut. A process killed mid-write leaves a ``.NAME.*.tmp`` file behind, never a torn target;
``remove_stale_temps`` clears those when the only writer starts again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bus.durable import write_atomic  # the one atomic write, at the bottom layer

__all__ = ["dumps", "read_json_object", "remove_stale_temps", "write_atomic", "write_json"]


def dumps(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, two-space indent, UTF-8 as is, a trailing newline.
    Equal objects give equal bytes (NaN and infinity are refused: they are not JSON)."""
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def write_json(path: Path | str, obj: Any, mode: int = 0o644) -> bytes:
    """``write_atomic`` of ``dumps(obj)``; returns the bytes written."""
    data = dumps(obj)
    write_atomic(path, data, mode)
    return data


def read_json_object(path: Path | str) -> dict[str, Any]:
    """A JSON object from a file, or {} when it is missing, unreadable or not an object:
    for state files whose absence means "nothing yet"."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError):  # nested too deep for json: not ours either
        return {}
    return data if isinstance(data, dict) else {}


def remove_stale_temps(path: Path | str) -> list[Path]:
    """Delete the temporary files a killed writer of ``path`` left; return them.

    Only safe when the caller is the one writer of ``path`` (it holds a lock, or it is the
    only process that writes that file).
    """
    path = Path(path)
    removed = []
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
    return removed
