"""The action queue: every ``action.*`` message folded into one record per action.

Pure: ``Queue.apply(message)`` changes the records and returns the messages to publish
(topic, payload, message id), with ids derived from what they say so a replay after a
restart stores nothing twice. The supervisor hosts it and writes ``actions/<id>.json``.

Requests come as ``action.request.approve`` {id, by, hash} and ``action.request.reject``
{id, by, reason}; the answer is ``action.approved`` / ``action.rejected``, or
``action.refused`` {id, request, reason} when the request changes nothing.

Until the bus is authenticated, the sender's ``source`` is what can be checked: only the
supervisor recommends, only the executor reports runs, and a request counts only from an
operator's channel (``cli:NAME``, ``ui:NAME``), with the operator named by that channel.
``homelab emit`` and the inbox cannot claim those sources (``bus.envelope.is_reserved_source``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from actors.domain import lifecycle
from bus.envelope import Message

APPROVAL_TTL = 24 * 3600.0
RECORDED = {  # facts other actors publish, and the lifecycle event each one is
    "action.obsolete": "obsolete",
    "action.running": "start",
    "action.succeeded": "succeed",
    "action.failed": "fail",
    "action.timed_out": "time_out",
    "action.interrupted": "interrupt",
}
QUEUE_SOURCE = "supervisor"  # hosts the queue, and the only one that recommends
FACT_SOURCES = {  # who may report each fact
    "action.obsolete": ("supervisor", "executor"),
    "action.running": ("executor",),
    "action.succeeded": ("executor",),
    "action.failed": ("executor",),
    "action.timed_out": ("executor",),
    "action.interrupted": ("executor",),
}
OPERATOR_CHANNELS = ("cli:", "ui:")  # where decisions come from: the shell and the UI
Out = tuple[str, dict[str, Any], str]


@dataclasses.dataclass
class Record:
    action: lifecycle.Action
    details: dict[str, Any]  # service, node, reason, drift, approval policy, attempt...
    result: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "id": a.id,
            "state": a.state,
            "type": a.type,
            "target": a.target,
            "commands": [list(c) for c in a.commands],
            "revision": a.revision,
            "hash": a.hash,
            "approved_by": a.approved_by,
            "approved_at": a.approved_at,
            **self.details,
            "result": self.result,
            "history": [dataclasses.asdict(e) for e in a.history],
        }


class Queue:
    def __init__(self, approval_ttl: float = APPROVAL_TTL):
        self.records: dict[str, Record] = {}
        self.approval_ttl = approval_ttl

    def apply(self, message: Message) -> tuple[list[Out], set[str]]:
        """Messages to publish, and the ids whose records changed."""
        topic, p = message.topic, message.payload
        if topic == "action.recommended":
            if message.source != QUEUE_SOURCE:
                return [], set()
            return self._recommended(message)
        if topic in ("action.request.approve", "action.request.reject"):
            return self._request(message)
        if (
            topic in RECORDED
            and p.get("id") in self.records
            and message.source in FACT_SOURCES[topic]
        ):
            event = lifecycle.Event(
                RECORDED[topic],
                message.time,
                by=message.source,
                reason=str(p.get("reason") or p.get("detail") or ""),
            )
            changed = self._decide(p["id"], event)
            if changed and topic != "action.running":
                self.records[p["id"]].result = {k: v for k, v in p.items() if k != "id"}
            return [], ({p["id"]} if changed else set())
        return [], set()

    def expire(self, now: float) -> tuple[list[Out], set[str]]:
        """Expiry is decided by nobody (``by`` is empty): the reason says what ran out."""
        out, changed = [], set()
        for action_id, record in self.records.items():
            if lifecycle.expired(record.action, now, self.approval_ttl):
                why = self._why_expired(record.action)
                if self._decide(action_id, lifecycle.Event("expire", now, reason=why)):
                    changed.add(action_id)
                    payload = {"id": action_id, "reason": why}
                    out.append(("action.expired", payload, f"expired-{action_id}"))
        return out, changed

    def _why_expired(self, action: lifecycle.Action) -> str:
        after = duration_text(self.approval_ttl)
        if action.state == "approved":
            return f"the approval expired after {after} before it ran"
        return f"expired after {after} without a decision"

    def _recommended(self, message: Message) -> tuple[list[Out], set[str]]:
        p = message.payload
        if p["id"] in self.records:
            return [], set()
        action = lifecycle.Action(
            p["id"], p["type"], p["target"], tuple(tuple(c) for c in p["commands"]), p["revision"]
        )
        details = {
            k: p[k]
            for k in (
                "service",
                "node",
                "reason",
                "drift",
                "approval",
                "attempt",
                "escalated",
                "definition",
            )
            if k in p
        }
        self.records[p["id"]] = Record(action, details)
        self._decide(p["id"], lifecycle.Event("queue", message.time, by="queue"))
        out: list[Out] = [("action.pending", {"id": p["id"]}, f"pending-{p['id']}")]
        if p.get("approval") == "auto":
            event = lifecycle.Event(
                "approve",
                message.time,
                by="policy:auto",
                reason="self-healing: the service's policy is auto",
                approval_hash=self.records[p["id"]].action.hash,
            )
            self._decide(p["id"], event)
            out.append(self._approved(p["id"]))
        return out, {p["id"]}

    def _request(self, message: Message) -> tuple[list[Out], set[str]]:
        p = message.payload
        action_id, by = str(p.get("id", "")), operator(message.source)
        record = self.records.get(action_id)
        refused = (
            "action.refused",
            {"id": action_id, "request": message.seq},
            f"refused-{message.seq}",
        )
        if not by:
            refused[1]["reason"] = (
                f"decisions come from an operator (cli:NAME or ui:NAME), not {message.source!r}"
            )
            return [refused], set()
        if p.get("by") not in (None, by):
            refused[1]["reason"] = f"the request names {p.get('by')!r} but comes from {by!r}"
            return [refused], set()
        if record is None:
            refused[1]["reason"] = f"no action {action_id!r}"
            return [refused], set()
        kind = "approve" if message.topic.endswith("approve") else "reject"
        event = lifecycle.Event(
            kind,
            message.time,
            by=by,
            reason=str(p.get("reason", "")),
            approval_hash=str(p.get("hash", "")),
        )
        decision = lifecycle.decide(record.action, event)
        if not decision.changed:
            refused[1]["reason"] = decision.message
            return [refused], set()
        record.action = decision.action
        if kind == "approve":
            return [self._approved(action_id)], {action_id}
        payload = {"id": action_id, "by": by, "reason": event.reason, "request": message.seq}
        return [("action.rejected", payload, f"rejected-{action_id}")], {action_id}

    def _approved(self, action_id: str) -> Out:
        record = self.records[action_id]
        a = record.action
        payload = {
            "id": a.id,
            "type": a.type,
            "target": a.target,
            "commands": [list(c) for c in a.commands],
            "revision": a.revision,
            "hash": a.hash,
            "by": a.approved_by,
            "at": a.approved_at,
            "service": record.details.get("service"),
            "drift_key": (record.details.get("drift") or {}).get("key"),
        }
        return ("action.approved", payload, f"approved-{action_id}")

    def _decide(self, action_id: str, event: lifecycle.Event) -> bool:
        record = self.records[action_id]
        decision = lifecycle.decide(record.action, event)
        record.action = decision.action
        return decision.changed


def duration_text(seconds: float) -> str:
    """``24 h``, ``90 min``, ``45 s``: a time-to-live as people say it."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{round(seconds, 1):g} s"


def operator(source: str) -> str:
    """The operator a request comes from (``cli:oskar`` -> ``oskar``), "" if none."""
    for channel in OPERATOR_CHANNELS:
        if source.startswith(channel) and len(source) > len(channel):
            return source[len(channel) :]
    return ""
