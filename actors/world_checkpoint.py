"""The observer's checkpoint: the world at a sequence number, saved so a restart resumes
instead of refolding the whole log. Readers other than the observer (the supervisor,
``homelab drift``) load it here, never through the observer's process module.

``{"seq": N, "world": {...}, "quiet_until": M}``; written atomically. Deleting it makes the
observer rebuild the world from ``events/`` (docs/operations.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from actors import atomic
from actors.domain.world import World
from actors.domain.world_codec import from_dict, to_dict
from bus.dataroot import DataRoot

log = logging.getLogger("homelab.observer")
PATH = DataRoot(Path()).checkpoint  # relative to the data root


def load(path: Path, log_end: int | None = None) -> tuple[World, int] | None:
    """The saved world and its ``quiet_until`` (see ``run``), or None if there is no usable
    checkpoint: absent, unreadable, or ahead of the log (``log_end``, when the log has any
    segment). Every reason but absence is logged."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        world = from_dict(data["world"])
        if data["seq"] != world.seq:
            raise ValueError(f"seq {data['seq']!r} but the world is at {world.seq}")
        quiet_until = data.get("quiet_until", 0)
        if type(quiet_until) is not int:
            raise ValueError(f"quiet_until {quiet_until!r} is not an integer")
    except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError is a ValueError
        log.warning("checkpoint %s is corrupt (%s): rebuilding the world from the log", path, err)
        return None
    if log_end is not None and world.seq > log_end:
        log.warning(
            "checkpoint %s is at seq %d but the event log ends at %d (was the log replaced?): "
            "rebuilding the world from the log",
            path,
            world.seq,
            log_end,
        )
        return None
    return world, quiet_until


def save(path: Path, world: World, quiet_until: int = 0) -> None:
    checkpoint: dict[str, Any] = {"seq": world.seq, "world": to_dict(world)}
    if quiet_until > world.seq:
        checkpoint["quiet_until"] = quiet_until
    atomic.write_json(path, checkpoint)
