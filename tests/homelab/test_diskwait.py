"""A service stopped by a full disk waits for space, says so once, and runs again."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from homelab import diskwait


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(diskwait, "LOOK_EVERY", 0.01)


def failing(times: int, code: int = errno.ENOSPC):
    calls = []

    def work() -> int:
        calls.append(1)
        if len(calls) <= times:
            raise OSError(code, "No space left on device")
        return 0

    return work, calls


def test_a_service_stopped_by_a_full_disk_runs_again_once_there_is_room(
    tmp_path: Path, monkeypatch, caplog
):
    room = iter([0, 0, diskwait.ROOM, diskwait.ROOM, diskwait.ROOM])
    monkeypatch.setattr(diskwait, "free_bytes", lambda root: next(room, diskwait.ROOM))
    work, calls = failing(2)
    with caplog.at_level(logging.INFO, "homelab.diskwait"):
        assert diskwait.run(tmp_path, "observer", work, lambda: False) == 0
    assert len(calls) == 3
    waiting = [r.message for r in caplog.records if "waiting for space" in r.message]
    assert waiting == [f"observer: disk full at {tmp_path} (0 bytes free): waiting for space"]


def test_a_stop_while_waiting_ends_it_with_0(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(diskwait, "free_bytes", lambda root: 0)
    work, calls = failing(100)
    stops = iter([False] * 5 + [True])
    assert diskwait.run(tmp_path, "supervisor", work, lambda: next(stops)) == 0
    assert len(calls) == 1


def test_other_errors_are_not_waited_for(tmp_path: Path):
    work, _ = failing(1, errno.EACCES)
    with pytest.raises(PermissionError):
        diskwait.run(tmp_path, "executor", work, lambda: False)
