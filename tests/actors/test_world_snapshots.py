"""World snapshots with a trimmed log: the rebuild without a checkpoint gives the same world,
byte for byte, once retention deleted the log's beginning, and says what it could not."""

from __future__ import annotations

import logging
from pathlib import Path

from actors import observer, world_snapshots
from actors.domain.world import World, apply
from actors.domain.world_codec import files, to_dict
from bus import retention
from bus.dataroot import DataRoot
from bus.filelog import FileLog
from samples import folded, stream, write_log

LONG = 30_000  # messages half a second apart: four hours of the world's clock


def live_run(data: DataRoot, messages, checkpoint_every: int = 500) -> World:
    """What the observer does as it folds: a snapshot when one is due, at its checkpoints."""
    world = World()
    for message in messages:
        apply(world, message)
        if message.seq % checkpoint_every == 0 and world_snapshots.due(data.snapshots, world):
            world_snapshots.save(data.snapshots, world, data.holds)
            world_snapshots.prune(data.snapshots, 1)
    return world


def trim(data: DataRoot) -> int:
    """Retention as small as can be, holds honoured; the log's first seq after it."""
    log, _ = FileLog.open_for_append(data.events, 4096)
    retention.apply(
        log, retention.Policy(days=0, bytes=1, keep_records=0), data.holds, at_once=10**6
    )
    log.close()
    return FileLog(data.events).first_seq


def test_the_rebuild_from_a_snapshot_and_the_retained_log_is_the_world_byte_for_byte(
    tmp_path: Path, caplog
):
    data = DataRoot(tmp_path)
    messages = stream(LONG)
    write_log(data.events, messages)
    live = live_run(data, messages)
    snapshots = world_snapshots.find(data.snapshots)
    # one an hour of the world's clock, thinned to the first of the day and the newest
    assert [s.seq for s in snapshots] == [500, 23_000]
    first = trim(data)
    assert first > 2 and first - 1 <= snapshots[-1].seq  # up to the newest snapshot, no further
    with caplog.at_level(logging.INFO, "homelab.observer"):
        world = observer.rebuild_start(data, first, LONG)
    assert world.seq == min(s.seq for s in snapshots if s.seq >= first - 1)
    assert "history before it was deleted by retention): rebuilding the world from the " in (
        caplog.text
    )
    observer.catch_up(data.events, world)
    assert to_dict(world) == to_dict(live) == to_dict(folded(messages))
    assert files(world) == files(live)


def test_without_a_snapshot_the_rebuild_says_what_the_world_lacks(tmp_path: Path, caplog):
    data = DataRoot(tmp_path)
    write_log(data.events, stream(3000))
    log, _ = FileLog.open_for_append(data.events, 4096)
    retention.apply(log, retention.Policy(days=0, bytes=1, keep_records=0), at_once=10**6)
    first = log.first_seq
    with caplog.at_level(logging.INFO, "homelab.observer"):
        world = observer.rebuild_start(data, first, 3000)
    assert world.seq == 0
    assert "no world snapshot reaches the log's beginning at seq" in caplog.text
    assert "is missing until it is said again" in caplog.text


def test_a_log_that_begins_at_seq_1_is_refolded_whole_whatever_snapshots_exist(tmp_path: Path):
    data = DataRoot(tmp_path)
    messages = stream(8000)
    write_log(data.events, messages)
    live_run(data, messages)
    assert observer.rebuild_start(data, 1, 8000).seq == 0


def test_snapshots_keep_the_first_of_each_day_and_the_newest_and_drop_the_unusable(
    tmp_path: Path,
):
    folder, holds = tmp_path / "snapshots", tmp_path / "holds"
    world = World()
    for seq, hour in enumerate([1, 5, 23, 25, 26, 49, 50], start=1):
        world.seq, world.time = seq * 100, 1_800_000_000.0 - 8 * 3600 + hour * 3600
        world_snapshots.save(folder, world, holds)
    world_snapshots.prune(folder, 1)
    assert [s.seq for s in world_snapshots.find(folder)] == [100, 400, 600, 700]
    assert retention.read_holds(holds) == {"observer": 701}
    world_snapshots.prune(folder, 500)
    assert [s.seq for s in world_snapshots.find(folder)] == [600, 700]
    world_snapshots.prune(folder, 10_000)  # the newest stays, whatever
    assert [s.seq for s in world_snapshots.find(folder)] == [700]
