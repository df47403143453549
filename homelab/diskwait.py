"""A service that cannot write its own files for want of space waits for space, and goes on.

The observer (world/, its checkpoint), the supervisor (its state) and the executor write
under the data root. On a full file system such a write raises ENOSPC; the service used to
exit 1 and be restarted again and again. Here it says so once, waits until the file system
has room, and runs again from what it saved (as a restart would, without one).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("homelab.diskwait")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
ROOM = 1024 * 1024  # free bytes that make it worth trying again
LOOK_EVERY = 1.0  # seconds between looks at the free space
QUIET = 60.0  # a service that ran this long since it last said so says so again


def run(root: Path, service: str, work: Callable[[], int], should_stop: Callable[[], bool]) -> int:
    """``work()``, run again after each stop for want of space, once there is room; 0 when
    ``should_stop()`` turned true while waiting."""
    told_at: float | None = None
    while True:
        started = time.monotonic()
        try:
            return work()
        except OSError as err:
            if err.errno not in NO_SPACE:
                raise
            if told_at is None or started - told_at > QUIET:
                told_at = time.monotonic()
                log.warning(
                    "%s: disk full at %s (%s bytes free): waiting for space",
                    service,
                    root,
                    free_bytes(root),
                )
        if not wait_for_room(root, should_stop):
            return 0
        log.info(
            "%s: space is back at %s (%s bytes free): going on", service, root, free_bytes(root)
        )


def wait_for_room(root: Path, should_stop: Callable[[], bool]) -> bool:
    """Wait until ``root``'s file system has ``ROOM`` free bytes (at least one look
    away); False if ``should_stop()`` turned true first."""
    while True:
        deadline = time.monotonic() + LOOK_EVERY
        while time.monotonic() < deadline:
            if should_stop():
                return False
            time.sleep(0.05)
        free = free_bytes(root)
        if free is None or free >= ROOM:
            return True


def free_bytes(root: Path) -> int | None:
    try:
        stat = os.statvfs(root)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize
