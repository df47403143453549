"""Files that survive a crash: replaced whole (temporary file, fsync, rename, folder fsync)
and folders whose new entries are fsynced. The bottom layer's, so the bus's own files (keys,
segments) and the actors' (``actors.atomic``) are written the one same way."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path | str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: all of it or none of it, durable once this returns.
    ``mode``: 0o644 for files other tools read; 0o600 for secrets (never readable by others,
    not even for a moment: the temporary file is 0600 from its creation)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode != 0o600:  # mkstemp makes it 0600
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def write_all(fd: int, data: bytes) -> None:
    """Every byte of ``data`` to ``fd`` (``os.write`` may take fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(path: Path) -> None:
    """Make the folder's entries (a new or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_exclusive(path: Path) -> int | None:
    """Take an exclusive lock on ``path`` (made if missing) for as long as the returned file
    descriptor stays open, i.e. the process lives; None if another process holds it. For
    "two of these must never run on the same files" (the broker, the observer, up, an
    agent's kept slice): the kernel drops the lock of a process that dies, even by kill -9."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
