"""Retention: the oldest sealed segments are deleted once they are too old or the log too big.

    policy = Policy(days=30, bytes=4 << 30)
    done = apply(log, policy, holds_dir)       # the broker's housekeeping, from its tick

Rules (docs/log-format.md, "Retention"):

- Only whole sealed segments go, oldest first, so the log stays one gapless run of seqs
  from ``first_seq`` to ``last_seq``. The newest segment (the one being written) never goes.
- By age: a segment goes once every record in it is more than ``days`` old, counted from the
  newest record's time (the broker's clock as stamped, not this machine's now). A day
  folder ``D`` holds records of UTC day ``D`` only, so that is ``D + 1 day <= newest - days``.
- By size: while the segments take more than ``bytes`` on disk, the oldest goes (a plain
  segment waiting to be compressed counts at the ratio compression achieves).
- Never the last ``keep_records`` records: the broker reads them back at start to know
  which messages it stored (``sequencer.DEDUP_WINDOW``).
- Never a record a *hold* still needs: a consumer that rebuilds from its own snapshot plus
  the log after it (the observer's world snapshots, the supervisor's action files) writes
  ``<holds>/<name>.json`` ``{"seq": S}``: "I need the log from seq S on". A segment with a
  record at or after the lowest hold stays, whatever the policy says (``Done.held``).

Deleting is crash-safe: one segment at a time, oldest first, each unlinked and its folder
fsynced before the next, so a kill -9 at any moment leaves the log a gapless suffix of what
it was; a reader that had a deleted segment open reads on (the kernel keeps the file while it
is open), one that comes too late gets ``Trimmed``. Every deletion is logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bus import envelope, segments
from bus.filelog import FileLog, Segment
from bus.sequencer import DEDUP_WINDOW

DAY = 86400.0
DAYS = 30.0  # HOMELAB_RETENTION_DAYS
BYTES = 4 * 1024**3  # HOMELAB_RETENTION_BYTES: 4 GiB
AT_ONCE = 64  # segments deleted per call at most: the broker's loop is never held long
log = logging.getLogger("homelab.bus.history")


@dataclasses.dataclass(frozen=True)
class Policy:
    days: float = DAYS  # 0: no limit by age
    bytes: int = BYTES  # 0: no limit by size
    keep_records: int = DEDUP_WINDOW

    def describe(self) -> str:
        """``30 days or 4.0 GiB``: what is kept, whichever is less."""
        parts = [f"{self.days:g} days" if self.days else "", size_text(self.bytes)]
        return " or ".join(p for p in parts[: 1 + bool(self.bytes)] if p) or "everything"


@dataclasses.dataclass(frozen=True)
class Deleted:
    path: Path
    first_seq: int
    last_seq: int
    bytes: int
    why: str


@dataclasses.dataclass(frozen=True)
class Done:
    """What one call did: the segments deleted (oldest first), and what held it back."""

    deleted: tuple[Deleted, ...] = ()
    held: tuple[str, int] | None = None  # (hold name, its seq) when a hold stopped it
    more: bool = False  # stopped at AT_ONCE: call again

    def payload(self, log_: FileLog) -> dict[str, Any]:
        """``bus.log.retention``'s payload: what went, why, and where the log now begins."""
        first, last = self.deleted[0], self.deleted[-1]
        return {
            "from_seq": first.first_seq,
            "to_seq": last.last_seq,
            "segments": len(self.deleted),
            "bytes": sum(d.bytes for d in self.deleted),
            "why": sorted({d.why for d in self.deleted}),
            "first_seq": log_.first_seq,
        }


def apply(
    log_: FileLog,
    policy: Policy,
    holds_dir: Path | None = None,
    *,
    busy: Iterable[Path] = (),
    ratio: float = 1.0,
    at_once: int = AT_ONCE,
) -> Done:
    """Delete the sealed segments the policy lets go (the writer's ``log_`` forgets them).

    ``busy``: segments not to touch now (being compressed); ``ratio``: compressed size over
    plain size, to count a plain segment that waits for compression."""
    holds = read_holds(holds_dir) if holds_dir is not None else {}
    victims, held = choose(log_, policy, holds, set(busy), ratio)
    deleted = []
    for segment, why in victims[:at_once]:
        deleted.append(delete(log_, segment, why))
    return Done(tuple(deleted), held, len(victims) > at_once)


def choose(
    log_: FileLog, policy: Policy, holds: dict[str, int], busy: set[Path], ratio: float
) -> tuple[list[tuple[Segment, str]], tuple[str, int] | None]:
    """The oldest segments the policy lets go, each with why; and the hold that stopped it."""
    chain = log_.segments
    if len(chain) < 2:
        return [], None
    sizes = [_counted(s, ratio) for s in chain]
    total = sum(sizes)
    cutoff = newest_time(log_) - policy.days * DAY if policy.days else -math.inf
    floor = log_.last_seq - policy.keep_records + 1  # keep every record from here on
    hold_name, hold = min(holds.items(), key=lambda item: item[1], default=("", math.inf))
    victims: list[tuple[Segment, str]] = []
    for segment, following, size in zip(chain, chain[1:], sizes, strict=False):
        if policy.days and day_end(segment.day) <= cutoff:
            why = f"older than {policy.days:g} days"
        elif policy.bytes and total > policy.bytes:
            why = f"the log is over {size_text(policy.bytes)}"
        else:
            return victims, None
        last = following.first_seq - 1
        if last >= hold:
            return victims, (hold_name, int(hold))
        if last >= floor or segment.path in busy:
            return victims, None
        victims.append((segment, why))
        total -= size
    return victims, None


def delete(log_: FileLog, segment: Segment, why: str) -> Deleted:
    """Delete the oldest segment: its file (both forms, should a crash have left both),
    then its day folder if that is now empty, each made durable before the next step."""
    assert log_.segments and log_.segments[0] is segment, "only the oldest segment goes"
    following = log_.segments[1]
    size = segments.disk_size(segment.path)
    for path in (segments.plain_path(segment.path), segments.compressed_path(segment.path)):
        path.unlink(missing_ok=True)
    folder = segment.path.parent
    _fsync_dir(folder)
    log_.segments.pop(0)
    try:
        folder.rmdir()  # only when empty: the day's newer segments may still be there
        _fsync_dir(folder.parent)
    except OSError:
        pass
    done = Deleted(segment.path, segment.first_seq, following.first_seq - 1, size, why)
    log.info(
        "retention: deleted %s/%s (seq %d to %d, %s): %s",
        folder.name,
        segment.path.name,
        done.first_seq,
        done.last_seq,
        size_text(size),
        why,
    )
    return done


# -- holds ------------------------------------------------------------------------------------


def hold(holds_dir: Path, name: str, seq: int, why: str = "") -> None:
    """Say that ``name`` needs the log from ``seq`` on (written atomically)."""
    holds_dir.mkdir(parents=True, exist_ok=True)
    path = holds_dir / f"{name}.json"
    data = json.dumps({"seq": int(seq), "why": why}, sort_keys=True).encode() + b"\n"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(holds_dir)


def read_holds(holds_dir: Path) -> dict[str, int]:
    """Every hold by name; a file that is not one is logged and ignored."""
    found = {}
    for path in sorted(holds_dir.glob("*.json")) if holds_dir.is_dir() else ():
        try:
            seq = json.loads(path.read_bytes())["seq"]
            if type(seq) is not int or seq < 0:
                raise ValueError(f"seq {seq!r}")
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("retention: ignoring the hold %s: %s", path, err)
            continue
        found[path.stem] = seq
    return found


# -- helpers ----------------------------------------------------------------------------------


def newest_time(log_: FileLog) -> float:
    """The time of the newest record: retention's clock."""
    if log_.last_seq < log_.first_seq:
        return -math.inf
    for body in log_.read(log_.last_seq - 1):
        return envelope.body_time(body)
    return -math.inf


def day_end(day: str) -> float:
    """When the UTC day ``YYYY-MM-DD`` ends, in seconds since the epoch (infinity for a
    folder that is not a date: never too old)."""
    try:
        start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return math.inf
    return start.timestamp() + DAY


def size_text(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _counted(segment: Segment, ratio: float) -> float:
    size = segments.disk_size(segment.path)
    return size if segment.compressed else size * ratio


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
