"""The supervisor's loop without sockets: what it publishes is stamped, appended to a real
event log under the data root and handed straight back to it, as the bus would deliver it.
Observations are folded with the real ``world.apply``, so a drift keeps its occurrence
(``seqs[0]``) while the agent keeps saying the same thing, as it does live.

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
from bus import envelope, filelog
from bus.envelope import Message

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
        self.seq, self.time = 0, 100.0
        self.published: list[Message] = []
        self.log, _ = filelog.FileLog.open_for_append(root / "events")
        self.clock = Clock()
        self.supervisor = self._start()
        self.supervisor.world = World(seq=self.seq, time=self.time)
        self.heartbeat()

    def _start(self) -> Supervisor:
        supervisor = Supervisor(
            self.root, self.root, "tcp://127.0.0.1:9", clock=self.clock, **self.options
        )
        supervisor._publish = self._publish
        supervisor.desired = Desired(INVENTORY, Revision("rev1", "c1", "x"))
        return supervisor

    def restart(self) -> None:
        """A new supervisor from the data root: its state file and the log's action.*."""
        before = self.supervisor
        before.outbox.close(0)
        self.supervisor = self._start()
        self.supervisor.desired = before.desired
        self.supervisor.epoch = before.epoch
        self.supervisor.world = before.world  # the observer's checkpoint, as far as it got
        self.supervisor._replay_actions(until=self.seq)

    def close(self) -> None:
        self.supervisor.outbox.close(0)
        self.log.close()

    def stamp(self, topic: str, payload: dict, msg_id: str, source: str) -> Message:
        self.seq += 1
        self.time += 1.0
        wire = envelope.encode_wire(topic, msg_id, source, payload)
        self.log.append([envelope.stamp(wire, self.seq, self.time)])
        message = Message(self.seq, self.time, topic, msg_id, source, payload)
        self.published.append(message)
        return message

    def _publish(self, topic: str, payload: dict, msg_id: str, source: str = "supervisor"):
        message = self.stamp(topic, payload, msg_id, source)
        if topic.startswith("action.") or topic == "drift.gave_up":  # what it subscribes to
            self.supervisor._take(message)

    def feed(self, topic: str, payload: dict, source: str) -> None:
        """A message from another part of the system, which the supervisor folds."""
        self.supervisor._take(self.stamp(topic, payload, f"m{self.seq + 1}", source))

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
                "observed_at": self.time,
            },
            "agent:vps",
        )

    def wait(self, seconds: float) -> None:
        """Time passes on the bus (the broker's clock ticks) and in the supervisor."""
        self.time += seconds - 1.0
        self.clock.now += seconds
        self.feed("bus.stats", {}, "broker")

    def clock_step(self, seconds: float) -> None:
        """The broker's wall clock steps by ``seconds``; the first message it stamps after
        says so (``bus.clock``). The supervisor's own clock does not move."""
        self.time += seconds - 1.0
        self.feed("bus.clock", {"step": seconds, "found": "running", "report": ""}, "broker")

    def evaluate(self) -> int:
        """One evaluation; the number of messages so far, to read what came after."""
        mark = len(self.published)
        self.supervisor.evaluate_and_publish()
        return mark

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
        request = self.stamp(
            "action.request.approve",
            {"id": action_id, "by": by, "hash": record.action.hash},
            f"r-{self.seq + 1}",
            f"cli:{by}",
        )
        self.supervisor._take(request)
        return request

    def reject(self, action_id: str, reason: str = "not during backups") -> None:
        self._publish(
            "action.request.reject",
            {"id": action_id, "by": "oskar", "reason": reason},
            f"reject-{action_id}",
            "cli:oskar",
        )

    def commit(self, inventory: Inventory, revision: str) -> None:
        """A new commit of the repository, as ``watch_repository`` takes it."""
        self.supervisor.desired = Desired(inventory, Revision(revision, revision, revision))
        self.supervisor.epoch += 1

    def run(self, action_id: str, end: str = "succeeded", **result) -> None:
        """The executor runs it and reports how it ended."""
        self._publish("action.running", {"id": action_id, "timeout": 300.0}, "r2", "executor")
        self._publish(f"action.{end}", {"id": action_id, **result}, "r3", "executor")

    def fix(self, action_id: str) -> None:
        """Approved, and the executor runs it successfully."""
        self.approve(action_id)
        self.run(action_id)
