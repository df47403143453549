"""Giving memory back to the system after a burst (glibc only; elsewhere, nothing).

A subscriber that stops reading makes the broker hold frames for it until its queue is full;
once they are sent or dropped, glibc keeps the freed heap for reuse and the process stays
large. ``settle`` fixes the size above which allocations get their own mapping (freed at
once: glibc otherwise raises that size as large blocks come and go), and ``trim`` hands
free heap pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
MMAP_ABOVE = 128 * 1024  # glibc's own starting value, kept fixed


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def settle() -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE)


def trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
