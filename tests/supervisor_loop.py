"""The real supervisor on a ``StubBus`` (no sockets) whose log is a real event log under the
data root: what it publishes is stamped, logged and comes back to it in seq order, as the
broker delivers it. Observations are folded with the real ``world.apply``, so a drift keeps
its occurrence (``seqs[0]``) while the agent keeps saying the same thing, as it does live.

``restart()`` makes a new ``Supervisor`` from the same data root: it rebuilds its queue from
that log and its own ``state/supervisor.json``, as the process does at start.
"""

from __future__ import annotations

from pathlib import Path

from actors.desired_state import Desired
from actors.domain.inventory import Inventory
from actors.domain.world import World
from actors.revision import Revision
from actors.supervisor import Supervisor
from bus import filelog
from bus.envelope import Message
from bus.stub import StubBus

INVENTORY = Inventory.model_validate(
    {
        "nodes": {"vps": {"address": "127.0.0.1"}},
        "services": {"db": {"node": "vps", "kind": "systemd", "unit": "postgresql.service"}},
    }
)
BEAT_EVERY = 2.0  # seconds between the agent's heartbeats; silent after 3 missed


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loop:
    """A supervisor whose messages are stamped, logged and handed back to it in order."""

    def __init__(self, root: Path, **options):
        self.root, self.options = root, options
        self.bus = StubBus(filelog.FileLog.open_for_append(root / "events")[0], time=100.0)
        self.clock = Clock()
        self.supervisor = self._made()
        self.supervisor.world = World(seq=self.seq, time=self.bus.time)
        self.subscription = self.supervisor.start()
        self.heartbeat()

    @property
    def seq(self) -> int:
        return self.bus.last_seq

    @property
    def published(self) -> list[Message]:
        """Every message stored, in seq order (those the test fed in too)."""
        return self.bus.messages

    def _made(self) -> Supervisor:
        out = self.bus.outbox("supervisor")
        supervisor = Supervisor(
            self.root, self.root, out, self.bus, clock=self.clock, **self.options
        )
        supervisor.desired = Desired(INVENTORY, Revision("rev1", "c1", "x"))
        return supervisor

    def restart(self) -> None:
        """A new supervisor from the data root: its state file and the log's action.*."""
        before = self.supervisor
        self.supervisor = self._made()
        self.supervisor.desired = before.desired
        self.supervisor.epoch = before.epoch
        self.supervisor.world = before.world  # the observer's checkpoint, as far as it got
        self.subscription = self.supervisor.start()
        self.pump()

    def close(self) -> None:
        self.bus.log.close()

    def pump(self) -> None:
        """The supervisor takes what its feed holds, and what it publishes meanwhile."""
        for message in self.subscription.drain():
            self.supervisor.take(message)

    def feed(self, topic: str, payload: dict, source: str, id: str | None = None) -> Message:
        """A message from another part of the system (or the broker's own, ``bus.*``)."""
        message = self.bus.emit(topic, payload, source=source, id=id)
        self.pump()
        return message

    def heartbeat(self) -> None:
        beat = {"node": "vps", "interval": BEAT_EVERY, "checks": 1, "started_at": 0.0}
        self.feed("obs.node.vps.agent", beat, "agent:vps")

    def observe(self, state: str, outcome: str) -> None:
        """The agent runs db's state probe and reports it (after a heartbeat)."""
        self.heartbeat()
        self.feed(
            "obs.node.vps.service.db",
            {
                "node": "vps",
                "service": "db",
                "check": "state",
                "outcome": outcome,
                "detail": state,
                "facts": {"state": state},
                "interval": BEAT_EVERY,
                "observed_at": self.bus.time,
            },
            "agent:vps",
        )

    def wait(self, seconds: float) -> None:
        """Time passes on the bus (the broker's clock ticks) and in the supervisor."""
        self.bus.time += seconds - self.bus.step
        self.clock.now += seconds
        self.feed("bus.stats", {}, "broker")

    def clock_step(self, seconds: float) -> None:
        """The broker's wall clock steps by ``seconds``; the first message it stamps after
        says so (``bus.clock``). The supervisor's own clock does not move."""
        self.bus.time += seconds - self.bus.step
        self.feed("bus.clock", {"step": seconds, "found": "running", "report": ""}, "broker")

    def evaluate(self) -> int:
        """One evaluation; the number of messages so far, to read what came after."""
        mark = len(self.published)
        self.supervisor.evaluate_and_publish()
        self.pump()
        return mark

    def check_deadlines(self) -> None:
        self.supervisor.check_deadlines()
        self.pump()

    def publish_slices(self) -> None:
        self.supervisor.publish_slices()
        self.pump()

    def topics(self, since: int = 0) -> list[tuple[str, str]]:
        return [(m.topic, m.payload.get("id", "")) for m in self.published[since:]]

    def recommended(self, since: int = 0) -> list[str]:
        return [i for t, i in self.topics(since) if t == "action.recommended"]

    def held(self) -> dict[str, str]:
        """The latest drift report's held drifts: key -> why."""
        report = self.report()
        return {h["drift"]: h["why"] for h in report["held"]} if report else {}

    def report(self) -> dict | None:
        found = [m.payload for m in self.published if m.topic == "drift.report"]
        return found[-1] if found else None

    def state(self, action_id: str) -> str:
        return self.supervisor.queue.records[action_id].action.state

    def approve(self, action_id: str, by: str = "oskar") -> Message:
        """An operator approves from the shell, with the hash they were shown."""
        record = self.supervisor.queue.records[action_id]
        payload = {"id": action_id, "by": by, "hash": record.action.hash}
        return self.feed("action.request.approve", payload, f"cli:{by}", f"r-{self.seq + 1}")

    def reject(self, action_id: str, reason: str = "not during backups") -> None:
        payload = {"id": action_id, "by": "oskar", "reason": reason}
        self.feed("action.request.reject", payload, "cli:oskar", f"reject-{action_id}")

    def commit(self, inventory: Inventory, revision: str) -> None:
        """A new commit of the repository, as ``watch_repository`` takes it."""
        self.supervisor.desired = Desired(inventory, Revision(revision, revision, revision))
        self.supervisor.epoch += 1

    def run(self, action_id: str, end: str = "succeeded", **result) -> None:
        """The executor runs it and reports how it ended (with the executor's ids)."""
        running = {"id": action_id, "timeout": 300.0}
        self.feed("action.running", running, "executor", f"running-{action_id}")
        self.feed(f"action.{end}", {"id": action_id, **result}, "executor", f"{end}-{action_id}")

    def fix(self, action_id: str) -> None:
        """Approved, and the executor runs it successfully."""
        self.approve(action_id)
        self.run(action_id)
