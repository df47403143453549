"""The agent: runs one node's probes on their intervals and publishes what they see.

``plan`` (pure) says what to probe and how often; ``Agent`` runs the plan on an asyncio
loop. Each probe has its own timeout (inside ``probes``), and a probe that is still running
when it is due again is not started twice, so one slow probe delays nothing else.

``Reporter`` (pure) says what goes on the bus: a result in full when it differs from the
last one the broker stored (outcome, detail, facts) or once ``refresh`` seconds have passed
since it went in full; otherwise the check is named in the next heartbeat as run again
unchanged, with the seq the agent knew stored when the run began (``observations``). So a
quiet node writes one heartbeat per interval instead of a message per check.

What it probes by comes from one of two sources: ``RepoInventory``, a checkout of the
repository (read again when its files change), or ``SliceInventory``, for an agent on
another machine with no checkout: its node's slice of the desired state, which the
supervisor publishes and the agent follows on the bus and keeps on disk
(``followed_slice``). Its heartbeat then says which slice it holds, so the supervisor sends
the current one again to an agent that lacks it.

It publishes through what it is given (``bus.ports.Publish``): ``run()`` gives it an
``Outbox`` that holds ``HELD_WHILE_AWAY`` observations for a broker that is away.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from actors import probes
from actors.domain import inventory_files, observations, topics
from actors.domain.inventory import Inventory, check_id
from actors.domain.observations import Heartbeat, Observation
from actors.followed_slice import FollowedSlice
from bus import aio, client, outbox, ports
from bus.envelope import Message

log = logging.getLogger("homelab.agent")
RELOAD_EVERY = 5.0
JITTER = 0.05  # each run is due interval * (1 ± 5 %) after the last
HELD_WHILE_AWAY = 2000  # observations kept for a broker that is away; then newer are dropped
REFRESH = 600.0  # seconds after which an unchanged result goes in full anyway
WAITING_BEAT = 5.0  # heartbeat interval of an agent that has no desired state to probe by
FOLLOW_BACKOFF = (1.0, 60.0)  # first and longest wait before following the bus again


@dataclasses.dataclass(frozen=True)
class Job:
    """One probe of the plan: a service's state or one of its checks, or a node check."""

    key: str
    interval: float
    probe: Callable[[], Awaitable[Observation | None]]


def plan(inventory: Inventory, node_name: str) -> list[Job]:
    node = inventory.nodes[node_name]
    jobs = []
    for check in node.checks:
        jobs.append(
            _check_job(
                f"node/{check_id(check)}", check, node_name, node.address, None, node.interval
            )
        )
    for name, service in sorted(inventory.services_of(node_name).items()):
        interval = service.interval or node.interval
        if service.kind not in ("http", "tcp"):
            jobs.append(
                Job(
                    f"service/{name}/state",
                    interval,
                    _state_probe(name, service, node_name, interval),
                )
            )
        for check in service.checks:
            jobs.append(
                _check_job(
                    f"service/{name}/{check_id(check)}",
                    check,
                    node_name,
                    node.address,
                    name,
                    interval,
                )
            )
    return jobs


def _check_job(key, check, node_name, address, service, interval) -> Job:
    async def probe() -> Observation:
        return await probes.run_check(
            check, node_name=node_name, node_address=address, service=service, interval=interval
        )

    return Job(key, interval, probe)


def _state_probe(name, service, node_name, interval):
    async def probe() -> Observation | None:
        return await probes.probe_state(name, service, node_name=node_name, interval=interval)

    return probe


class Reporter:
    """Which results go on the bus in full, and which checks the next heartbeat names as
    run again unchanged. Pure: the caller gives the clock and says what the broker stored.

    A result counts as known to the world only once it is durable (``stored``): one that
    was never stored (the broker away, the outbox full) is sent in full again next time,
    and so is every result while one of the same check is on its way (the world will have
    that one, whatever the agent knew stored before)."""

    def __init__(self, refresh: float = REFRESH):
        self.refresh = refresh
        self.stored_seq = 0  # the highest seq of this agent's messages known stored
        self._known: dict[str, tuple[tuple, float]] = {}  # key -> (what, sent at), stored
        self._same: dict[str, int] = {}  # key -> stored_seq when its unchanged run began
        self._on_the_way: dict[str, int] = {}  # key -> results sent, not yet stored

    def began(self) -> int:
        """Call when a probe starts: what it will be "observed after"."""
        return self.stored_seq

    def full(self, key: str, observation: Observation, began: int, now: float) -> bool:
        """Whether this result goes in full (else the next heartbeat names it)."""
        known = self._known.get(key)
        if (
            self.refresh <= 0
            or self._on_the_way.get(key)
            or known is None
            or known[0] != what(observation)
            or now - known[1] >= self.refresh
            or began <= 0
        ):
            self._same.pop(key, None)
            return True
        self._same[key] = began
        return False

    def sending(self, key: str) -> None:
        """A result of ``key`` in full was handed to the outbox."""
        self._on_the_way[key] = self._on_the_way.get(key, 0) + 1

    def stored(self, seq: int | None, key: str | None = None, sent: tuple | None = None) -> None:
        """The broker stored one of this agent's messages at ``seq`` (None: refused): a
        result in full (``key``, ``sent``: ``(what, when)``) or anything else."""
        if key is not None:
            self._on_the_way[key] -= 1
        if seq is None:
            return
        self.stored_seq = max(self.stored_seq, seq)
        if key is not None and sent is not None:
            self._known[key] = sent

    def heartbeat(self) -> dict[str, Any]:
        """``unchanged`` and ``since`` for the next heartbeat ({} when none), then forgets."""
        if not self._same:
            return {}
        unchanged: dict[str, list[str]] = {}
        for key in sorted(self._same):
            owner, _, check = key.rpartition("/")
            service = "" if owner == "node" else owner.removeprefix("service/")
            unchanged.setdefault(service, []).append(check)
        since = min(self._same.values())
        self._same = {}
        return {"unchanged": unchanged, "since": since}


def what(observation: Observation) -> tuple:
    """What of a result the world keeps and judges by (not its latency or its clock)."""
    return observation.outcome, observation.detail, tuple(sorted(observation.facts.items()))


class Source(Protocol):
    """Where an agent's inventory comes from."""

    @property
    def inventory(self) -> Inventory | None:
        """None: nothing to probe by (yet)."""
        ...

    @property
    def digest(self) -> str | None:
        """The slice held, for the heartbeat; None: not a followed slice."""
        ...

    def changed(self, now: float) -> bool:
        """True if the inventory changed since last asked (``now``: monotonic)."""
        ...

    async def follow(self) -> None:
        """Keep the inventory up to date until cancelled."""
        ...


class RepoInventory:
    """A checkout of the repository: read again when its files change (looked at every
    ``RELOAD_EVERY`` seconds), the last good inventory kept while the files are not valid."""

    digest: str | None = None

    def __init__(self, repo: Path, node: str, inventory: Inventory | None = None):
        """InventoryError if the repository's inventory is not valid or lacks ``node``."""
        self.repo, self.node = repo, node
        self.inventory: Inventory | None = inventory or load(repo, node)
        self._stamp = _files_stamp(repo)
        self._next = time.monotonic() + RELOAD_EVERY

    def changed(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + RELOAD_EVERY
        stamp = _files_stamp(self.repo)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            inventory = inventory_files.load(self.repo)
        except inventory_files.InventoryError as err:
            log.warning("inventory changed but is not valid; keeping the last good one:\n%s", err)
            return False
        if self.node not in inventory.nodes:
            log.warning("inventory no longer has node %s; keeping the last good one", self.node)
            return False
        self.inventory = inventory
        log.info("inventory reloaded")
        return True

    async def follow(self) -> None:
        return


class SliceInventory:
    """The node's slice of the desired state, followed on the bus (``feed``: a fresh
    subscription to ``desired.node.<node>``, from now on), held by ``followed``."""

    def __init__(self, followed: FollowedSlice, feed: Callable[[], AsyncIterable[Message]]):
        self.followed, self.feed = followed, feed
        self._changed = False

    @property
    def inventory(self) -> Inventory | None:
        return self.followed.inventory

    @property
    def digest(self) -> str:
        return self.followed.digest

    def changed(self, now: float) -> bool:
        changed, self._changed = self._changed, False
        return changed

    async def follow(self) -> None:
        """Follow the slices; a refused subscription (a revoked key) is tried again with
        back-off, and said once per reason."""
        wait, said = FOLLOW_BACKOFF[0], ""
        while True:
            try:
                async for message in self.feed():
                    wait = FOLLOW_BACKOFF[0]
                    if self.followed.take(message):
                        self._changed = True
            except client.BusError as err:
                if str(err) != said:
                    said = str(err)
                    log.warning("following the desired state: %s (trying again)", err)
            await asyncio.sleep(wait)
            wait = min(wait * 2, FOLLOW_BACKOFF[1])


class Agent:
    def __init__(
        self,
        node: str,
        out: ports.Publish,
        source: Source,
        *,
        rng: random.Random | None = None,
        refresh: float = REFRESH,
    ):
        """``out`` publishes as ``agent:<node>``; ``source``: what it probes by."""
        self.node, self.out, self.source = node, out, source
        self.rng = rng or random.Random()
        self.reporter = Reporter(refresh)
        self._started_at = time.time()
        self._warned = False

    def plan(self) -> list[Job]:
        inventory = self.source.inventory
        if inventory is None or self.node not in inventory.nodes:
            return []
        return plan(inventory, self.node)

    async def run(self, should_stop: Callable[[], bool]) -> None:
        jobs = self.plan()
        due = {
            job.key: time.monotonic() + self.rng.uniform(0, min(job.interval, 2.0)) for job in jobs
        }
        running: dict[str, asyncio.Task] = {}
        next_beat = time.monotonic()
        following = asyncio.create_task(self.source.follow())
        log.info("agent for %s: %d probes", self.node, len(jobs))
        try:
            while not should_stop():
                now = time.monotonic()
                if self.source.changed(now):
                    jobs = self.plan()
                    due = {j.key: due.get(j.key, now) for j in jobs}
                    next_beat = now  # says at once what it now holds, and its interval
                    log.info("agent for %s: %d probes", self.node, len(jobs))
                if now >= next_beat:
                    next_beat = now + await self._heartbeat(len(jobs))
                for job in jobs:
                    if now >= due[job.key] and job.key not in running:
                        running[job.key] = asyncio.create_task(self._probe_and_publish(job))
                        due[job.key] = now + job.interval * self.rng.uniform(1 - JITTER, 1 + JITTER)
                for key in [k for k, task in running.items() if task.done()]:
                    running.pop(key)
                await asyncio.sleep(0.05)
        finally:
            for task in (*running.values(), following):
                task.cancel()
            await asyncio.gather(*running.values(), following, return_exceptions=True)

    async def _probe_and_publish(self, job: Job) -> None:
        began = self.reporter.began()
        try:
            observation = await job.probe()
        except Exception:  # probes never raise; if one does, it is a bug worth a log line
            log.exception("probe %s failed", job.key)
            return
        if observation is None:
            return
        now = time.monotonic()
        if self.reporter.full(job.key, observation, began, now):
            sent = (what(observation), now)
            await self._publish(
                observations.topic_for(observation), observation.model_dump(), job.key, sent
            )

    async def _heartbeat(self, checks: int) -> float:
        """Send one; the seconds until the next."""
        inventory = self.source.inventory
        node = inventory.nodes.get(self.node) if inventory is not None else None
        interval = node.interval if node is not None else WAITING_BEAT
        beat = Heartbeat(
            node=self.node,
            interval=interval,
            missed_intervals=node.missed_intervals if node is not None else 3,
            checks=checks,
            started_at=self._started_at,
            desired=self.source.digest,
            **self.reporter.heartbeat(),
        )
        left_out = set() if beat.unchanged else {"unchanged", "since"}
        if beat.desired is None:
            left_out.add("desired")
        await self._publish(topics.heartbeat(self.node), beat.model_dump(exclude=left_out))
        return interval

    async def _publish(
        self, topic: str, payload: dict, key: str | None = None, sent: tuple | None = None
    ) -> None:
        """Handed to the outbox, never awaited: a broker that is away delays no probe. Once
        stored, the reporter hears of it (on this loop)."""
        try:
            future = self.out.send(topic, payload)
            self._warned = False
        except outbox.Full as err:
            if not self._warned:  # observations are periodic: newer ones will come
                log.warning("dropping observations until the broker is back: %s", err)
                self._warned = True
            return
        if key is not None:
            self.reporter.sending(key)
        loop = asyncio.get_running_loop()

        def stored(done: concurrent.futures.Future) -> None:  # in the outbox's thread
            ok = not done.cancelled() and done.exception() is None
            try:
                loop.call_soon_threadsafe(
                    self.reporter.stored, done.result() if ok else None, key, sent
                )
            except RuntimeError:  # the loop is gone: the agent stopped
                pass

        future.add_done_callback(stored)


def load(repo: Path, node: str) -> Inventory:
    """The repository's inventory; InventoryError if it is not valid or lacks ``node``."""
    inventory = inventory_files.load(repo)
    if node not in inventory.nodes:
        known = ", ".join(sorted(inventory.nodes)) or "none"
        raise inventory_files.InventoryError(
            [
                inventory_files.Problem(
                    str(repo), None, f"node {node!r} is not in the inventory (known: {known})"
                )
            ]
        )
    return inventory


def _files_stamp(repo: Path) -> tuple:
    stamps = []
    for path in inventory_files.find_files(repo):
        try:
            stat = path.stat()
            stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
        except OSError:
            continue
    return tuple(stamps)


def run(
    repo: Path | None,
    node: str,
    endpoint: str,
    should_stop: Callable[[], bool],
    refresh: float = REFRESH,
    slice_file: Path | None = None,
) -> int:
    """Probe ``node`` by the inventory of ``repo``, or with no repository by its slice of
    the desired state, followed on the bus and kept at ``slice_file``. ``refresh``: seconds
    after which an unchanged result goes in full anyway (0: every result in full)."""
    source: Source
    if repo is not None:
        source = RepoInventory(repo, node)  # an unknown node is said before anything connects
    else:
        assert slice_file is not None, "an agent without a repository keeps its slice on disk"
        topic = topics.desired_node(node)
        followed = FollowedSlice(slice_file, node)  # AlreadyFollowed: one agent per node here
        source = SliceInventory(followed, lambda: aio.AsyncSubscriber(endpoint, topic))
    out = outbox.Outbox(endpoint, f"agent:{node}", limit=HELD_WHILE_AWAY)
    try:
        asyncio.run(Agent(node, out, source, refresh=refresh).run(should_stop))
    finally:
        out.close(timeout=2.0)
        if isinstance(source, SliceInventory):
            source.followed.close()
    return 0
