"""The broker's history work between publishes: compress sealed segments, apply retention.

    keeper = Housekeeper(event_log, retention.Policy(), holds_dir, status_path, publish_own)
    broker.housekeeping = keeper           # called from every tick of the broker's loop

Each call is cheap: it looks whether the compression running in its thread is done (the
writer then reads the ``.zst``), starts the next one (the newest sealed plain segment
first: one at a time, so it takes at most one core), and every ``RETENTION_EVERY`` seconds
(or at once while a backlog remains) applies retention. Deletions are published as
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

from bus import compression, retention, segments
from bus.filelog import FileLog, Segment

RETENTION_EVERY = 60.0  # seconds between looks at the policy
RETRY_COMPRESSION = 600.0  # seconds before compressing again after a failure (a full disk)
TOPIC = "bus.log.retention"
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
        self._running: tuple[Segment, concurrent.futures.Future] | None = None
        self._plain = self._packed = 0  # bytes in and out of compression, for the ratio
        self._next = self._compress_after = 0.0
        self._held: tuple[str, int] | None = None
        self._status: dict[str, Any] | None = None
        for line in compression.recover(log_.events_dir):
            log.warning("recovered: %s", line)

    def __call__(self) -> None:
        self._collect()
        now = time.monotonic()
        if self.compress and self._running is None and now >= self._compress_after:
            self._start_next()
        if now >= self._next:
            self._next = now + self.every
            if self._retain():
                self._next = now  # a backlog: more at the next tick
            self._write_status()
            self.log.drop_decompressed()

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
        sealed = [s for s in self.log.segments[:-1] if not s.compressed]
        if sealed and self._pool is not None:
            segment = sealed[-1]
            self._running = (segment, self._pool.submit(compression.compress, segment.path))

    def _collect(self) -> None:
        if self._running is None or not self._running[1].done():
            return
        segment, future = self._running
        self._running = None
        try:
            path, before, after = future.result()
        except FileNotFoundError:  # retention took it first, or it was compressed already
            return
        except OSError as err:  # a full disk, say: the plain segment stays; try again later
            log.warning("cannot compress %s now: %s", segment.path, err)
            self._compress_after = time.monotonic() + RETRY_COMPRESSION
            return
        except compression.NotWhole as err:  # a bug: never again in this process
            log.error("%s; compression stopped, the log stays readable, only larger", err)
            self.compress = False
            return
        segment.path = path
        self._plain, self._packed = self._plain + before, self._packed + after
        log.info(
            "compressed %s/%s: %s to %s",
            path.parent.name,
            path.name,
            retention.size_text(before),
            retention.size_text(after),
        )

    # -- retention ----------------------------------------------------------------------------

    def _retain(self) -> bool:
        """Apply the policy; True when more is to be deleted at once."""
        busy = [self._running[0].path] if self._running else []
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
