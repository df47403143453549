"""The observer's disk side without a broker: rebuilding from segment files, checkpoints,
world files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from actors import atomic, observer, world_checkpoint
from actors.domain.world import World, apply
from actors.domain.world_codec import files, to_dict
from bus import filelog
from samples import folded, stream, write_log


def test_catch_up_from_segment_files_equals_the_fold(tmp_path: Path):
    messages = stream(600)
    write_log(tmp_path / "events", messages)
    assert len(filelog.list_segments(tmp_path / "events")) > 3
    world = World()
    seen = []
    end = observer.catch_up(tmp_path / "events", world, on_changes=seen.extend)
    assert end == 600
    expected = folded(messages)
    assert atomic.dumps(to_dict(world)) == atomic.dumps(to_dict(expected))
    assert world.seq == max(m.seq for m in messages if not m.topic.startswith("world."))
    assert seen and all(c.cause_seq <= 600 for c in seen)
    assert world.desired and "only the supervisor" in world.last_rejected  # forged: not taken
    assert any(s.reason == "stopped, as desired" for s in world.services.values())


def test_catch_up_stopped_midway_and_resumed_gives_the_same_world(tmp_path, monkeypatch):
    monkeypatch.setattr(observer, "STEP", 50)
    messages = stream(500)
    write_log(tmp_path / "events", messages)
    world = World()
    calls = iter(range(1000))
    observer.catch_up(tmp_path / "events", world, should_stop=lambda: next(calls) >= 3)
    assert 100 < world.seq < 500
    resumed = observer.catch_up(tmp_path / "events", world)
    assert resumed == 500
    assert to_dict(world) == to_dict(folded(messages))


def test_catch_up_logs_progress_every_so_many_messages(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(observer, "STEP", 10)
    monkeypatch.setattr(observer, "LOG_EVERY", 100)
    write_log(tmp_path / "events", stream(450))
    with caplog.at_level(logging.INFO, logger="homelab.observer"):
        observer.catch_up(tmp_path / "events", World(), progress=True)  # a bar, not a tty
    lines = [r.getMessage() for r in caplog.records]
    progress = [line for line in lines if line.startswith("reading the log: seq")]
    assert len(progress) == 4, lines
    assert "seq 400 of 450 (89%)" in progress[-1]
    assert lines[-1].startswith("read the log from seq 1 to 450")


def test_catch_up_of_an_empty_or_missing_log_does_nothing(tmp_path: Path):
    world = World()
    assert observer.catch_up(tmp_path / "nothing", world) == 0
    assert world == World()


def test_checkpoints_load_what_was_saved(tmp_path: Path):
    world = folded(stream(200))
    path = tmp_path / "cp.json"
    world_checkpoint.save(path, world, quiet_until=150)  # below seq: not kept
    data = json.loads(path.read_text())
    assert sorted(data) == ["seq", "world"] and data["seq"] == world.seq
    loaded, quiet = world_checkpoint.load(path, log_end=200)
    assert (to_dict(loaded), quiet) == (to_dict(world), 0)
    world_checkpoint.save(path, world, quiet_until=1000)
    assert world_checkpoint.load(path)[1] == 1000


@pytest.mark.parametrize(
    "content, why",
    [
        (b"{not json", "corrupt"),
        (b"", "corrupt"),
        (b"[1, 2]", "corrupt"),
        (b'{"seq": 1}', "corrupt"),
        (b'{"seq": 5, "world": {"seq": 4}}', "corrupt"),
        (b"\xff\xfe", "corrupt"),
    ],
)
def test_a_corrupt_checkpoint_is_logged_and_treated_as_absent(tmp_path, caplog, content, why):
    path = tmp_path / "cp.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="homelab.observer"):
        assert world_checkpoint.load(path) is None
    assert why in caplog.text and "rebuilding the world from the log" in caplog.text


def test_a_checkpoint_ahead_of_the_log_is_not_trusted(tmp_path, caplog):
    world = folded(stream(50))
    path = tmp_path / "cp.json"
    world_checkpoint.save(path, world)
    assert world_checkpoint.load(tmp_path / "absent.json") is None
    with caplog.at_level(logging.WARNING, logger="homelab.observer"):
        assert world_checkpoint.load(path, log_end=10) is None
    assert f"at seq {world.seq} but the event log ends at 10" in caplog.text


def test_world_files_are_written_only_when_their_bytes_change(tmp_path: Path):
    messages = stream(100)
    world = folded(messages[:50])
    written = observer.write_world(tmp_path, world, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files(world))
    for name, data in files(world).items():
        assert (tmp_path / name).read_bytes() == written[name] == atomic.dumps(data)
    (tmp_path / "nodes.json").write_text("tampered")  # not rewritten: same bytes as last time
    again = observer.write_world(tmp_path, world, written)
    assert again == written and (tmp_path / "nodes.json").read_text() == "tampered"
    for m in messages[50:]:
        apply(world, m)
    observer.write_world(tmp_path, world, written)
    assert (tmp_path / "summary.json").read_bytes() == atomic.dumps(files(world)["summary.json"])
