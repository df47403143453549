"""World snapshots kept with the retained log: what a rebuild starts from once retention has
deleted the log's beginning (docs/operations.md, "Rebuild the world").

    state/snapshots/world-<seq, 20 digits>-<UTC time>.json    {"seq": N, "world": {...}}

The observer copies its checkpoint here at most once per ``EVERY`` seconds of the world's
clock, and says to retention that it needs the log after its newest snapshot
(``state/holds/observer.json``), so retention never deletes a record no snapshot covers.
It keeps the first snapshot of each UTC day and the newest, and drops those the retained
log no longer continues. Without its checkpoint (the operator deleted it), the observer
rebuilds from the oldest snapshot the retained log continues, plus the log after it: the
same world, byte for byte, as the one built live, because the fold is deterministic and a
saved world loads back exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import NamedTuple

from actors import atomic
from actors.domain.world import World
from actors.domain.world_codec import from_dict, to_dict
from bus import retention

EVERY = 3600.0  # seconds of the world's clock between two snapshots
HOLD = "observer"
_NAME = re.compile(r"^world-(\d{20})-(\d{8}T\d{6}Z)\.json$")
log = logging.getLogger("homelab.observer")


class Snapshot(NamedTuple):
    seq: int
    time: str  # UTC, as in the name: 20261126T093000Z
    path: Path

    @property
    def day(self) -> str:
        return self.time[:8]


def find(folder: Path) -> list[Snapshot]:
    """Every snapshot in ``folder``, oldest first."""
    found = []
    for path in folder.glob("world-*.json") if folder.is_dir() else ():
        match = _NAME.match(path.name)
        if match:
            found.append(Snapshot(int(match.group(1)), match.group(2), path))
    return sorted(found)


def due(folder: Path, world: World) -> bool:
    """Whether the world has moved ``EVERY`` seconds past the newest snapshot (or there is
    none)."""
    newest = find(folder)[-1:]
    if not newest:
        return world.seq > 0
    return world.seq > newest[0].seq and world.time - _epoch(newest[0].time) >= EVERY


def save(folder: Path, world: World, holds: Path) -> Snapshot:
    """Write ``world`` as a snapshot, then hold retention at it."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(world.time)
    path = folder / f"world-{world.seq:020d}-{stamp}.json"
    atomic.write_json(path, {"seq": world.seq, "world": to_dict(world)})
    retention.hold(holds, HOLD, world.seq + 1, f"the world snapshot at seq {world.seq}")
    return Snapshot(world.seq, stamp, path)


def keep_hold(folder: Path, holds: Path) -> None:
    """Hold retention at the newest snapshot (again: the hold may have been deleted)."""
    newest = find(folder)[-1:]
    if newest:
        seq = newest[0].seq
        retention.hold(holds, HOLD, seq + 1, f"the world snapshot at seq {seq}")


def prune(folder: Path, first_seq: int) -> None:
    """Drop the snapshots the log no longer continues (a gap would follow them), and all but
    the first of each UTC day; the newest stays."""
    found = find(folder)
    days: set[str] = set()
    for snapshot in found[:-1]:
        if snapshot.seq < first_seq - 1 or snapshot.day in days:
            snapshot.path.unlink(missing_ok=True)
        days.add(snapshot.day)


def oldest_usable(folder: Path, first_seq: int, last_seq: int) -> World | None:
    """The world of the oldest snapshot the retained log (``first_seq`` to ``last_seq``)
    continues without a gap, or None. An unreadable one is logged and skipped."""
    for snapshot in find(folder):
        if not first_seq - 1 <= snapshot.seq <= last_seq:
            continue
        try:
            data = json.loads(snapshot.path.read_bytes())
            world = from_dict(data["world"])
            if world.seq != snapshot.seq or data["seq"] != snapshot.seq:
                raise ValueError(f"holds seq {world.seq}, not {snapshot.seq}")
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("world snapshot %s is unusable (%s): skipped", snapshot.path, err)
            continue
        return world
    return None


def _stamp(time: float) -> str:
    try:
        return dt.datetime.fromtimestamp(time, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    except (OverflowError, OSError, ValueError):
        return "19700101T000000Z"


def _epoch(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
