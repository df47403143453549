"""``homelab observer``: folds observations into the world, writes it to disk, checkpoints.

    main(root, endpoint)          # until SIGTERM/SIGINT; what the CLI calls

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
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from actors import atomic, world_snapshots
from actors.domain.world import PREFIXES, Change, World, apply, files, iso
from actors.world_checkpoint import load as load_checkpoint
from actors.world_checkpoint import save as save_checkpoint
from bus import client, outbox
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


class ObserverError(Exception):
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


class _Changes:
    """Publishes changes through the outbox; knows whether every change so far is durable
    (the checkpoint is written only then)."""

    def __init__(self, endpoint: str):
        self.outbox = outbox.Outbox(endpoint, SOURCE, timeout=2.0)
        self.pending_since: float | None = None  # the oldest change not known to be durable
        self.published = 0

    def submit(self, changes: Sequence[Change]) -> None:
        for change in changes:
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
            self.outbox.send(change.topic, change.payload(), id=change.message_id)
            self.published += 1

    def flush(self, timeout: float = FLUSH_WAIT) -> bool:
        """Whether every change is durable, waiting up to ``timeout`` seconds (the outbox
        logs an outage once and keeps sending)."""
        if self.pending_since is None:
            return True
        if not self.outbox.drained(timeout):
            return False
        self.pending_since = None
        return True

    def close(self) -> None:
        self.outbox.close(timeout=FLUSH_WAIT)


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
    root = Path(root)
    data = DataRoot(root)
    world_dir = data.world
    checkpoint = data.checkpoint
    world_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(data.observer_lock)
    try:
        for target in (checkpoint, *(world_dir / name for name in files(World()))):
            atomic.remove_stale_temps(target)
        if progress is None:
            progress = sys.stderr.isatty()
        outbox = _Changes(endpoint)
        try:
            while True:
                try:
                    if not _serve(
                        data, outbox, should_stop, checkpoint_every, write_every, progress
                    ):
                        return 0
                except Trimmed as err:  # read too slowly: start again from what is kept
                    log.warning("%s: starting again from what the log still holds", err)
        finally:
            outbox.close()
    finally:
        os.close(lock)


def _serve(
    data: DataRoot,
    outbox: _Changes,
    should_stop: Callable[[], bool],
    checkpoint_every: float,
    write_every: float,
    progress: bool,
) -> bool:
    """Serve until ``should_stop()`` (False) or until the checkpoint this wrote is deleted
    (True: the caller serves again, rebuilding the world from the log)."""
    world_dir, events_dir, checkpoint = data.world, data.events, data.checkpoint
    endpoint = outbox.outbox.endpoint
    on_disk = FileLog(events_dir)
    log_first, log_end = on_disk.first_seq, on_disk.last_seq
    loaded = load_checkpoint(checkpoint, log_end if log_end else None)
    saved_seq = -1
    if loaded is None:
        # Rebuild. Changes up to the log's end now were published when they happened:
        # ``quiet_until`` remembers that, in the checkpoint too, should this be cut short.
        world, quiet_until = _rebuild_from(data, log_first, log_end), log_end
    else:
        world, quiet_until = loaded
        saved_seq = world.seq
        log.info("loaded the checkpoint at seq %d", world.seq)
        if world.seq < log_first - 1:
            log.warning(
                "the log now begins at seq %d: retention deleted seq %d to %d before the "
                "observer read them; what happened then is missing from the world until "
                "it is observed again",
                log_first,
                world.seq + 1,
                log_first - 1,
            )
    world_snapshots.keep_hold(data.snapshots, data.holds)

    def publish(changes: list[Change]) -> None:
        loud = [c for c in changes if c.cause_seq > quiet_until]
        if loud:
            outbox.submit(loud)

    catch_up(events_dir, world, progress=progress, should_stop=should_stop, on_changes=publish)
    written: dict[str, bytes] = {}
    wrote_checkpoint = False

    def checkpoint_deleted() -> bool:
        """The operator's rebuild request: the checkpoint this wrote is gone."""
        return wrote_checkpoint and not checkpoint.exists()

    def save_world() -> None:
        nonlocal written
        written = write_world(world_dir, world, written)

    def save_checkpoint_if_published() -> bool:
        nonlocal saved_seq, wrote_checkpoint
        if world.seq == saved_seq or checkpoint_deleted():  # deleted: the loop rebuilds
            return True
        if not outbox.flush():
            return False
        save_checkpoint(checkpoint, world, quiet_until)
        saved_seq, wrote_checkpoint = world.seq, True
        if world_snapshots.due(data.snapshots, world):  # what a rebuild starts from one day
            world_snapshots.save(data.snapshots, world, data.holds)
            world_snapshots.prune(data.snapshots, FileLog(events_dir).first_seq)
        return True

    save_world()
    save_checkpoint_if_published()
    subscriber = client.Subscriber(
        endpoint, *PREFIXES, since=world.seq + 1, timeout=1.0, reconnect=True
    )
    log.info("following the bus at %s from seq %d", endpoint, world.seq + 1)
    now = time.monotonic()
    next_write, next_checkpoint, written_seq = now + write_every, now + checkpoint_every, world.seq
    next_look = now + LOOK_EVERY
    rebuild = False
    try:
        while not should_stop():
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + LOOK_EVERY
                if checkpoint_deleted():
                    log.info("the checkpoint %s was deleted: rebuilding the world", checkpoint)
                    rebuild = True
                    break
            wait = 0.25 if outbox.pending_since is None else FLUSH_AFTER / 2
            message = subscriber.get(timeout=wait)
            if message is not None:
                changes = apply(world, message)
                if changes:
                    publish(changes)
            now = time.monotonic()
            if outbox.pending_since is not None and (
                message is None or now - outbox.pending_since >= FLUSH_AFTER
            ):
                outbox.flush()
            if now >= next_write and world.seq != written_seq:
                save_world()
                written_seq, next_write = world.seq, now + write_every
            if now >= next_checkpoint and world.seq != saved_seq:
                save_checkpoint_if_published()
                next_checkpoint = now + checkpoint_every
    finally:
        subscriber.close()
        save_world()
        if rebuild or checkpoint_deleted():
            # Writing one now would undo the operator's request: the next start rebuilds.
            log.info("the checkpoint was deleted: not writing a new one, so the world is rebuilt")
        elif not save_checkpoint_if_published():
            log.warning(
                "changes after seq %d are not yet on the bus: kept the checkpoint there, "
                "they will be derived and published again on the next start",
                saved_seq,
            )
        log.info(
            "observer stopped at seq %d (%d nodes, %d services, %d changes published, "
            "%d payloads rejected)",
            world.seq,
            len(world.nodes),
            len(world.services),
            outbox.published,
            world.rejected,
        )
    return rebuild


def _rebuild_from(data: DataRoot, first: int, end: int) -> World:
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ObserverError(
            f"another observer is already running on {path.parent.parent} (it holds {path})"
        ) from None
    return fd


def stop_on_signals() -> Callable[[], bool]:
    """A ``should_stop`` that turns true on SIGTERM or SIGINT (Ctrl-C)."""
    state = {"stop": False}

    def handle(signum: int, frame: object) -> None:
        state["stop"] = True

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return lambda: state["stop"]


def main(
    root: Path | str,
    endpoint: str = client.DEFAULT_ENDPOINT,
    *,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_every: float = 5.0,
    write_every: float = 1.0,
    progress: bool | None = None,
) -> int:
    """The entry the CLI calls (after setting up logging): run until SIGTERM or Ctrl-C."""
    return run(
        Path(root),
        endpoint,
        should_stop or stop_on_signals(),
        checkpoint_every=checkpoint_every,
        write_every=write_every,
        progress=progress,
    )
