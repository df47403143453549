"""Real small file systems for disk-full tests, and read-only folders.

``small_fs`` mounts a loop ext4 image, else a tmpfs of that size (both need root, which CI
has), else skips the test saying why. ``fill`` leaves a chosen number of bytes free with a
file; deleting that file frees them again. ``read_only`` makes a folder read-only even for
root: a read-only bind mount when root, else ``chmod -w``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

MIB = 1024 * 1024


@contextlib.contextmanager
def small_fs(where: Path, mib: int = 16) -> Iterator[Path]:
    """A file system of about ``mib`` MiB mounted at ``where`` (created), for the test."""
    where.mkdir(parents=True, exist_ok=True)
    reasons = []
    for kind, mount in (("loop ext4", _mount_ext4), ("tmpfs", _mount_tmpfs)):
        why = mount(where, mib)
        if why is None:
            break
        reasons.append(f"{kind}: {why}")
    else:
        pytest.skip("no small file system can be mounted here (" + "; ".join(reasons) + ")")
    try:
        yield where
    finally:
        _unmount(where)


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int = 0, name: str = "fill") -> Path:
    """Grow the file ``path/name`` until at most ``leave`` bytes are free (about: a file
    system keeps some for itself); 0: until a write fails."""
    target = path / name
    with open(target, "ab") as out:
        while (room := free(path) - leave) > 0:
            try:
                out.write(b"\0" * min(room, MIB))
                out.flush()
                os.fsync(out.fileno())
            except OSError:
                break
    return target


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """``folder`` read-only for everyone while the block runs; yields how."""
    if os.geteuid() == 0 and shutil.which("mount"):
        run = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
        if run.returncode == 0:
            try:
                remount = ["mount", "-o", "remount,bind,ro", str(folder), str(folder)]
                subprocess.run(remount, check=True, capture_output=True)
                yield "read-only bind mount"
            finally:
                _unmount(folder)
            return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
    for path in modes:
        path.chmod(modes[path] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield "chmod -w"
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def _mount_ext4(where: Path, mib: int) -> str | None:
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        return "needs root and mkfs.ext4"
    image = where.with_name(where.name + ".img")
    with open(image, "wb") as f:
        f.truncate(mib * MIB)
    steps = (
        ["mkfs.ext4", "-q", "-m", "0", "-F", str(image)],  # -m 0: no blocks kept for root
        ["mount", "-o", "loop", str(image), str(where)],
    )
    for argv in steps:
        run = subprocess.run(argv, capture_output=True, text=True)
        if run.returncode != 0:
            image.unlink(missing_ok=True)
            return (run.stderr.strip() or f"{argv[0]} failed").splitlines()[-1]
    image.unlink()  # the mount keeps it open; it goes with the unmount
    return None


def _mount_tmpfs(where: Path, mib: int) -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    argv = ["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(where)]
    run = subprocess.run(argv, capture_output=True, text=True)
    return None if run.returncode == 0 else (run.stderr.strip() or "mount failed")


def _unmount(where: Path) -> None:
    run = subprocess.run(["umount", str(where)], capture_output=True)
    if run.returncode != 0:  # something still has a file open there: detach it anyway
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
