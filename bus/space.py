"""Free space under the event log: what the broker does before the disk is full, and when it is.

    guard = space.Guard(events_dir, reserve=128 * MIB)
    guard.refusal(size, essential)   # None, or why a frame of that size waits
    guard.wrote(size); guard.failed(err); guard.look()   # after a write; each tick

Below the *reserve* (``HOMELAB_DISK_RESERVE``), only the control plane's own messages are
stored (``essential``: its services' decisions, results and world changes, not observations
nor other tools' messages); below a quarter of it, or once a write failed for want of space,
nothing is. Both are an alarm (``state``), which ends by itself when space returns.
``reserve`` makes a write fail before it starts, instead of half-way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path

from bus import envelope

MIB = 1024 * 1024
FLOOR_SHARE = 4  # essential messages stop at a quarter of the reserve: room for their files
LOOK_EVERY = 0.1  # seconds between two looks at the file system, at most
RETRY_AFTER = 1.0  # what a client that was told the disk is full should wait
_FALLOC_FL_KEEP_SIZE = 1
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENODEV}
NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def essential(topic: str, source: str) -> bool:
    """A message of the control plane's own services that is not an observation: what the
    reserve is kept for (requests and decisions, action runs and their output, desired
    state, drift, world changes, the broker's alarms)."""
    return envelope.is_reserved_source(source) and not topic.startswith("obs.")


class Guard:
    """The event log's file system as the broker sees it: ``ok``, ``low`` (below the
    reserve), ``full`` (below the floor, or a write failed for want of space) or ``error``
    (a write failed otherwise). A failed write holds for ``RETRY_AFTER`` seconds at least."""

    def __init__(
        self,
        path: Path,
        reserve: int,
        *,
        statvfs: Callable[[Path], os.statvfs_result] = os.statvfs,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path, self.reserve, self.floor = path, reserve, reserve // FLOOR_SHARE
        self._statvfs, self._clock = statvfs, clock
        self.free: int | None = None  # bytes, as last seen, less what was written since
        self.failure: OSError | None = None  # the last failed write, until a look after...
        self._hold_until = 0.0  # ...this time
        self.since: float | None = None  # wall time the alarm started
        self._looked = -LOOK_EVERY
        self.look(force=True)

    @property
    def state(self) -> str:
        if self.failure is not None:
            return "full" if self.failure.errno in NO_SPACE else "error"
        if self.free is not None and self.free < self.floor:
            return "full"
        if self.free is not None and self.free < self.reserve:
            return "low"
        return "ok"

    def look(self, force: bool = False) -> bool:
        """Measure the free space again (at most every ``LOOK_EVERY`` seconds unless
        ``force``); True when the state changed."""
        now = self._clock()
        if not force and now - self._looked < LOOK_EVERY:
            return False
        before = self.state
        self._looked = now
        try:
            stat = self._statvfs(self.path)
            self.free = stat.f_bavail * stat.f_frsize
        except OSError:
            self.free = None  # cannot tell: writes decide
        if now >= self._hold_until:
            self.failure = None
        return self._changed(before)

    def refusal(self, size: int, essential: bool) -> str | None:
        """Why a frame of ``size`` bytes waits, or None: ordinary frames stop at the
        reserve, essential ones at the floor."""
        if self._fits(size, essential):
            return None
        self.look()  # space may have come back since the last look
        return None if self._fits(size, essential) else self.reason(essential)

    def reason(self, essential: bool = False) -> str:
        if self.state == "error":
            return f"cannot write the event log at {self.path}: {_text(self.failure)}"
        text = f"disk full at {self.path}: {self.free} bytes free"
        if not essential and self.state == "low":
            text += f", below the reserve of {self.reserve} bytes kept for the control plane"
        return text

    def wrote(self, size: int) -> None:
        if self.free is not None:
            before = self.state
            self.free -= size
            self._changed(before)

    def failed(self, err: OSError) -> None:
        """A write failed: nothing more is stored until a look after ``RETRY_AFTER``."""
        before = self.state
        self.failure, self._hold_until = err, self._clock() + RETRY_AFTER
        if err.errno in NO_SPACE:
            self.free = 0
        self._changed(before)

    def alarm(self) -> dict:
        """The alarm as ``bus.alarm`` and the ping carry it."""
        active = self.state != "ok"
        return {
            "alarm": "disk",
            "active": active,
            "state": self.state,
            "reason": self.reason() if active else f"space is back at {self.path}",
            "path": str(self.path),
            "free": self.free,
            "reserve": self.reserve,
            "since": self.since,
        }

    def _fits(self, size: int, essential: bool) -> bool:
        limit = self.floor if essential else self.reserve
        return self.failure is None and (self.free is None or self.free - size >= limit)

    def _changed(self, before: str) -> bool:
        state = self.state
        if state == before:
            return False
        if before == "ok":
            self.since = time.time()
        elif state == "ok":
            self.since = None
        return True


def _text(err: OSError | None) -> str:
    return (err.strerror or str(err)) if err is not None else ""


def reserve(fd: int, offset: int, length: int) -> None:
    """Allocate ``length`` bytes at ``offset`` of ``fd`` without changing its size, so that
    the write after it cannot fail half-way for want of space; raises OSError (ENOSPC) with
    nothing written. A file system that cannot (or a system without ``fallocate``): nothing."""
    call = _fallocate()
    if call is None or length <= 0:
        return
    if call(fd, _FALLOC_FL_KEEP_SIZE, offset, length) != 0:
        code = ctypes.get_errno()
        if code in _UNSUPPORTED:
            return
        raise OSError(code, os.strerror(code))


@functools.cache
def _fallocate():
    name = ctypes.util.find_library("c")
    try:
        call = ctypes.CDLL(name, use_errno=True).fallocate if name else None
    except (OSError, AttributeError):
        return None
    if call is not None:
        call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        call.restype = ctypes.c_int
    return call
