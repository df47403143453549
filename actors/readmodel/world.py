"""The world as the observer last wrote it (``world/``): every node and service with its
health, reason, since and checks, for the World page and its detail views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors import atomic
from actors.domain import states
from actors.readmodel.models import CheckView, NodeView, ServiceView, WorldView
from bus.dataroot import DataRoot


def read(root: Path) -> WorldView:
    folder = DataRoot(root).world
    summary = atomic.read_json_object(folder / "summary.json")
    nodes = atomic.read_json_object(folder / "nodes.json")
    services = atomic.read_json_object(folder / "services.json")
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
