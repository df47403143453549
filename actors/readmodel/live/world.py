"""The world as ``world/`` held it when the page opened, then each change of health the
observer publishes (``world.node.N``, ``world.service.S``): health, reason, since, and the
node of a service not seen before. A change the files already held (its cause is not after
what they show) changes nothing, so the feed's recent messages can be folded in after them.

The observer publishes a change of health, not each new reason or "last seen": those stay
as the page found them until the health changes (the service's own page follows its
observations for that)."""

from __future__ import annotations

from typing import Any

from actors.domain import topics
from actors.readmodel.models import NodeView, ServiceView, WorldView
from bus.envelope import Message


class WorldFold:
    def __init__(self, view: WorldView):
        self.seq, self.time = view.seq, view.time
        self.nodes = {n.name: n for n in view.nodes}
        self.services = {s.name: s for s in view.services}

    def apply(self, message: Message) -> bool:
        """Fold one message in; True if a node or a service changed."""
        kind, _, name = message.topic.removeprefix(topics.WORLD).partition(".")
        p = message.payload
        if (
            not message.topic.startswith(topics.WORLD)
            or kind not in ("node", "service")
            or not name
        ):
            return False
        cause = p.get("cause_seq")
        if not isinstance(cause, int) or cause <= self.seq or not isinstance(p.get("health"), str):
            return False  # the files held it already, or it is not a change
        known: dict[str, Any] = self.nodes if kind == "node" else self.services  # of that kind
        shown = known.get(name)
        if shown is not None and cause <= shown.since_seq:
            return False
        changed = {
            "health": p["health"],
            "reason": str(p.get("reason") or ""),
            "since": float(p.get("since") or message.time),
            "since_seq": cause,
        }
        known[name] = shown.model_copy(update=changed) if shown else new(kind, name, p, changed)
        return True

    def view(self) -> WorldView:
        return WorldView(
            seq=self.seq,
            time=self.time,
            nodes=[self.nodes[n] for n in sorted(self.nodes)],
            services=[self.services[s] for s in sorted(self.services)],
        )


def new(kind: str, name: str, payload: dict, changed: dict) -> NodeView | ServiceView:
    """A node or service first seen in a change (no checks known yet)."""
    if kind == "node":
        return NodeView(name=name, last_seen=None, checks={}, **changed)
    node = str(payload.get("node") or "")
    return ServiceView(name=name, node=node, last_seen=changed["since"], checks={}, **changed)
