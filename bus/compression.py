"""Compressing sealed segments with zstd, so that a day of history takes a tenth of the disk.

``compress(path)`` replaces a sealed ``NAME.log`` by ``NAME.log.zst``: one zstd frame (with
its content size and checksum) of exactly the file's bytes. The swap is safe for readers and
for a crash at any moment:

1. the frame is written to ``NAME.log.zst.tmp`` (streamed: the broker holds a few MB, not
   the segment), fsynced, and checked to decompress to the very bytes of the ``.log``;
2. it is renamed to ``NAME.log.zst`` and the folder fsynced: from here on readers may take
   either file, both hold the same records;
3. the ``.log`` is unlinked and the folder fsynced. A reader that had mapped it keeps
   reading its mapping; one that looks for it now finds the ``.zst`` (``segments.load``).

A crash leaves at most a ``.tmp`` (never read: ``recover`` removes it) or both files
(``recover`` removes the ``.log`` once the ``.zst`` is known whole). Only the broker
compresses, only segments it has sealed, never the open one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import zstandard

from bus import durable, segments

LEVEL = 6  # within 5 % of level 9's size, with a third of its memory (6 MB); 0.2 s a segment
CHUNK = 256 * 1024  # bytes read and written at a time
TMP = ".tmp"
FRAME_HEADER_MAX = 18  # bytes: the longest zstd frame header
log = logging.getLogger("homelab.bus.history")


class NotWhole(Exception):
    """The compressed copy does not give back the segment's bytes: nothing was replaced."""


def compress(path: Path, level: int = LEVEL) -> tuple[Path, int, int]:
    """Replace the plain segment ``path`` by its compressed form; (new path, bytes before,
    bytes after)."""
    size = path.stat().st_size  # sealed: it does not grow
    target = segments.compressed_path(path)
    tmp = target.with_name(target.name + TMP)
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
    try:
        with open(path, "rb") as source, open(tmp, "wb") as out:
            compressor.copy_stream(source, out, size=size, read_size=CHUNK, write_size=CHUNK)
            out.flush()
            os.fsync(out.fileno())
        if not _same(path, tmp):  # a bug here would lose history: check, always
            raise NotWhole(f"{path}: its compressed copy does not decompress to the same bytes")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk: the plain segment stays, nothing is lost
        raise
    durable.fsync_dir(path.parent)
    path.unlink()
    durable.fsync_dir(path.parent)
    return target, size, target.stat().st_size


def recover(events_dir: Path) -> list[str]:
    """Finish what a crash cut short: remove ``.tmp`` files, and the ``.log`` of a segment
    whose ``.zst`` is whole (its content size is the ``.log``'s). Returns what it did."""
    done = []
    for tmp in events_dir.glob(f"????-??-??/*{segments.COMPRESSED}{TMP}"):
        tmp.unlink(missing_ok=True)
        done.append(f"removed {tmp}: a compression cut short")
    for packed in events_dir.glob(f"????-??-??/*{segments.COMPRESSED}"):
        plain = segments.plain_path(packed)
        if not plain.exists():
            continue
        if content_size(packed) == plain.stat().st_size:
            plain.unlink()
            done.append(f"removed {plain}: {packed.name} holds the same records")
        else:  # renamed into place only once whole: this is not ours to judge, keep both
            log.warning("%s and %s differ; keeping both, reading the .zst", plain, packed)
        durable.fsync_dir(plain.parent)
    return done


def content_size(path: Path) -> int | None:
    """The size of what a ``.zst`` segment decompresses to, from its frame header."""
    with open(path, "rb") as f:
        header = f.read(FRAME_HEADER_MAX)
    try:
        size = zstandard.frame_content_size(header)
    except zstandard.ZstdError:
        return None
    return size if size >= 0 else None


def _same(plain: Path, packed: Path) -> bool:
    """Whether ``packed`` decompresses to exactly ``plain``'s bytes, a chunk at a time."""
    with open(plain, "rb") as expected, open(packed, "rb") as source:
        with zstandard.ZstdDecompressor().stream_reader(source) as reader:
            while True:
                chunk = reader.read(CHUNK)
                if chunk != expected.read(len(chunk) or 1):
                    return False
                if not chunk:
                    return True
