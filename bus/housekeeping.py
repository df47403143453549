"""The broker's history work between publishes: compress sealed segments, apply retention.

    keeper = Housekeeper(event_log, retention.Policy(), holds_dir, status_path, publish_own)
    broker.housekeeping = keeper           # called from every tick of the broker's loop

Each call is cheap: it looks whether the compression running in its thread is done (the
writer then reads the ``.zst``s), starts the next (sealed plain segments, newest first, up
to ``BATCH_BYTES`` at a time in one thread, so it takes at most one core; retention leaves
them alone meanwhile), and every ``RETENTION_EVERY`` seconds (or at once while a backlog
remains) applies retention. Deletions are published as
``bus.log.retention`` and the state of the history is written to ``status_path`` for
``homelab status`` and the dashboard (``actors.readmodel.disk``).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus import compression, retention, segments, topics
from bus.filelog import FileLog, Segment

RETENTION_EVERY = 60.0  # seconds between looks at the policy
RETRY_COMPRESSION = 600.0  # seconds before compressing again after a failure (a full disk)
BATCH_BYTES = 64 * 1024 * 1024  # plain segments handed to the thread at once, at most
TOPIC = topics.RETENTION
log = logging.getLogger("homelab.bus.history")


class Housekeeper:
    def __init__(
        self,
        log_: FileLog,
        policy: retention.Policy,
        holds_dir: Path | None,
        status_path: Path | None,
        publish: Callable[[str, dict[str, Any]], object],
        *,
        every: float = RETENTION_EVERY,
        compress: bool = True,
    ):
        self.log, self.policy, self.holds_dir = log_, policy, holds_dir
        self.status_path, self.publish, self.every = status_path, publish, every
        self.compress = compress
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "compress") if compress else None
        self._running: tuple[list[Segment], concurrent.futures.Future] | None = None
        self._plain = self._packed = 0  # bytes in and out of compression, for the ratio
        self._next = self._compress_after = 0.0
        self._held: tuple[str, int] | None = None
        self._status: dict[str, Any] | None = None
        for line in compression.recover(log_.events_dir):
            log.warning("recovered: %s", line)

    def __call__(self) -> None:
        if self._collect():
            self._next = 0.0  # the status changed, and retention may have waited for it
        now = time.monotonic()
        if now >= self._next:  # first: what goes needs no compressing
            self._next = now + self.every
            if self._retain():
                self._next = now  # a backlog: more at the next tick
            self._write_status()
        self.log.drop_decompressed()  # a catch-up's segment is not held for long
        if self.compress and self._running is None and now >= self._compress_after:
            self._start_next()

    def close(self) -> None:
        """Let a compression in progress finish (its swap is atomic either way)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._collect()

    @property
    def ratio(self) -> float:
        return self._packed / self._plain if self._plain else 1.0

    # -- compression --------------------------------------------------------------------------

    def _start_next(self) -> None:
        batch, size = [], 0
        for segment in reversed(self.log.segments[:-1]):  # the newest sealed first
            if not segment.compressed and size < BATCH_BYTES:
                batch.append(segment)
                size += segments.disk_size(segment.path)
        if batch and self._pool is not None:
            paths = [s.path for s in batch]
            self._running = (batch, self._pool.submit(_compress_all, paths))

    def _collect(self) -> bool:
        """Take the thread's results once it is done; True then."""
        if self._running is None or not self._running[1].done():
            return False
        batch, future = self._running
        self._running = None
        done, failure = future.result()
        for segment, (path, before, after) in zip(batch, done, strict=False):
            segment.path = path
            self._plain, self._packed = self._plain + before, self._packed + after
            log.info(
                "compressed %s/%s: %s to %s",
                path.parent.name,
                path.name,
                retention.size_text(before),
                retention.size_text(after),
            )
        if isinstance(failure, compression.NotWhole):  # a bug: never again in this process
            log.error("%s; compression stopped, the log stays readable, only larger", failure)
            self.compress = False
        elif failure is not None:  # a full disk, say: the plain segment stays; try later
            log.warning("cannot compress now: %s", failure)
            self._compress_after = time.monotonic() + RETRY_COMPRESSION
        return True

    # -- retention ----------------------------------------------------------------------------

    def _retain(self) -> bool:
        """Apply the policy; True when more is to be deleted at once."""
        busy = [s.path for s in self._running[0]] if self._running else []
        try:
            done = retention.apply(
                self.log, self.policy, self.holds_dir, busy=busy, ratio=self.ratio
            )
        except OSError as err:
            log.error("retention: cannot delete: %s", err)
            return False
        if done.deleted:
            self.publish(TOPIC, done.payload(self.log))
        if done.held != self._held:
            self._held = done.held
            if done.held is not None:
                log.warning(
                    "retention: over its limit (%s) but %s still needs the log from seq %d: kept",
                    self.policy.describe(),
                    *done.held,
                )
        return done.more

    def status(self) -> dict[str, Any]:
        """What ``homelab status`` and the dashboard show of the history."""
        chain = self.log.segments
        sizes = [segments.disk_size(s.path) for s in chain]
        return {
            "policy": {"days": self.policy.days, "bytes": self.policy.bytes},
            "first_seq": self.log.first_seq,
            "last_seq": self.log.last_seq,
            "first_day": chain[0].day if chain else None,
            "log_bytes": sum(sizes),
            "segments": len(chain),
            "compressed": sum(1 for s in chain if s.compressed),
            "held_by": dict(zip(("name", "seq"), self._held, strict=True)) if self._held else None,
        }

    def _write_status(self) -> None:
        status = self.status()
        if self.status_path is None or status == self._status:
            return
        self._status = status
        try:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_path.with_name(f".{self.status_path.name}.tmp")
            tmp.write_text(json.dumps(status, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.status_path)
        except OSError as err:  # the disk may be full: the history is still kept right
            log.warning("cannot write %s: %s", self.status_path, err)


def _compress_all(paths: list[Path]) -> tuple[list[tuple[Path, int, int]], Exception | None]:
    """In the thread: compress each in turn; what was done, and what stopped it (if)."""
    done = []
    for path in paths:
        try:
            done.append(compression.compress(path))
        except (OSError, compression.NotWhole) as err:
            return done, err
    return done, None
