"""The supervisor: the repository's desired state against the world, live.

It follows the same observations as the observer and folds them with the same pure
``world.apply``; it watches the repository (a new commit, edited files) and says what it
loaded (``desired.revision``, and each node's slice of it that changed, ``desired.node.<n>``)
or why it could not (``desired.errors``, keeping the last good state); it publishes the
drift when it changes (``drift.report``), one ``action.recommended`` per new
recommendation, ``action.obsolete`` when the drift behind one is gone, and ``drift.gave_up``
once when it gives up on a drift (``give_up_after`` fixes without effect).

It hosts the action queue (``action_queue.Queue``), rebuilt from the log's ``action.*`` at
start (once retention has deleted the log's beginning, from the files of the actions
recommended before it, ``queue_files``, and the log; it holds retention at what it has
written down, ``state/holds/supervisor.json``), and decides what time decides: expiries (on
the bus's clock, which takes off the steps of the broker's wall clock, ``bus.clock``) and
runs the executor
never reported the end of (on this process's monotonic clock, counted from when it saw the
run start, or from its own start). How the fixes of each drift ended (``attempts``) and the
rejections are rebuilt from the queue; the give-ups announced, from the log.
Message ids are derived from what they say, so a restart repeats nothing the broker stored.

It publishes through what it is given (``bus.ports.Publish``) and reads the bus from what it
is given (``bus.ports.Subscribe``); ``run()`` gives it an ``Outbox`` and subscribers to the
broker, a test gives it ``bus.stub.StubBus``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors import atomic, desired_state, revision, world_checkpoint
from actors.domain import (
    action_queue,
    attempts,
    evaluation,
    inventory_files,
    plan,
    publishers,
    queue_files,
    rejections,
    slices,
    states,
    topics,
    world,
)
from bus import client, filelog, outbox, ports, retention, wallclock
from bus.dataroot import DataRoot
from bus.envelope import Message

log = logging.getLogger("homelab.supervisor")
WATCH_EVERY = 2.0
EVALUATE_EVERY = 1.0
HOLD_EVERY = 10.0  # seconds between telling retention how far the queue's files go
GAVE_UP = topics.DRIFT_GAVE_UP
PREFIXES = (*world.PREFIXES, topics.ACTION, GAVE_UP)  # what it follows on the bus


class Supervisor:
    def __init__(
        self,
        root: Path,
        repo: Path,
        out: ports.Publish,
        subscribe: ports.Subscribe,
        *,
        approval_ttl: float = action_queue.APPROVAL_TTL,
        give_up_after: int = plan.GIVE_UP_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ):
        """``out`` publishes as the queue (``action_queue.QUEUE_SOURCE``)."""
        self.root, self.repo, self.out, self.subscribe = root, repo, out, subscribe
        self.give_up_after, self.clock = give_up_after, clock
        self.data = DataRoot(root)
        self.state_path = self.data.supervisor_state
        for folder in (self.state_path.parent, self.data.actions):
            folder.mkdir(parents=True, exist_ok=True)
        saved = atomic.read_json_object(self.state_path)
        # How the fixes of each drift ended; rebuilt from the queue when the log is replayed.
        self.tried: dict[str, attempts.Attempts] = {}
        self.deadlines: dict[str, float] = {}  # running action -> when to stop waiting (clock)
        self.gave_up: set[str] = set()  # the ids of the drift.gave_up messages on the bus
        self.open: dict[str, str] = saved.get("open", {})  # recommended action id -> drift key
        # The latest rejection per drift key: it holds the drift until the drift or the
        # service's desired state changes. Rebuilt from the queue when the log is replayed.
        self.rejected = rejections.from_json(saved.get("rejections", {}))
        # The last desired.revision sent (kept across restarts, for rollback detection too).
        self.announced = (
            revision.Revision(saved["revision"], saved.get("commit"), saved.get("content", ""))
            if saved.get("revision")
            else None
        )
        self.epoch: int = saved.get("epoch", 0)  # desired-state changes so far
        # The digest of each node's desired.node.<node> slice as last sent, and as known to
        # be on the bus (only those are saved: a restart sends the others again, with the
        # same ids, and the broker stores each once).
        self.slices: dict[str, str] = saved.get("slices", {})
        self.durable_slices = dict(self.slices)
        # node -> (the digest of the slice its remote agent's last heartbeat said it holds,
        # that heartbeat's seq): answered with the current slice when they differ
        self.slices_held: dict[str, tuple[str, int]] = {}
        self.seen_contents: list[str] = saved.get("seen_contents", [])
        self.last_report: dict | None = None
        self.desired: desired_state.Desired | None = None
        self.last_errors: list[str] = []
        self._stamp: tuple = ()
        checkpoint = world_checkpoint.load(root / world_checkpoint.PATH)
        self.world = checkpoint[0] if checkpoint else world.World()
        self.queue = action_queue.Queue(approval_ttl)  # rebuilt from the log's action.* messages

    def run(self, should_stop: Callable[[], bool]) -> int:
        """Follow the bus until ``should_stop()``: take each message; every so often look at
        the repository, tell retention how far the queue's files go, and judge the world."""
        next_watch = next_eval = next_hold = 0.0
        last_idle = time.monotonic()
        taken = held = self.world.seq  # every message up to here is in the queue's files
        with contextlib.closing(self.start()) as feed:
            while not should_stop():
                message = feed.get(timeout=0.2)
                now = time.monotonic()
                if message is not None:
                    self.take(message)
                    taken = message.seq
                else:
                    last_idle = now
                if now >= next_hold and taken != held:
                    next_hold, held = now + HOLD_EVERY, taken
                    retention.hold(self.data.holds, "supervisor", taken + 1, "actions/*.json")
                if now >= next_watch:
                    next_watch = now + WATCH_EVERY
                    self.watch_repository()
                # Judge only a caught-up world (no backlog), or at least every few seconds.
                idle = message is None or now - last_idle > 5 * EVALUATE_EVERY
                if idle and now >= next_eval and self.desired is not None:
                    next_eval = now + EVALUATE_EVERY
                    self.evaluate_and_publish()
                    self.check_deadlines()
                    self.answer_agents()
        return 0

    def start(self) -> ports.Feed:
        """Rebuild the queue from the log on disk up to the world's seq; the feed of what
        it follows from the next one on."""
        self._replay_actions(until=self.world.seq)
        return self.subscribe(*PREFIXES, since=self.world.seq + 1)

    def take(self, message: Message) -> None:
        """Fold one message in: an action's step into the queue (publishing what the queue
        decides), an observation into the world."""
        if message.topic.startswith(topics.ACTION):
            self._on_action(message)
        elif message.topic == GAVE_UP:
            if message.source == action_queue.QUEUE_SOURCE:
                self.gave_up.add(message.id)
        else:
            if message.topic == wallclock.TOPIC:
                self.queue.apply(message)  # its ages are on the bus's clock too
            world.apply(self.world, message)
            self._note_slice_held(message)

    def _note_slice_held(self, message: Message) -> None:
        """A remote agent's heartbeat says which slice of the desired state it holds."""
        node, held = message.payload.get("node"), message.payload.get("desired")
        if (
            isinstance(node, str)
            and isinstance(held, str)
            and message.topic == topics.heartbeat(node)
            and publishers.may_publish(message.source, message.topic)
        ):
            self.slices_held[node] = (held, message.seq)

    def _on_action(self, message) -> None:
        # Only what the queue took counts (a forged report changes nothing).
        outgoing, changed = self.queue.apply(message)
        self._queue_output(outgoing, changed)

    def check_deadlines(self) -> None:
        """What time decides: approvals and pending actions that expired; runs that
        outlived their time without a word from the executor."""
        self._queue_output(*self.queue.expire(self.world.time, self.world.seq))
        now = self.clock()
        running = self.queue.running()
        self.deadlines = {i: d for i, d in self.deadlines.items() if i in running}
        for action_id, allowed in running.items():
            if now > self.deadlines.setdefault(action_id, now + allowed):
                log.warning("%s: no word from the executor in time; interrupted", action_id)
                out = self.queue.interrupt(action_id, self.world.time, self.world.seq)
                self._queue_output(*out)

    def _remember_end(self, record: action_queue.Record) -> None:
        """An action ended: as a rejection, as an attempt, and out of the open set (a drift
        that comes back gets a new one)."""
        as_dict = record.to_dict()
        found = rejections.of_record(as_dict)
        if found is not None:
            key, rejection = found
            self.rejected[key] = rejection
        attempts.add(self.tried, as_dict)
        self.open.pop(record.action.id, None)
        self.deadlines.pop(record.action.id, None)

    def _replay_actions(self, until: int) -> None:
        """Rebuild the queue from the log on disk up to where the live feed starts (what
        it decided then was published then: nothing is sent again); the actions the log no
        longer begins (retention) from their files first."""
        events = self.data.events
        if not events.is_dir():
            return
        on_disk = filelog.FileLog(events)
        self._seed_queue(on_disk.first_seq)
        prefixes = [topics.ACTION, GAVE_UP, wallclock.TOPIC]
        for message in on_disk.messages(until=until, prefixes=prefixes):
            if message.topic == GAVE_UP:
                self.take(message)
            else:
                self.queue.apply(message)
        records = [r.to_dict() for r in self.queue.records.values()]
        self.tried = attempts.from_records(records)
        self.rejected.update(rejections.from_records(records))
        self._queue_output([], set(self.queue.records))

    def _seed_queue(self, first_seq: int) -> None:
        """The records of the actions recommended before the log's ``first_seq``, from
        their files (none while the log begins at seq 1)."""
        if first_seq <= 1:
            return
        seeded = 0
        for path in sorted(self.data.actions.glob("a-*.json")):
            data = atomic.read_json_object(path)
            if data.get("id") != path.stem or not queue_files.begun_before(data, first_seq):
                continue
            try:
                self.queue.records[path.stem] = queue_files.record(data)
                seeded += 1
            except ValueError as err:
                log.warning("%s: %s; left out of the queue", path, err)
        log.info(
            "the log begins at seq %d (retention deleted what was before): %d action(s) "
            "recommended before it taken from actions/",
            first_seq,
            seeded,
        )

    def _queue_output(self, outgoing, changed) -> None:
        """Publish what the queue decided, then write the changed actions' files."""
        for topic, payload, msg_id in outgoing:
            self._publish(topic, payload, msg_id)
        for action_id in changed:
            record = self.queue.records[action_id]
            atomic.write_json(self.data.action_file(action_id), record.to_dict())
            if record.action.state in states.FINAL:
                self._remember_end(record)
            elif record.action.state == states.RUNNING and action_id not in self.deadlines:
                self.deadlines[action_id] = self.clock() + self.queue.run_allowance(action_id)
        if changed:
            self._save()

    # -- the repository ---------------------------------------------------------------------

    def watch_repository(self) -> None:
        stamp = _stamp(self.repo)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        loaded, problems = desired_state.load(self.repo)
        kept = loaded or self.desired
        atomic.write_json(
            self.data.desired,  # what `homelab status` shows
            {  # what `homelab status` shows
                "revision": kept.revision.id if kept else None,
                "problems": [dataclasses.asdict(p) for p in problems],
            },
        )
        if loaded is None:
            errors = [str(p) for p in problems]
            if errors != self.last_errors:
                self.last_errors = errors
                log.warning("inventory has %d problem(s); keeping the last good state", len(errors))
                self._publish(
                    topics.DESIRED_ERRORS,
                    {
                        "problems": [dataclasses.asdict(p) for p in problems],
                        "kept_revision": self.desired.revision.id if self.desired else None,
                    },
                    f"errors-{revision.content_hash(self.repo)[:16]}",
                )
            return
        self.last_errors = []
        previous = self.desired.revision if self.desired else self.announced
        self.desired = loaded
        if previous is None or loaded.revision.id != previous.id:
            self._announce(loaded, previous)  # not again what was announced before a restart
        self.publish_slices()

    def _announce(self, loaded: desired_state.Desired, previous: revision.Revision | None) -> None:
        rollback = revision.is_rollback(self.repo, previous, loaded.revision) or (
            previous is not None and loaded.revision.content in self.seen_contents[:-1]
        )  # reset to an older commit, or a revert that brings older content back
        self.announced = loaded.revision
        self.epoch += 1
        self.seen_contents = [c for c in self.seen_contents if c != loaded.revision.content]
        self.seen_contents = [*self.seen_contents, loaded.revision.content][-50:]
        self._save()
        log.info(
            "desired state at revision %s%s",
            loaded.revision.id,
            " (a rollback)" if rollback else "",
        )
        self._publish(
            topics.DESIRED_REVISION,
            {
                "revision": loaded.revision.id,
                "commit": loaded.revision.commit,
                "previous": previous.id if previous else None,
                "rollback": rollback,
                "nodes": len(loaded.inventory.nodes),
                "services": len(loaded.inventory.services),
            },
            f"revision-{loaded.revision.id}-epoch-{self.epoch}",
        )

    def publish_slices(self) -> None:
        """Each node's slice of the desired state whose content changed since it was last
        published (all of them the first time), and an empty one for a node that left."""
        assert self.desired is not None
        out, self.slices = slices.changes(
            self.desired.inventory, self.desired.revision.id, self.slices, self.epoch
        )
        for topic, payload, msg_id in out:
            self._publish(topic, payload, msg_id)
        if out:
            log.info("desired state: published %d node slice(s)", len(out))
            self._save()

    def answer_agents(self) -> None:
        """Send its node's current slice to each remote agent whose latest heartbeat said it
        holds another or none (an agent that was away, or new): once per such heartbeat,
        so one that missed the answer gets it again at its next."""
        assert self.desired is not None
        for node, (held, seq) in sorted(self.slices_held.items()):
            slice_ = slices.payload(self.desired.inventory, node, self.desired.revision.id)
            content = slices.digest(slice_)
            if held != content:
                answer = slices.answer_id(node, content, self.epoch, seq)
                self._publish(topics.desired_node(node), slice_, answer)
                log.info("desired state of %s sent again to its agent", node)
        self.slices_held = {}

    # -- drift and recommendations ------------------------------------------------------------

    def evaluate_and_publish(self) -> None:
        """Judge the world against the desired state: the drift report when it changed, a
        recommendation for each new fix, the fixes taken back, the drifts given up on."""
        assert self.desired is not None
        closed = {
            action_id: record.action.state
            for action_id, record in self.queue.records.items()
            if record.action.state in states.FINAL
        }
        revision_id = self.desired.revision.id
        drifts, recommended, held = evaluation.evaluate(
            self.desired.inventory,
            revision_id,
            self.world,
            self.tried,
            self.epoch,
            closed,
            self.rejected,
            self.give_up_after,
        )
        self._report(
            evaluation.report(
                revision_id, drifts, recommended, held, self.desired.inventory, self.world
            )
        )
        self._recommend(recommended)
        self._take_back({r.id for r in recommended}, {d.key for d in drifts})
        for given_up in held:
            if given_up.gave_up:
                self._announce_give_up(given_up, revision_id)
        self._save()

    def _report(self, current: dict[str, Any]) -> None:
        """Publish the drift report, and write it down, when it changed (not every new
        observation of the same drift)."""
        if evaluation.settled(current) == self.last_report:
            return
        self.last_report = evaluation.settled(current)
        digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()
        self._publish(topics.DRIFT_REPORT, current, f"drift-{self.world.seq}-{digest[:20]}")
        atomic.write_json(self.data.drift, current)

    def _recommend(self, recommended: list[plan.Recommendation]) -> None:
        for rec in recommended:
            if rec.id not in self.open:
                self.open[rec.id] = rec.drift.key
                payload = evaluation.recommendation_payload(rec)
                self._publish(topics.action(states.RECOMMENDED), payload, f"rec-{rec.id}")

    def _take_back(self, live: set[str], drifting: set[str]) -> None:
        """The open actions no longer recommended are obsolete, unless they run or ended."""
        for action_id in [a for a in self.open if a not in live]:
            record = self.queue.records.get(action_id)
            state = record.action.state if record else states.RECOMMENDED
            if state == states.RUNNING:
                continue  # its end closes it; a running fix is never taken back
            key = self.open.pop(action_id)
            if state in states.FINAL:
                continue  # it ended already: there is nothing to take back
            why = "the drift is gone" if key not in drifting else attempts.SUPERSEDED
            payload = {"id": action_id, "drift_key": key, "reason": why}
            self._publish(topics.action(states.OBSOLETE), payload, f"obsolete-{action_id}")

    def _announce_give_up(self, held: plan.Held, revision_id: str) -> None:
        """Once per occurrence of a drift and desired definition: a notifier's message."""
        assert self.desired is not None
        d = held.drift
        definition = rejections.fingerprint(self.desired.inventory, d.service)
        text = "\0".join((d.key, str(d.seqs[0]), definition))
        msg_id = f"gave-up-{hashlib.sha256(text.encode()).hexdigest()[:20]}"
        if msg_id in self.gave_up:
            return
        self.gave_up.add(msg_id)
        log.warning("gave up on %s: %s", d.key, held.why)
        payload = evaluation.gave_up(held) | {
            "key": d.key,
            "node": d.node,
            "began": d.seqs[0],
            "revision": revision_id,
            "why": held.why,
        }
        self._publish(GAVE_UP, payload, msg_id)

    # -- I/O helpers --------------------------------------------------------------------------

    def _publish(self, topic: str, payload: dict, msg_id: str) -> None:
        """Queued in order; held and sent again while the broker is away."""
        try:
            self.out.send(topic, payload, id=msg_id[:64])
        except (client.BusError, ValueError) as err:  # cannot be sent at all: a bug
            log.error("could not publish %s: %s", topic, err)

    def _save(self) -> None:
        if self.slices != self.durable_slices and self.out.drained():
            self.durable_slices = dict(self.slices)
        atomic.write_json(
            self.state_path,
            {
                "give_up_after": self.give_up_after,  # what `homelab drift` plans with
                "open": dict(sorted(self.open.items())),
                "rejections": rejections.to_json(self.rejected),
                "revision": self.announced.id if self.announced else None,
                "commit": self.announced.commit if self.announced else None,
                "content": self.announced.content if self.announced else "",
                "epoch": self.epoch,
                "seen_contents": self.seen_contents,
                "slices": dict(sorted(self.durable_slices.items())),
            },
        )


def _stamp(repo: Path) -> tuple:
    head = repo / ".git" / "HEAD"
    parts: list[tuple[str, int, int] | tuple[str, str]] = []
    for path in [*inventory_files.find_files(repo), head]:
        try:
            stat = path.stat()
            parts.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            continue
    ref = _read_text(head)
    if ref.startswith("ref: "):
        target = repo / ".git" / ref[5:].strip()
        parts.append((str(target), _read_text(target)))
    return tuple(parts)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def run(
    root: Path,
    repo: Path,
    endpoint: str,
    should_stop: Callable[[], bool],
    approval_ttl: float = action_queue.APPROVAL_TTL,
    give_up_after: int = plan.GIVE_UP_AFTER,
) -> int:
    out = outbox.Outbox(endpoint, action_queue.QUEUE_SOURCE)
    try:
        subscribe = ports.Subscriptions(endpoint)
        supervisor = Supervisor(
            root, repo, out, subscribe, approval_ttl=approval_ttl, give_up_after=give_up_after
        )
        return supervisor.run(should_stop)
    finally:  # also when it stops on an error (a full disk): its messages are not left behind
        out.close()
