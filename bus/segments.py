"""Segment files on disk: their names, finding them, and reading one whole.

A segment is ``events/YYYY-MM-DD/<first seq, 20 digits>.log``, or, once sealed and
compressed, the same name plus ``.zst``: one zstd frame whose content is exactly the bytes
the ``.log`` had (``compression``). Readers treat both alike; only the bytes on disk differ.

The compressed file replaces the plain one in two steps (rename the ``.zst`` into place,
then unlink the ``.log``), and retention deletes whole segments, so a reader that listed a
``.log`` may find it gone: ``load`` then reads the ``.zst`` of the same name, and only when
both are gone is the segment gone (``Gone``: deleted by retention).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import zstandard

PLAIN = ".log"
COMPRESSED = ".log.zst"
PATTERNS = (f"????-??-??/*{PLAIN}", f"????-??-??/*{COMPRESSED}")


class Gone(FileNotFoundError):
    """Neither the plain nor the compressed file of a segment exists any more."""


def first_seq(path: Path) -> int | None:
    """The seq a segment file's name says it starts at; None for any other file."""
    name = path.name
    for suffix in (COMPRESSED, PLAIN):
        if name.endswith(suffix):
            digits = name[: -len(suffix)]
            return int(digits) if digits.isdigit() and digits.isascii() else None
    return None


def is_compressed(path: Path) -> bool:
    return path.name.endswith(COMPRESSED)


def plain_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".zst")) if is_compressed(path) else path


def compressed_path(path: Path) -> Path:
    return path if is_compressed(path) else path.with_name(path.name + ".zst")


def find(events_dir: Path) -> list[tuple[int, Path]]:
    """Every segment as (first seq, path), in seq order. A segment found both plain and
    compressed (the moment of the swap, or a crash in it) is listed once, compressed: the
    ``.zst`` is renamed into place only once it is whole."""
    found: dict[int, Path] = {}
    for pattern in PATTERNS:
        for path in events_dir.glob(pattern):
            seq = first_seq(path)
            if seq is not None and (seq not in found or is_compressed(path)):
                found[seq] = path
    return sorted(found.items())


def load(path: Path) -> tuple[Path, bytes | mmap.mmap]:
    """A segment's records as bytes (a plain file memory-mapped, a compressed one
    decompressed), and the path it was read from: the other form of the name when the one
    given is gone. ``Gone`` when neither exists; ``zstandard.ZstdError`` when a compressed
    file does not decompress."""
    for candidate in (path, compressed_path(path) if not is_compressed(path) else None):
        if candidate is None:
            continue
        try:
            if is_compressed(candidate):
                return candidate, decompress(candidate.read_bytes())
            return candidate, mapped(candidate)
        except FileNotFoundError:
            continue
    raise Gone(f"{plain_path(path)}: the segment is gone (deleted by retention)")


def head(path: Path, size: int) -> bytes:
    """Up to the first ``size`` bytes of a segment's records, without reading it all."""
    for candidate in (path, compressed_path(path)):
        try:
            with open(candidate, "rb") as f:
                if not is_compressed(candidate):
                    return f.read(size)
                with zstandard.ZstdDecompressor().stream_reader(f) as reader:
                    return reader.read(size)
        except FileNotFoundError:
            continue
    raise Gone(f"{plain_path(path)}: the segment is gone (deleted by retention)")


def disk_size(path: Path) -> int:
    """Bytes the segment takes on disk (0 once it is gone)."""
    for candidate in (path, compressed_path(path)):
        try:
            return candidate.stat().st_size
        except FileNotFoundError:
            continue
    return 0


def decompress(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(data)


def mapped(path: Path) -> bytes | mmap.mmap:
    """The file's current content, memory-mapped (no copy); empty files give b''.

    Not closed explicitly: views into it may outlive a generator's early exit, and CPython
    unmaps it as soon as the last one is gone. A mapping outlives the file's unlinking, so
    a reader that mapped a segment reads it whole even if it is compressed or deleted
    meanwhile.
    """
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
