"""The executor: runs approved actions, each at most once, and says how they went.

It follows ``action.`` on the bus from the start of the log (the action history is small at
homelab scale; once retention has deleted the log's beginning, the files of the actions
recommended before it say what those messages said, ``seed``) and folds it into two sets: ``started`` (an ``action.running`` was published) and
``finished`` (the action reached an end). Once caught up, whatever was started but never
finished was running when an executor died: it is published as ``action.interrupted`` and
never run again (the operator approves again to retry).

Only the queue's own approvals count: an ``action.approved`` from the supervisor (which hosts
the queue) for an action the supervisor recommended, for exactly what it recommended; anything
else is logged and ignored (the broker lets only the supervisor's key speak as the
supervisor). For such an approval, neither started nor finished: the hash must match what
would run and the driver must build the same commands today (else ``action.refused``).

Whatever the bus lets through, a bad message never blocks the good one: only what may
publish a topic (``publishers.may_publish``) is folded, a ``running`` counts only from the
executor, and a refusal is a word on one approval, never the action's end here (the queue's
refusal answers a request; the executor's own says why it will not run *that* approval), so
a later approval of what was recommended still runs. Just before running, the drift behind it must still be in the latest
``drift.report``. If it is not, the action waits: the supervisor alone decides that an action
is obsolete (it publishes ``action.obsolete`` in the same evaluation as the report), so the
executor drops it when that comes (or the queue's expiry), and runs it if a later report
has the drift again. Then ``action.running`` (with the executor's
``timeout``) is published and durable *before* anything is spawned, so a crash can never
lead to a second run. The queue records a refusal (the action is ``refused``, for good), and
interrupts a run it hears no end of within that timeout and a grace: a report that comes
after that changes nothing there. Commands run
through ``action_runner.run`` in a thread pool, one action at a time per target (others for the same
target wait, in order), streaming ``action.output`` and ending with one of
``action.succeeded`` / ``action.failed`` / ``action.timed_out``.

Every thread publishes through what the executor is given (``bus.ports.Publish``): in the
process, one ``bus.outbox.Outbox``, which holds messages while the broker is away. Message
ids are derived from the action id, so a message resent after a hiccup is stored once. It
reads the bus from what it is given too (``bus.ports.Subscribe``); ``run()`` builds both.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import queue
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from actors import action_runner, atomic
from actors.domain import (
    drivers,
    inventory_files,
    lifecycle,
    publishers,
    queue_files,
    states,
    topics,
)
from bus import filelog, outbox, ports
from bus.dataroot import DataRoot
from bus.envelope import Message

log = logging.getLogger("homelab.executor")

QUEUE = publishers.QUEUE  # the source of recommendations, approvals and drift reports
RUNNER = publishers.RUNNER  # the executor's own source
INTERRUPTED = "the executor stopped while it ran; not run again: approve again to retry"
PREFIXES = (topics.ACTION, topics.DRIFT_REPORT)  # what it follows on the bus, from the log's start
POLL = 0.2  # how long the main loop waits for a message
PUBLISH_WAIT = 30.0  # how long the main loop waits for a message to be durable
STOP_GRACE = 30.0  # after a stop: beyond ``timeout``, how long running actions get
CLOSE_WAIT = 15.0  # after that: how long the outbox gets to send the last messages
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


@dataclasses.dataclass(frozen=True)
class Job:
    id: str
    target: str
    commands: list[list[str]]
    drift_key: str
    hash: str


class Executor:
    def __init__(
        self,
        root: Path,
        out: ports.Publish,
        subscribe: ports.Subscribe,
        *,
        timeout: float = 300,
        parallel: int = 2,
        repo: Path | None = None,
    ):
        """``repo``: check every approval against the drivers and the inventory (the CLI
        always passes it; tests of the mechanics may leave it out)."""
        self.root, self.out, self.subscribe, self.repo = Path(root), out, subscribe, repo
        self.timeout, self.parallel = timeout, parallel
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.waiting: dict[str, collections.deque[Job]] = {}  # by target, in order
        self.queued: set[str] = set()  # ids in ``waiting``
        self.busy: set[str] = set()  # targets with a running action
        self.done: queue.Queue[str] = queue.Queue()  # targets whose action ended
        self.futures: set[concurrent.futures.Future] = set()
        self.caught_up = False
        self.backlog: list[dict[str, Any]] = []  # approvals seen while catching up
        self.recommended: dict[str, dict[str, Any]] = {}  # by id, as the supervisor said
        self.drifts: set[str] | None = None  # keys in the latest drift report (None: none yet)
        self.held: dict[str, Job] = {}  # by id: approved, its drift not in the latest report

    # The bus

    def take(self, message: Message) -> None:
        """Folds one message in; acts on approvals once caught up."""
        payload, source = message.payload, message.source
        if message.topic == topics.DRIFT_REPORT:
            if source == QUEUE:
                self.drifts = drift_keys(payload)
                self.release_held()
            return
        kind = topics.action_kind(message.topic)
        action_id = payload.get("id")
        if not isinstance(action_id, str):
            return
        if not publishers.may_publish(source, message.topic):
            log.warning("%s: ignored %s from %r", action_id, message.topic, source)
            return
        if kind == states.RECOMMENDED:
            self.recommended.setdefault(action_id, payload)
        elif kind == states.RUNNING:
            if source == RUNNER:  # its own word: never the queue's, never a tool's
                self.started.add(action_id)
        elif kind in states.FINAL and kind != states.REFUSED:
            self.finished.add(action_id)  # also an approval the queue took back: not run
            self.held.pop(action_id, None)
        elif kind == states.APPROVED:
            if self.caught_up:
                self.approve(payload)
            else:
                self.backlog.append(payload)

    def seed(self, first_seq: int) -> None:
        """What the deleted beginning of the log said of the actions recommended before
        ``first_seq``, from their files (the queue's, written by the supervisor before
        retention could delete a message it had not written down)."""
        if first_seq <= 1:
            return
        for path in sorted(DataRoot(self.root).actions.glob("a-*.json")):
            data = atomic.read_json_object(path)
            action_id, state = data.get("id"), data.get("state")
            if action_id != path.stem or not queue_files.begun_before(data, first_seq):
                continue
            if state in states.FINAL:
                self.finished.add(action_id)
                continue
            if state == states.RUNNING:
                self.started.add(action_id)
            self.recommended.setdefault(action_id, queue_files.recommendation(data))
            if state == states.APPROVED:
                self.backlog.append(queue_files.approval(data))

    def catch_up(self) -> None:
        """The history is read: what was running is interrupted; old approvals are taken."""
        self.caught_up = True
        for action_id in sorted(self.started - self.finished):
            log.warning("%s was running when the executor stopped: interrupted", action_id)
            self.out.publish(
                topics.action(states.INTERRUPTED),
                {"id": action_id, "reason": INTERRUPTED},
                id=f"interrupted-{action_id}",
                timeout=PUBLISH_WAIT,
            )
            self.finished.add(action_id)
        backlog, self.backlog = self.backlog, []
        for payload in backlog:
            self.approve(payload)

    def approve(self, payload: dict[str, Any]) -> None:
        action_id = payload["id"]
        taken = (self.started, self.finished, self.queued, self.held)
        if any(action_id in ids for ids in taken):
            log.info("%s: approved again; already taken, nothing done", action_id)
            return
        recommendation = self.recommended.get(action_id)
        why = (
            matches(payload, recommendation)
            or check(payload)
            or (allowed(payload, self.repo) if self.repo else "")
        )
        if why or recommendation is None:  # (matches() says why when it is None)
            log.warning("%s refused: %s", action_id, why)
            refused = {"id": action_id, "reason": why}
            # Not taken: a later approval of what was recommended still runs. The id names
            # this approval, so a refusal said again after a restart is stored once.
            said = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            self.out.send(
                topics.action(states.REFUSED), refused, id=f"refused-{action_id}-{said[:16]}"
            )
            return
        job = Job(
            id=action_id,
            target=payload["target"],
            commands=[list(argv) for argv in payload["commands"]],
            drift_key=recommendation["drift"]["key"],
            hash=payload["hash"],
        )
        self.waiting.setdefault(job.target, collections.deque()).append(job)
        self.queued.add(action_id)

    # Running

    def start_ready(self, pool: concurrent.futures.Executor) -> None:
        """Starts the next waiting action of every target that has none running."""
        while True:
            try:
                self.busy.discard(self.done.get_nowait())
            except queue.Empty:
                break
        self.futures = {f for f in self.futures if not f.done()}
        for target in list(self.waiting):
            jobs = self.waiting[target]
            while jobs and target not in self.busy and len(self.busy) < self.parallel:
                job = jobs.popleft()
                self.queued.discard(job.id)
                if self.start(job, pool):
                    self.busy.add(target)
            if not jobs:
                del self.waiting[target]

    def start(self, job: Job, pool: concurrent.futures.Executor) -> bool:
        if job.id in self.started or job.id in self.finished:
            return False
        if self.drifts is None or job.drift_key not in self.drifts:
            log.info("%s waits: drift %s is not in the latest report", job.id, job.drift_key)
            self.held[job.id] = job  # the supervisor's verdict (obsolete) or the drift decides
            return False
        self.started.add(job.id)  # before anything else: never twice, whatever happens next
        self.out.publish(
            topics.action(states.RUNNING),
            # its timeout: the queue interrupts a run it hears nothing more of beyond it
            {"id": job.id, "by": "executor", "hash": job.hash, "timeout": self.timeout},
            id=f"running-{job.id}",
            timeout=PUBLISH_WAIT,
        )  # durable now: only then is anything spawned
        log.info("%s running on %s: %d command(s)", job.id, job.target, len(job.commands))
        self.futures.add(pool.submit(self.execute, job))
        return True

    def release_held(self) -> None:
        """Held actions whose drift the latest report has again wait to run once more."""
        for job in [j for j in self.held.values() if j.drift_key in (self.drifts or ())]:
            del self.held[job.id]
            self.waiting.setdefault(job.target, collections.deque()).append(job)
            self.queued.add(job.id)

    def execute(self, job: Job) -> None:
        """In a worker thread: runs the commands, streams the output, publishes the end."""
        rel = str(DataRoot(Path()).action_log(job.id))  # relative: the root may move
        began = time.monotonic()
        try:
            outcome, detail, code = self._run_commands(job, self.root / rel)
            seconds = time.monotonic() - began
            log.info("%s %s in %.1f s: %s", job.id, outcome, seconds, detail)
            payload = {
                "id": job.id,
                "detail": detail,
                "exit_code": code,
                "log": rel,
                "seconds": round(seconds, 3),
                "drift_key": job.drift_key,
            }
            # held till sent
            self.out.send(topics.action(outcome), payload, id=f"{outcome}-{job.id}")
        finally:
            self.done.put(job.target)  # after the end is queued: the next one follows it

    def _run_commands(self, job: Job, log_path: Path) -> tuple[str, str, int | None]:
        """Outcome, detail and exit code of the job's commands, their output streamed."""
        on_output = functools.partial(self._send_output, job.id, itertools.count(1))
        try:
            result = action_runner.run(
                job.commands, log_path=log_path, timeout=self.timeout, on_output=on_output
            )
        except Exception as error:  # noqa: BLE001 - the action failed; the executor goes on
            log.exception("%s: the runner failed", job.id)
            return states.FAILED, f"could not run: {error}", None
        return result.outcome, result.detail, result.exit_code

    def _send_output(self, action_id: str, chunks: Iterator[int], data: bytes) -> None:
        chunk = data.decode("utf-8", errors="replace")
        payload = {"id": action_id, "chunk": chunk}
        self.out.send(topics.ACTION_OUTPUT, payload, id=f"output-{action_id}-{next(chunks)}")

    def run(self, should_stop: Callable[[], bool]) -> int:
        """Follow ``action.`` and ``drift.report`` from the log's start until
        ``should_stop()``, running approvals once caught up; then let running actions end."""
        pool = concurrent.futures.ThreadPoolExecutor(self.parallel, "executor-run")
        events = DataRoot(self.root).events
        self.seed(filelog.FileLog(events).first_seq if events.is_dir() else 1)
        try:
            with contextlib.closing(self.subscribe(*PREFIXES, since=1)) as feed:
                while not should_stop():
                    message = feed.get(timeout=POLL)
                    if message is not None:
                        self.take(message)
                    elif not self.caught_up:
                        self.catch_up()
                    if self.caught_up:
                        self.start_ready(pool)
        finally:
            log.info("stopping: waiting for %d running action(s)", len(self.busy))
            _, left = concurrent.futures.wait(self.futures, self.timeout + STOP_GRACE)
            if left:
                log.error("%d action(s) still running; leaving them", len(left))
            pool.shutdown(wait=False)
        return 0


def matches(approval: dict[str, Any], recommendation: dict[str, Any] | None) -> str:
    """Why an approval is not for exactly what the supervisor recommended ("" when it is)."""
    if recommendation is None:
        return "the supervisor never recommended this action"
    fields = ("type", "target", "commands", "revision", "service")
    if any(approval.get(name) != recommendation.get(name) for name in fields):
        return "the approval is not for what was recommended"
    drift = recommendation.get("drift")
    if not isinstance(drift, dict) or not isinstance(drift.get("key"), str):
        return "the recommendation names no drift to check"
    return ""


def check(payload: dict[str, Any]) -> str:
    """Why an approval cannot be run as it is ("" when it can)."""
    action_id, commands = payload.get("id"), payload.get("commands")
    if not isinstance(action_id, str) or not _ID.fullmatch(action_id):
        return f"a bad action id: {action_id!r}"
    fields = ("type", "target", "revision", "hash")
    if not all(isinstance(payload.get(name), str) for name in fields):
        return "the approval lacks its type, target, revision or hash"
    if (
        not isinstance(commands, list)
        or not commands
        or not all(
            isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
            for argv in commands
        )
    ):
        return "the commands are not a list of argument lists"
    expected = lifecycle.run_hash(payload["type"], payload["target"], commands, payload["revision"])
    if expected != payload["hash"]:
        return "the commands do not match what was approved (hash mismatch)"
    return ""


def allowed(payload: dict[str, Any], repo: Path) -> str:
    """Why the approved commands are not what the allowlisted driver builds, today, for
    that service and action type ("" when they are): the bus is not trusted to say what
    to run, only which action was approved."""
    try:
        inventory = inventory_files.load(repo)
    except inventory_files.InventoryError:
        return "the inventory has problems now; nothing runs until it is valid"
    name = payload.get("service")
    service = inventory.services.get(name) if isinstance(name, str) else None
    if not isinstance(name, str) or service is None:
        return f"service {name!r} is not in the inventory"
    try:
        expected = drivers.commands(name, service, payload["type"], inventory.nodes[service.node])
    except drivers.NotAllowed as err:
        return str(err)
    if expected != payload["commands"] or drivers.target(name, service) != payload["target"]:
        return "the commands are not what the driver builds for this service now"
    return ""


def drift_keys(report: dict[str, Any]) -> set[str]:
    """The keys of the drifts in a ``drift.report``."""
    drifts = report.get("drifts")
    if not isinstance(drifts, list):
        return set()
    return {d["key"] for d in drifts if isinstance(d, dict) and isinstance(d.get("key"), str)}


def run(
    root: Path,
    endpoint: str,
    should_stop: Callable[[], bool],
    *,
    timeout: float = 300,
    parallel: int = 2,
    repo: Path | None = None,
) -> int:
    """Run an executor on the broker at ``endpoint`` until ``should_stop()``."""
    out = outbox.Outbox(endpoint, "executor")
    try:
        subscribe = ports.Subscriptions(endpoint)
        executor = Executor(root, out, subscribe, timeout=timeout, parallel=parallel, repo=repo)
        return executor.run(should_stop)
    finally:
        out.close(timeout=CLOSE_WAIT)
