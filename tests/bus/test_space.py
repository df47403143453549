"""The disk guard: a reserve for the control plane's own messages, alarms that end."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bus import space

MIB = 1024 * 1024


class Disk:
    """A file system whose free space the test sets, and a clock it moves."""

    def __init__(self, free: int):
        self.free, self.now = free, 100.0

    def statvfs(self, path: Path) -> os.statvfs_result:
        return os.statvfs_result((4096, 1, 0, self.free, self.free, 0, 0, 0, 0, 255))

    def guard(self, reserve: int = 8 * MIB) -> space.Guard:
        return space.Guard(
            Path("/data/events"), reserve, statvfs=self.statvfs, clock=lambda: self.now
        )


@pytest.mark.parametrize(
    ("topic", "source", "essential"),
    [
        ("action.request.approve", "ui:oskar", True),
        ("action.output", "executor", True),
        ("drift.report", "supervisor", True),
        ("world.service.web", "observer", True),
        ("bus.alarm", "broker", True),
        ("obs.node.web1.agent", "agent:web1", False),  # observations are ordinary
        ("backup.done", "emit", False),
        ("action.request.approve", "emit", False),  # not from the control plane
    ],
)
def test_the_reserve_is_for_the_control_planes_own_messages_only(topic, source, essential):
    assert space.essential(topic, source) is essential


def test_below_the_reserve_only_essential_messages_go_through():
    disk = Disk(free=6 * MIB)
    guard = disk.guard()
    assert guard.state == "low"
    reason = guard.refusal(1000, essential=False)
    assert reason == (
        f"disk full at /data/events: {6 * MIB} bytes free, below the reserve of "
        f"{8 * MIB} bytes kept for the control plane"
    )
    assert guard.refusal(1000, essential=True) is None


def test_below_a_quarter_of_the_reserve_nothing_goes_through():
    disk = Disk(free=1 * MIB)
    guard = disk.guard()
    assert guard.state == "full"
    assert guard.refusal(1000, essential=True) == f"disk full at /data/events: {MIB} bytes free"


def test_space_that_returns_ends_the_alarm_at_the_next_look():
    disk = Disk(free=1 * MIB)
    guard = disk.guard()
    assert guard.alarm()["active"] and guard.since is not None
    disk.free, disk.now = 100 * MIB, disk.now + 1
    assert guard.look() is True
    assert guard.refusal(1000, essential=False) is None
    assert guard.alarm()["active"] is False and guard.since is None


def test_what_the_broker_writes_counts_before_the_next_look():
    disk = Disk(free=8 * MIB + 500)
    guard = disk.guard()
    assert guard.refusal(400, essential=False) is None
    guard.wrote(400)
    assert guard.refusal(400, essential=False) is not None  # no look yet: within LOOK_EVERY


def test_a_write_that_failed_for_space_holds_until_a_later_look():
    disk = Disk(free=100 * MIB)  # statvfs says there is room; the write said otherwise
    guard = disk.guard()
    guard.failed(OSError(errno.ENOSPC, "No space left on device"))
    assert guard.state == "full" and guard.refusal(10, essential=True) is not None
    disk.now += space.RETRY_AFTER / 2
    guard.look(force=True)
    assert guard.state == "full"
    disk.now += space.RETRY_AFTER
    guard.look()
    assert guard.state == "ok"


def test_another_write_error_is_its_own_alarm():
    guard = Disk(free=100 * MIB).guard()
    guard.failed(OSError(errno.EIO, "Input/output error"))
    assert guard.state == "error"
    assert guard.reason() == "cannot write the event log at /data/events: Input/output error"


def test_a_reserve_of_zero_stores_until_the_disk_says_no():
    guard = Disk(free=2000).guard(reserve=0)
    assert guard.refusal(2000, essential=False) is None
    assert guard.refusal(2001, essential=True) is not None


def test_reserving_space_on_a_real_file_does_not_change_its_size(tmp_path: Path):
    path = tmp_path / "segment.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b"abc")
        space.reserve(fd, 3, 1 << 20)
        assert os.fstat(fd).st_size == 3
        os.write(fd, b"def")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"abcdef"
