"""The world as the observer should write it, for the tests that run one: the reference fold
over the event log on disk (up to the seq the observer reports in ``world/summary.json``),
the files it must match byte for byte, and the observations and heartbeats that feed it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from actors import atomic, world_checkpoint
from actors.domain.world import PREFIXES, Change, World, apply
from actors.domain.world_codec import files, to_dict
from bus.filelog import FileLog


def read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def summary_seq(root: Path) -> int:
    summary = read_json(root / "world" / "summary.json")
    return summary["seq"] if summary else -1


def reference(root: Path, until: int) -> tuple[World, list[Change]]:
    """The world folded here from the log on disk, and every change on the way."""
    world, changes = World(), []
    for message in FileLog(root / "events").messages(0, until, PREFIXES):
        changes += apply(world, message)
    assert world.seq == until
    return world, changes


def assert_files_match(root: Path, world: World) -> None:
    for name, data in files(world).items():
        assert (root / "world" / name).read_bytes() == atomic.dumps(data), name
    saved = read_json(root / world_checkpoint.PATH)
    assert saved == {"seq": world.seq, "world": to_dict(world)}


def observation(node, service, check, outcome="ok", detail="", **facts) -> dict:
    return {
        "node": node,
        "service": service,
        "check": check,
        "outcome": outcome,
        "detail": detail,
        "facts": facts,
        "interval": 30.0,
        "observed_at": time.time(),
    }


def heartbeat(node: str, interval: float = 60.0, missed: int = 3) -> dict:
    return {
        "node": node,
        "interval": interval,
        "missed_intervals": missed,
        "checks": 3,
        "started_at": time.time(),
    }
