"""What the dashboard counts, kept by the messages that change it: the world's healths
(``world.*``, ``actors.readmodel.live.world``), the queue (``action.*``, ``actors.readmodel.live.queue``), the drift
in brief (each ``drift.report`` is the whole report), and the desired revision with the
inventory's problems (``desired.revision``, ``desired.errors``). Seeded from the same
files ``homelab status`` reads."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from actors import atomic
from actors.domain import states, topics
from actors.readmodel import eventlog, summary, world
from actors.readmodel.live.queue import QueueFold
from actors.readmodel.live.world import WorldFold
from actors.readmodel.models import Counts, DriftBrief
from bus.dataroot import DataRoot
from bus.envelope import Message


class DashboardFold:
    def __init__(
        self,
        world: WorldFold,
        queue: QueueFold,
        drift: DriftBrief,
        desired: dict[str, Any],
        last_revision: dict[str, Any] | None = None,
    ):
        self.world, self.queue, self.drift = world, queue, drift
        self.desired, self.last_revision = desired, last_revision

    @classmethod
    def read(cls, root: Path) -> DashboardFold:
        """From the files (blocking: call it off the event loop)."""
        data = DataRoot(root)
        return cls(
            WorldFold(world.read(root)),
            QueueFold(root),
            summary.drift_brief(atomic.read_json_object(data.drift)),
            atomic.read_json_object(data.desired),
            eventlog.last_revision(root),
        )

    def apply(self, message: Message) -> bool:
        """Fold one message in; True if anything the dashboard shows changed."""
        topic, p = message.topic, message.payload
        if topic.startswith(topics.WORLD):
            return self.world.apply(message)
        if topic == topics.DRIFT_REPORT:
            self.drift = summary.drift_brief(p)
        elif topic == topics.DESIRED_REVISION:  # loaded: the problems are gone
            self.desired, self.last_revision = {"revision": p.get("revision"), "problems": []}, p
        elif topic == topics.DESIRED_ERRORS:  # the last good revision is kept
            self.desired = {**self.desired, "problems": list(p.get("problems") or [])}
        else:
            return self.queue.apply(message)  # action.*, and the bus's clock steps
        return True

    def counts(self, kind: str) -> Counts:
        """Nodes or services by health."""
        found = self.world.nodes if kind == "nodes" else self.world.services
        healths = collections.Counter(v.health for v in found.values())
        return _counts(healths)


def _counts(healths: collections.Counter) -> Counts:
    known = {h: healths[h] for h in states.HEALTHS}
    known[states.UNKNOWN] += sum(n for h, n in healths.items() if h not in states.HEALTHS)
    return Counts(**known)
