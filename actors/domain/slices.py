"""The desired state, node by node, on the bus: ``desired.node.<node>``. Pure.

The supervisor publishes each node's slice of the inventory whenever its content changes,
and an empty slice for a node that left the inventory. The world folds the slices to judge
health against what is wanted (a service declared stopped and stopped is healthy); a remote
agent can follow its own node's slice. The payload (JSON values only, docs/protocol.md):

    {"node": NAME, "revision": REV,
     "definition": <the node's inventory entry> | null (the node left the inventory),
     "services": {SERVICE: <its inventory entry>, ...}}

The content (everything but ``revision``) has a digest; the supervisor remembers the digest
it last published per node, so an unchanged slice is not sent again. A message id is derived
from the node, the digest and the supervisor's epoch (how often the desired state changed):
the same slice derived again (a restart, a replay) is stored once, and a slice that comes
back after a revert gets a new id, so it is stored again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pydantic

from actors.domain import topics
from actors.domain.inventory import Inventory

STATES = ("running", "stopped")  # what a service's ``desired`` may say

Out = tuple[str, dict[str, Any], str]  # topic, payload, message id


def payload(inventory: Inventory, node: str, revision: str) -> dict[str, Any]:
    """``node``'s slice of ``inventory`` (an empty one if the node is not in it)."""
    definition = inventory.nodes.get(node)
    return {
        "node": node,
        "revision": revision,
        "definition": definition.model_dump(mode="json") if definition is not None else None,
        "services": {
            name: service.model_dump(mode="json")
            for name, service in sorted(inventory.services_of(node).items())
        },
    }


def digest(slice_: Mapping[str, Any]) -> str:
    """What the slice says, as a hash: everything but the revision it was sent under."""
    content = {k: v for k, v in slice_.items() if k != "revision"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def message_id(node: str, content: str, epoch: int) -> str:
    text = "\0".join((node, content, str(epoch)))
    return "desired-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def changes(
    inventory: Inventory, revision: str, published: Mapping[str, str], epoch: int
) -> tuple[list[Out], dict[str, str]]:
    """The slices to publish, given the digest last published per node; and the digests
    after them. A node in ``published`` that left the inventory gets an empty slice, and
    is then forgotten."""
    out: list[Out] = []
    now: dict[str, str] = {}
    for node in sorted(set(inventory.nodes) | set(published)):
        slice_ = payload(inventory, node, revision)
        content = digest(slice_)
        if node in inventory.nodes:
            now[node] = content
        if published.get(node) != content:
            out.append((topics.desired_node(node), slice_, message_id(node, content, epoch)))
    return out, now


def answer_id(node: str, content: str, epoch: int, heartbeat_seq: int) -> str:
    """The id of a slice sent again to the agent whose heartbeat (at ``heartbeat_seq``) said
    it holds another: one per such heartbeat, so an agent that missed the answer is answered
    again at its next heartbeat, and a replay of the same heartbeat is stored once."""
    text = "\0".join((node, content, str(epoch), "for", str(heartbeat_seq)))
    return "desired-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def inventory_of(slice_: Any, node: str) -> Inventory | None:
    """The inventory a remote agent of ``node`` probes by, from a received slice: the node
    and its services; None when the slice says the node left the inventory. ValueError
    (one line) when the payload is not a valid slice of ``node``."""
    desired_states(slice_, node)
    definition = slice_.get("definition")
    if definition is None:
        return None
    try:
        inventory = Inventory.model_validate(
            {"nodes": {node: definition}, "services": slice_["services"]}
        )
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None
    if inventory.references():
        raise ValueError("a service of the slice is on another node")
    return inventory


def desired_states(slice_: Any, node: str) -> dict[str, str]:
    """What each service of a received slice for ``node`` should be (``running`` or
    ``stopped``); ValueError saying why the payload is not a slice of that node."""
    if not isinstance(slice_, dict) or slice_.get("node") != node:
        raise ValueError("node does not match the topic")
    services = slice_.get("services")
    if not isinstance(services, dict):
        raise ValueError("services: not a map")
    found = {}
    for name, entry in services.items():
        if not isinstance(entry, dict) or entry.get("node", node) != node:
            raise ValueError(f"services.{name}: not a service of node {node}")
        state = entry.get("desired", "running")
        if state not in STATES:
            raise ValueError(f"services.{name}.desired: not one of {', '.join(STATES)}")
        found[str(name)] = state
    return found
