"""``homelab observer``: folds observations into the world, writes it to disk, checkpoints.

    run(root, endpoint, should_stop)            # `homelab observer`: builds the bus I/O
    Observer(root, out, subscribe).run(should_stop)  # given it (a test: bus.stub.StubBus)

(``homelab observer`` calls ``run`` once it has set up logging and found its own broker,
through ``homelab.diskwait``, which runs it again once a full disk has room.)

On start it loads ``state/observer_checkpoint.json`` (``{"seq": N, "world": ...}``). Without
one (the operator deleted it to rebuild, or it is corrupt) the world is rebuilt from the
event log on disk, read directly: no broker needed for the history, a progress bar on a
terminal, a log line every 100,000 messages. Either way it then catches up with what the log
on disk holds beyond the checkpoint, and follows the bus live from the next sequence number
(the subscriber fetches anything in between from the broker, so nothing is lost).

Every change of health is published as ``world.node.<name>`` / ``world.service.<name>`` with
the id ``world-<cause_seq>-<kind>-<name>``: a change derived again after a crash has the same
id, and the broker stores it once (it remembers ids for at least the last 65,536 messages).
Changes found while rebuilding without a checkpoint, up to where the log ended when the
rebuild began, are not published (they were, when they happened); a rebuild cut short keeps
that limit in the checkpoint as ``quiet_until``. The checkpoint is written only once every
change before it is durable on the bus, so none is lost to a crash either.

Files (each written atomically): ``world/nodes.json``, ``world/services.json`` and, last,
``world/summary.json`` (so a reader who sees ``seq`` N there knows the other two are at
least as new) at most every ``write_every`` seconds when the world moved; the checkpoint
every ``checkpoint_every`` seconds when it moved; both on shutdown. One observer per data
root (``state/observer.lock``).

Deleting the checkpoint is the operator's way to ask for a rebuild: the observer notices
within ``LOOK_EVERY`` seconds and rebuilds in place, and never writes a new checkpoint over
the deletion (not on shutdown either), so a restart right after the deletion rebuilds too.

Once retention has deleted the log's beginning, a rebuild starts from the oldest world
snapshot the retained log continues (``world_snapshots``: the observer keeps them in
``state/snapshots/`` and holds retention at the newest), and says so; with none, it says
what the world lacks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from actors import atomic, world_snapshots
from actors.domain.world import PREFIXES, Change, World, apply, iso
from actors.domain.world_codec import files
from actors.world_checkpoint import load as load_checkpoint
from actors.world_checkpoint import save as save_checkpoint
from bus import durable, errors, outbox, ports
from bus.dataroot import DataRoot
from bus.filelog import FileLog
from bus.log import Trimmed

log = logging.getLogger("homelab.observer")

SOURCE = "observer"
LOG_EVERY = 100_000  # a progress line per this many messages of the log
STEP = 10_000  # progress bar and stop flag looked at once per this many messages
FLUSH_AFTER = 0.1  # seconds a change may wait before the observer waits for its ack
FLUSH_WAIT = 2.0  # seconds the observer waits for its changes to be durable, at most
LOOK_EVERY = 1.0  # seconds between looks at whether the operator deleted the checkpoint


class ObserverError(errors.HomelabError):
    """A reason the observer cannot run, worded for the operator."""


# -- checkpoint and files ---------------------------------------------------------------------


def write_world(folder: Path, world: World, written: dict[str, bytes]) -> dict[str, bytes]:
    """Write the files of ``world/`` whose bytes differ from ``written`` (what was written
    last); return what is on disk now."""
    now = dict(written)
    for name, data in files(world).items():
        encoded = atomic.dumps(data)
        if written.get(name) != encoded:
            atomic.write_atomic(folder / name, encoded)
            now[name] = encoded
    return now


# -- the log on disk --------------------------------------------------------------------------


def catch_up(
    events_dir: Path,
    world: World,
    *,
    progress: bool = False,
    should_stop: Callable[[], bool] | None = None,
    on_changes: Callable[[list[Change]], None] | None = None,
) -> int:
    """Fold what the event log on disk holds after ``world.seq``; return the seq it ended at.

    Reads the segment files directly (``FileLog.messages``), the fast replay path. Stops
    early, at a consistent point, when ``should_stop`` turns true. This is the whole rebuild
    when ``world`` is new.
    """
    events = FileLog(events_dir)
    start, end = world.seq, events.last_seq
    if end <= start:
        return end
    began = time.monotonic()
    next_step, next_line = (start // STEP + 1) * STEP, (start // LOG_EVERY + 1) * LOG_EVERY
    with _bar(progress and end - start > STEP, end - start) as advance:
        for message in events.messages(start, end, PREFIXES):
            changes = apply(world, message)
            if changes and on_changes is not None:
                on_changes(changes)
            if message.seq >= next_step:
                next_step = (message.seq // STEP + 1) * STEP
                advance(message.seq - start)
                if message.seq >= next_line:
                    next_line = (message.seq // LOG_EVERY + 1) * LOG_EVERY
                    _progress_line(world, start, end, began)
                if should_stop is not None and should_stop():
                    log.info("stopped while reading the log, at seq %d", world.seq)
                    return world.seq
        advance(end - start)
    took = time.monotonic() - began
    log.info(
        "read the log from seq %d to %d in %.1f s (%.0f messages/s): %d nodes, %d services",
        start + 1,
        end,
        took,
        (end - start) / max(took, 1e-9),
        len(world.nodes),
        len(world.services),
    )
    return end


def _progress_line(world: World, start: int, end: int, began: float) -> None:
    elapsed = max(time.monotonic() - began, 1e-9)
    log.info(
        "reading the log: seq %d of %d (%.0f%%), %.0f messages/s",
        world.seq,
        end,
        100 * (world.seq - start) / max(end - start, 1),
        (world.seq - start) / elapsed,
    )


@contextlib.contextmanager
def _bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("rebuilding the world"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
    ) as bar:
        task = bar.add_task("rebuild", total=total)
        yield lambda done: bar.update(task, completed=done)


# -- the service ------------------------------------------------------------------------------


class Observer:
    """Folds what it reads into the world, publishes each change of health, writes ``world/``
    and the checkpoint. What it publishes through and reads from are given (``bus.ports``):
    ``run()`` gives it an ``Outbox`` and subscribers to the broker."""

    def __init__(
        self,
        root: Path,
        out: ports.Publish,
        subscribe: ports.Subscribe,
        *,
        checkpoint_every: float = 5.0,
        write_every: float = 1.0,
        progress: bool = False,
    ):
        """``out`` publishes as ``SOURCE``; ``progress``: a progress bar on stderr while
        rebuilding."""
        self.data = DataRoot(root)
        self.out, self.subscribe = out, subscribe
        self.checkpoint_every, self.write_every = checkpoint_every, write_every
        self.progress = progress
        self.data.world.mkdir(parents=True, exist_ok=True)
        self.data.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        self.published = 0  # changes handed to ``out``
        self.pending_since: float | None = None  # the oldest change not known to be durable
        # What one spell of serving starts from (``load_or_rebuild`` sets them again).
        self.world, self.quiet_until, self.saved_seq = World(), 0, -1
        self.written: dict[str, bytes] = {}  # the files of world/ as last written
        self.written_seq = -1
        self.wrote_checkpoint = False

    def run(self, should_stop: Callable[[], bool]) -> int:
        """Serve until ``should_stop()``; again, rebuilding, when the operator deletes the
        checkpoint; again, from what the log still holds, when retention deleted what it
        was reading. The exit status (0)."""
        while True:
            try:
                if not self.serve(should_stop):
                    return 0
            except Trimmed as err:  # read too slowly: start again from what is kept
                log.warning("%s: starting again from what the log still holds", err)

    def serve(self, should_stop: Callable[[], bool]) -> bool:
        """Load the checkpoint (or rebuild), catch up with the log on disk, then follow the
        bus until ``should_stop()`` (False) or until the checkpoint this wrote is deleted
        (True: serve again, rebuilding the world from the log)."""
        self.load_or_rebuild()
        catch_up(
            self.data.events,
            self.world,
            progress=self.progress,
            should_stop=should_stop,
            on_changes=self.publish,
        )
        self.write_files()
        self.checkpoint_if_published()
        since = self.world.seq + 1
        feed = self.subscribe(*PREFIXES, since=since)
        log.info("following the bus at %s from seq %d", self.subscribe.endpoint, since)
        rebuild = False
        try:
            rebuild = self.follow(feed, should_stop)
        finally:
            feed.close()
            self.stop(rebuild)
        return rebuild

    def load_or_rebuild(self) -> None:
        """The world to serve from: the checkpoint's, else rebuilt from where a rebuild
        starts (``rebuild_start``)."""
        on_disk = FileLog(self.data.events)
        first, end = on_disk.first_seq, on_disk.last_seq
        loaded = load_checkpoint(self.data.checkpoint, end if end else None)
        self.written, self.written_seq = {}, -1
        self.saved_seq, self.wrote_checkpoint = -1, False
        if loaded is None:
            # Changes up to the log's end now were published when they happened:
            # ``quiet_until`` remembers that, in the checkpoint too, should this be cut short.
            self.world, self.quiet_until = rebuild_start(self.data, first, end), end
        else:
            self.world, self.quiet_until = loaded
            self.saved_seq = self.world.seq
            log.info("loaded the checkpoint at seq %d", self.world.seq)
            if self.world.seq < first - 1:
                log.warning(
                    "the log now begins at seq %d: retention deleted seq %d to %d before the "
                    "observer read them; what happened then is missing from the world until "
                    "it is observed again",
                    first,
                    self.world.seq + 1,
                    first - 1,
                )
        world_snapshots.keep_hold(self.data.snapshots, self.data.holds)

    def follow(self, feed: ports.Feed, should_stop: Callable[[], bool]) -> bool:
        """Fold what the bus brings, writing the files and the checkpoint on their
        intervals, until ``should_stop()`` (False) or the checkpoint is deleted (True)."""
        now = time.monotonic()
        next_write, next_checkpoint = now + self.write_every, now + self.checkpoint_every
        next_look = now + LOOK_EVERY
        while not should_stop():
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + LOOK_EVERY
                if self.checkpoint_deleted():
                    log.info(
                        "the checkpoint %s was deleted: rebuilding the world", self.data.checkpoint
                    )
                    return True
            message = feed.get(timeout=0.25 if self.pending_since is None else FLUSH_AFTER / 2)
            if message is not None:
                self.publish(apply(self.world, message))
            now = time.monotonic()
            if self.pending_since is not None and (
                message is None or now - self.pending_since >= FLUSH_AFTER
            ):
                self.changes_durable()
            if now >= next_write and self.world.seq != self.written_seq:
                self.write_files()
                next_write = now + self.write_every
            if now >= next_checkpoint and self.world.seq != self.saved_seq:
                self.checkpoint_if_published()
                next_checkpoint = now + self.checkpoint_every
        return False

    def stop(self, rebuild: bool) -> None:
        """On the way out: the files, and the checkpoint unless the operator deleted it."""
        self.write_files()
        if rebuild or self.checkpoint_deleted():
            # Writing one now would undo the operator's request: the next start rebuilds.
            log.info("the checkpoint was deleted: not writing a new one, so the world is rebuilt")
        elif not self.checkpoint_if_published():
            log.warning(
                "changes after seq %d are not yet on the bus: kept the checkpoint there, "
                "they will be derived and published again on the next start",
                self.saved_seq,
            )
        log.info(
            "observer stopped at seq %d (%d nodes, %d services, %d changes published, "
            "%d payloads rejected)",
            self.world.seq,
            len(self.world.nodes),
            len(self.world.services),
            self.published,
            self.world.rejected,
        )

    def publish(self, changes: Sequence[Change]) -> None:
        """Each change of health after ``quiet_until`` to the bus, and a log line."""
        for change in changes:
            if change.cause_seq <= self.quiet_until:
                continue
            log.info(
                "%s %s: %s -> %s (%s)",
                change.kind,
                change.name,
                change.previous,
                change.health,
                change.reason,
            )
            if self.pending_since is None:
                self.pending_since = time.monotonic()
            self.out.send(change.topic, self.payload(change), id=change.message_id)
            self.published += 1

    def payload(self, change: Change) -> dict:
        """The change as published; a service's also names its node (a page adds the row of
        a service it has not shown yet from the message alone)."""
        service = self.world.services.get(change.name) if change.kind == "service" else None
        return change.payload() | {"node": service.node} if service else change.payload()

    def changes_durable(self, timeout: float = FLUSH_WAIT) -> bool:
        """Whether every change is durable, waiting up to ``timeout`` seconds (the outbox
        logs an outage once and keeps sending)."""
        if self.pending_since is None:
            return True
        if not self.out.drained(timeout):
            return False
        self.pending_since = None
        return True

    def write_files(self) -> None:
        """The files of ``world/`` whose bytes changed."""
        self.written = write_world(self.data.world, self.world, self.written)
        self.written_seq = self.world.seq

    def checkpoint_if_published(self) -> bool:
        """Write the checkpoint (and a snapshot when one is due) once every change before
        it is durable; False while some is not."""
        if self.world.seq == self.saved_seq or self.checkpoint_deleted():  # deleted: rebuild
            return True
        if not self.changes_durable():
            return False
        save_checkpoint(self.data.checkpoint, self.world, self.quiet_until)
        self.saved_seq, self.wrote_checkpoint = self.world.seq, True
        snapshots = self.data.snapshots
        if world_snapshots.due(snapshots, self.world):  # what a rebuild starts from one day
            world_snapshots.save(snapshots, self.world, self.data.holds)
            world_snapshots.prune(snapshots, FileLog(self.data.events).first_seq)
        return True

    def checkpoint_deleted(self) -> bool:
        """The operator's rebuild request: the checkpoint this wrote is gone."""
        return self.wrote_checkpoint and not self.data.checkpoint.exists()


def run(
    root: Path,
    endpoint: str,
    should_stop: Callable[[], bool],
    *,
    checkpoint_every: float = 5.0,
    write_every: float = 1.0,
    progress: bool | None = None,
) -> int:
    """Run the observer until ``should_stop()``; return the exit status (0).

    ``progress``: a progress bar on stderr while rebuilding (None: when it is a terminal).
    Raises ObserverError if another observer runs on ``root``, and ``records.CorruptLog``
    if the log on disk is damaged.
    """
    data = DataRoot(Path(root))
    data.observer_lock.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(data.observer_lock)
    try:
        for target in (data.checkpoint, *(data.world / name for name in files(World()))):
            atomic.remove_stale_temps(target)
        out = outbox.Outbox(endpoint, SOURCE, timeout=2.0)
        try:
            observer = Observer(
                data.path,
                out,
                ports.Subscriptions(endpoint, timeout=1.0),
                checkpoint_every=checkpoint_every,
                write_every=write_every,
                progress=sys.stderr.isatty() if progress is None else progress,
            )
            return observer.run(should_stop)
        finally:
            out.close(timeout=FLUSH_WAIT)
    finally:
        os.close(lock)


def rebuild_start(data: DataRoot, first: int, end: int) -> World:
    """Where a rebuild starts: an empty world while the log begins at seq 1, else the
    oldest snapshot the retained log continues; said either way."""
    if first <= 1:
        log.info("no checkpoint: rebuilding the world from %s (seq 1 to %d)", data.events, end)
        return World()
    world = world_snapshots.oldest_usable(data.snapshots, first, end)
    if world is not None:
        log.info(
            "no checkpoint, and the log begins at seq %d (history before it was deleted by "
            "retention): rebuilding the world from the snapshot at seq %d (%s) and the log "
            "after it (seq %d to %d)",
            first,
            world.seq,
            iso(world.time),
            world.seq + 1,
            end,
        )
        return world
    log.warning(
        "no checkpoint, and no world snapshot reaches the log's beginning at seq %d (history "
        "before it was deleted by retention): rebuilding the world from seq %d to %d only; "
        "what was said only before it (a node's desired state, a check not reported since) "
        "is missing until it is said again",
        first,
        first,
        end,
    )
    return World()


def _lock(path: Path) -> int:
    """Hold an exclusive lock on ``path`` for as long as the process lives (or until closed)."""
    fd = durable.lock_exclusive(path)
    if fd is None:
        raise ObserverError(
            f"another observer is already running on {path.parent.parent} (it holds {path})"
        )
    return fd
