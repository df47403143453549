"""The data root's disk use: what the event log takes and how much history it keeps, the
rest of the root, and the file system's room, for ``homelab status`` and the dashboard.

    usage(root) -> DiskUse      # a walk of the root's folders and one statvfs

A page that refreshes on every change asks often: the answer is kept ``KEEP`` seconds.

The history's side comes from what the broker last wrote (``state/history.json``: the
policy, where the log begins, compression, a hold that keeps it over its limit); without it
(no broker yet) from the segment files' names.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from actors import atomic
from actors.readmodel.models import DiskUse, History
from bus import segments
from bus.dataroot import DataRoot
from bus.retention import size_text

PARTS = ("events", "actions", "logs", "state", "world", "ui", "inbox")
KEEP = 5.0  # seconds an answer is reused
_kept: dict[Path, tuple[float, DiskUse]] = {}


def usage(root: Path, keep: float = KEEP) -> DiskUse:
    """The data root on disk, as of at most ``keep`` seconds ago."""
    root = Path(root)
    now = time.monotonic()
    kept = _kept.get(root)
    if kept is not None and now - kept[0] < keep:
        return kept[1]
    total, _, free = _room(root)
    found = DiskUse(
        root_bytes=_tree_bytes(root),
        parts={name: _tree_bytes(root / name) for name in PARTS},
        free_bytes=free,
        total_bytes=total,
        history=history(DataRoot(root)),
    )
    _kept[root] = (now, found)
    return found


def line(disk: DiskUse) -> tuple[str, str]:
    """The data root on disk in one line, and how worrying it is: "" (fine), "low" (under
    10 % free) or "critical" (under 5 %). ``homelab status`` and the dashboard both say it."""
    share = disk.free_percent
    kept = ""
    h = disk.history
    if h is not None:
        policy = " or ".join(
            part
            for part in (
                f"{h.days:g} days" if h.days else "",
                size_text(h.bytes) if h.bytes else "",
            )
            if part
        )
        kept = (
            f" (event log {size_text(disk.parts.get('events', 0))}: history from seq "
            f"{h.first_seq} ({h.first_day})"
            + (f", kept {policy}" if policy else "")
            + f", {h.compressed} of {h.segments} segments compressed)"
        )
    level = "critical" if share < 5 else "low" if share < 10 else ""
    text = (
        f"data root {size_text(disk.root_bytes)}{kept}; "
        f"{size_text(disk.free_bytes)} free of {size_text(disk.total_bytes)} ({share:.0f}%)"
    )
    return text, level


def history(data: DataRoot) -> History | None:
    """Where the log begins and what keeps it so (None: no event log yet)."""
    saved = atomic.read_json_object(data.history)
    found = segments.find(data.events) if data.events.is_dir() else []
    if not found:
        return None
    policy = saved.get("policy") or {}
    first_seq, first = found[0]
    held = saved.get("held_by") or None
    return History(
        first_seq=first_seq,
        first_day=first.parent.name,
        segments=len(found),
        compressed=sum(1 for _, path in found if segments.is_compressed(path)),
        days=policy.get("days"),
        bytes=policy.get("bytes"),
        held_by=f"{held['name']} needs the log from seq {held['seq']}" if held else None,
    )


def _tree_bytes(path: Path) -> int:
    """Bytes the files under ``path`` take (what ``du`` counts: allocated blocks)."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += _tree_bytes(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
        except OSError:  # gone meanwhile (a compressed or deleted segment, a temp file)
            continue
    return total


def _room(root: Path) -> tuple[int, int, int]:
    try:
        return tuple(shutil.disk_usage(root))  # type: ignore[return-value]
    except OSError:
        return 0, 0, 0
