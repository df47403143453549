"""The world as the observer last wrote it (``world/``): every node and service with its
health, reason, since and checks, for the World page and its detail views.

The one reader of ``world/*.json``: the summary, ``homelab drift`` and the pages' folds
take the files from here (``files``), or the world itself (``fold_state``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from actors import atomic, world_checkpoint
from actors.domain import states, world_codec
from actors.domain.world import World
from actors.readmodel.models import CheckView, NodeView, ServiceView, WorldView
from bus.dataroot import DataRoot


@dataclasses.dataclass(frozen=True)
class WorldFiles:
    """``world/``'s three files as read (each ``{}`` when absent or unreadable)."""

    summary: dict[str, Any]
    nodes: dict[str, Any]
    services: dict[str, Any]

    @property
    def observed(self) -> bool:
        """The observer has written ``world/`` at least once."""
        return bool(self.summary)


def files(root: Path) -> WorldFiles:
    folder = DataRoot(root).world
    return WorldFiles(
        summary=atomic.read_json_object(folder / "summary.json"),
        nodes=atomic.read_json_object(folder / "nodes.json"),
        services=atomic.read_json_object(folder / "services.json"),
    )


def read(root: Path) -> WorldView:
    found = files(root)
    summary, nodes, services = found.summary, found.nodes, found.services
    return WorldView(
        seq=int(summary.get("seq", 0)),
        time=float(summary.get("time", 0.0)),
        nodes=[_node(name, entry) for name, entry in sorted(nodes.items())],
        services=[_service(name, entry) for name, entry in sorted(services.items())],
    )


def _node(name: str, entry: dict[str, Any]) -> NodeView:
    return NodeView(
        name=name,
        health=entry.get("health", states.UNKNOWN),
        reason=entry.get("reason", ""),
        since=entry.get("since", 0.0),
        since_seq=entry.get("since_seq", 0),
        last_seen=entry.get("last_seen"),
        checks=_checks(entry),
    )


def _service(name: str, entry: dict[str, Any]) -> ServiceView:
    return ServiceView(
        name=name,
        node=entry.get("node", ""),
        desired=entry.get("desired"),
        health=entry.get("health", states.UNKNOWN),
        reason=entry.get("reason", ""),
        since=entry.get("since", 0.0),
        since_seq=entry.get("since_seq", 0),
        last_seen=entry.get("last_seen", 0.0),
        checks=_checks(entry),
    )


def _checks(entry: dict[str, Any]) -> dict[str, CheckView]:
    return {cid: CheckView(**check) for cid, check in sorted(entry.get("checks", {}).items())}


def fold_state(data: DataRoot) -> World | None:
    """The world as the fold holds it: the checkpoint's or the one in ``world/``, whichever
    is later in the log; None if the observer has written neither."""
    checkpoint = world_checkpoint.load(data.checkpoint)
    found = [w for w in (checkpoint[0] if checkpoint else None, _from_files(data.path)) if w]
    return max(found, key=lambda w: w.seq, default=None)


def _from_files(root: Path) -> World | None:
    found = files(root)
    if not found.observed:
        return None
    summary, services = found.summary, found.services
    desired: dict[str, dict[str, str]] = {}
    for name, entry in services.items():
        if isinstance(entry, dict) and entry.get("desired") is not None:
            desired.setdefault(str(entry.get("node")), {})[name] = entry["desired"]
    try:
        return world_codec.from_dict(
            {
                "seq": summary.get("seq"),
                "time": summary.get("time"),
                **{k: summary[k] for k in ("clock", "steps") if k in summary},  # none before
                "rejected": summary.get("rejected"),
                "last_rejected": "",
                "nodes": found.nodes,
                "services": services,
                "desired": desired,
            }
        )
    except ValueError:  # torn between files or from another version: the checkpoint decides
        return None
