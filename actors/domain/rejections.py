"""Rejections that hold: an operator's "no" to the fix of a drift stands until that drift or
the service's desired state changes. Pure.

A rejection is remembered per drift key (``Drift.key``) with two things it answered: the
occurrence of the drift (``seqs[0]``, the observation that began it) and a fingerprint of
the desired definition the fix came from (the service's inventory entry and its node's).
While both are unchanged, the drift is held. A commit that changes another service changes
the revision (and so every action id) but neither of these, so the fix does not come back;
a commit that changes this service or its node, or the drift ending and beginning again,
ends the hold.

The queue's records are the truth: ``from_records`` rebuilds the rejections from them (an
action's file, or ``Record.to_dict``), which the queue rebuilds from the log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from actors.domain import states
from actors.domain.drift import Drift
from actors.domain.inventory import Inventory

HELD_UNTIL = "held until the drift or the service's desired state changes"


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    action: str  # the rejected action's id
    began: int  # the drift's occurrence it answered (its seqs[0])
    definition: str  # fingerprint of the service's desired definition then ("" unknown)
    by: str
    reason: str
    at: float

    def holds(self, drift: Drift, definition: str) -> bool:
        """Still the same drift, under the same desired definition of its service."""
        return (
            bool(self.definition)
            and self.definition == definition
            and bool(drift.seqs)
            and drift.seqs[0] == self.began
        )

    def why(self) -> str:
        said = f": {self.reason}" if self.reason else ""
        return f"rejected by {self.by}{said}; {HELD_UNTIL}"


def fingerprint(desired: Inventory, service: str) -> str:
    """The service's desired definition as one short hash: its inventory entry and its
    node's, as JSON values."""
    entry = desired.services[service]
    node = desired.nodes.get(entry.node)
    both = [entry.model_dump(mode="json"), node.model_dump(mode="json") if node else None]
    text = json.dumps(both, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def of_record(record: Mapping[str, Any]) -> tuple[str, Rejection] | None:
    """The rejection an action's record holds (its drift key and it), None if it holds none."""
    if record.get("state") != states.REJECTED:
        return None
    drift = record.get("drift") or {}
    key, seqs = drift.get("key"), drift.get("seqs") or []
    event = next((e for e in reversed(record.get("history") or []) if e["kind"] == "reject"), None)
    if not key or not seqs or event is None:
        return None
    return key, Rejection(
        action=str(record["id"]),
        began=int(seqs[0]),
        definition=str(record.get("definition") or ""),
        by=str(event.get("by", "")),
        reason=str(event.get("reason", "")),
        at=float(event["at"]),
    )


def from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Rejection]:
    """The latest rejection of each drift key among the queue's records."""
    found: dict[str, Rejection] = {}
    for record in records:
        rejected = of_record(record)
        if rejected is not None:
            key, rejection = rejected
            if key not in found or rejection.at >= found[key].at:
                found[key] = rejection
    return found


def to_json(rejections: Mapping[str, Rejection]) -> dict[str, dict[str, Any]]:
    return {key: dataclasses.asdict(r) for key, r in sorted(rejections.items())}


def from_json(data: Mapping[str, Any]) -> dict[str, Rejection]:
    """What ``to_json`` saved; entries that do not fit are dropped (the log rebuilds them)."""
    found = {}
    for key, entry in data.items():
        try:
            found[str(key)] = Rejection(**entry)
        except TypeError:
            continue
    return found
