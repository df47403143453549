"""The action queue: every ``action.*`` message folded into one record per action.

Pure: ``Queue.apply(message)`` changes the records and returns the messages to publish
(topic, payload, message id), with ids derived from what they say so a replay after a
restart stores nothing twice. The supervisor hosts it and writes ``actions/<id>.json``.

Requests come as ``action.request.approve`` {id, by, hash} and ``action.request.reject``
{id, by, reason}; the answer names the request it answers (``request``, its seq):
``action.approved`` / ``action.rejected``, or ``action.refused`` {id, request, reason} when
the request changes nothing ("a-... is already approved by alice; nothing done").

The queue also decides by time (the supervisor calls it): ``expire`` a pending action or an
approval older than the approval TTL (on the bus's clock: it folds ``bus.clock`` too, and
each event keeps its time less the clock's steps announced before it), ``interrupt`` a run that outlived the timeout the
executor announced in ``action.running`` by ``RUN_GRACE`` (the queue's ``action.interrupted``;
nothing the executor says later reopens it). Its own decisions come back from the log as
facts, so a queue rebuilt from the log is the one that was live.

Until the bus is authenticated, the sender's ``source`` is what can be checked: only the
supervisor recommends, only the executor reports runs, and a request counts only from an
operator's channel (``cli:NAME``, ``ui:NAME``), with the operator named by that channel.
``homelab emit`` and the inbox cannot claim those sources (``bus.envelope.is_reserved_source``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from actors.domain import lifecycle, publishers, states, topics
from bus import wallclock
from bus.envelope import Message

APPROVAL_TTL = 24 * 3600.0
RUN_TIMEOUT = 300.0  # what a run may take when the executor did not say (its default)
RUN_GRACE = 60.0  # beyond that: the executor kills, reaps and reports within it
RECORDED = {  # facts published, and the lifecycle event each one is
    topics.action(states.OBSOLETE): "obsolete",
    topics.action(states.REFUSED): "refuse",
    topics.action(states.EXPIRED): "expire",
    topics.action(states.RUNNING): "start",
    topics.action(states.SUCCEEDED): "succeed",
    topics.action(states.FAILED): "fail",
    topics.action(states.TIMED_OUT): "time_out",
    topics.action(states.INTERRUPTED): "interrupt",
}
QUEUE_SOURCE = publishers.QUEUE  # hosts the queue, and the only one that recommends
FACT_SOURCES = {  # who may report each fact (the queue's own come back from the log)
    topics.action(states.OBSOLETE): (QUEUE_SOURCE, publishers.RUNNER),
    topics.action(states.REFUSED): (
        publishers.RUNNER,
    ),  # the queue's refusals answer requests: no fact
    topics.action(states.EXPIRED): (QUEUE_SOURCE,),
    topics.action(states.RUNNING): (publishers.RUNNER,),
    topics.action(states.SUCCEEDED): (publishers.RUNNER,),
    topics.action(states.FAILED): (publishers.RUNNER,),
    topics.action(states.TIMED_OUT): (publishers.RUNNER,),
    topics.action(states.INTERRUPTED): (publishers.RUNNER, QUEUE_SOURCE),
}
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
        self.steps = 0.0  # the steps of the broker's wall clock so far (``bus.clock``)

    def apply(self, message: Message) -> tuple[list[Out], set[str]]:
        """Messages to publish, and the ids whose records changed."""
        topic, p = message.topic, message.payload
        if topic == wallclock.TOPIC:
            step = wallclock.step_of(p)
            if step is not None and publishers.may_publish(message.source, topic):
                self.steps += step
            return [], set()
        if topic == topics.action(states.RECOMMENDED):
            if message.source != QUEUE_SOURCE:
                return [], set()
            return self._recommended(message)
        if topic in (topics.REQUEST_APPROVE, topics.REQUEST_REJECT):
            return self._request(message)
        if (
            topic in RECORDED
            and p.get("id") in self.records
            and message.source in FACT_SOURCES[topic]
        ):
            kind = RECORDED[topic]
            event = lifecycle.Event(
                kind,
                message.time,
                by="" if kind == "expire" else message.source,  # an expiry: decided by nobody
                reason=str(p.get("reason") or p.get("detail") or ""),
                seq=message.seq,
                clock=self.clock(message.time),
            )
            return [], self._fact(p, event)
        return [], set()

    def _fact(self, p: dict[str, Any], event: lifecycle.Event) -> set[str]:
        """Records what happened to an action; its id if that changed it."""
        if not self._decide(p["id"], event):
            return set()
        record = self.records[p["id"]]
        if event.kind == "start":
            timeout = p.get("timeout")
            if isinstance(timeout, int | float) and 0 < timeout < 10**9:
                record.details["timeout"] = float(timeout)  # as the executor announced it
        else:
            record.result = {k: v for k, v in p.items() if k != "id"}
        return {p["id"]}

    def expire(self, now: float, seq: int = 0) -> tuple[list[Out], set[str]]:
        """Expiry is decided by nobody (``by`` is empty): the reason says what ran out.
        ``seq``: the last message the caller had seen (what happens after it is news)."""
        out, changed, clock = [], set(), self.clock(now)
        for action_id, record in self.records.items():
            if lifecycle.expired(record.action, clock, self.approval_ttl):
                payload = {"id": action_id, "reason": self._why_expired(record.action)}
                event = lifecycle.Event(
                    "expire", now, reason=payload["reason"], seq=seq, clock=clock
                )
                if self._fact(payload, event):
                    changed.add(action_id)
                    out.append((topics.action(states.EXPIRED), payload, f"expired-{action_id}"))
        return out, changed

    def running(self) -> dict[str, float]:
        """The running actions, each with its ``run_allowance``."""
        return {
            action_id: self.run_allowance(action_id)
            for action_id, record in self.records.items()
            if record.action.state == states.RUNNING
        }

    def run_allowance(self, action_id: str) -> float:
        """How long a run may go on before the queue gives up on hearing from it: the
        executor's timeout (as it announced it) and ``RUN_GRACE``."""
        return float(self.records[action_id].details.get("timeout") or RUN_TIMEOUT) + RUN_GRACE

    def interrupt(self, action_id: str, now: float, seq: int = 0) -> tuple[list[Out], set[str]]:
        """A run the executor never reported the end of, within its time: interrupted, by
        the queue. Final: a late report from the executor changes nothing."""
        record = self.records.get(action_id)
        if record is None or record.action.state != states.RUNNING:
            return [], set()
        timeout = float(record.details.get("timeout") or RUN_TIMEOUT)
        reason = (
            f"no word from the executor within its timeout ({duration_text(timeout)}) and "
            f"{duration_text(RUN_GRACE)} more: interrupted by the queue, not run again"
        )
        payload = {"id": action_id, "reason": reason}
        event = lifecycle.Event(
            "interrupt", now, by=QUEUE_SOURCE, reason=reason, seq=seq, clock=self.clock(now)
        )
        changed = self._fact(payload, event)
        return [(topics.action(states.INTERRUPTED), payload, f"overdue-{action_id}")], changed

    def clock(self, time: float) -> float:
        """A broker time on the bus's clock: less the steps announced so far."""
        return time - self.steps

    def _why_expired(self, action: lifecycle.Action) -> str:
        after = duration_text(self.approval_ttl)
        if action.state == states.APPROVED:
            return f"the approval expired after {after} before it ran"
        return f"expired after {after} without a decision"

    def _recommended(self, message: Message) -> tuple[list[Out], set[str]]:
        p = message.payload
        if p["id"] in self.records:
            return [], set()
        action = lifecycle.Action(
            p["id"], p["type"], p["target"], tuple(tuple(c) for c in p["commands"]), p["revision"]
        )
        details: dict[str, Any] = {
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
                "previous",
            )
            if k in p
        }
        self.records[p["id"]] = Record(action, details)
        clock = self.clock(message.time)
        queued = lifecycle.Event("queue", message.time, by="queue", seq=message.seq, clock=clock)
        self._decide(p["id"], queued)
        out: list[Out] = [(topics.action(states.PENDING), {"id": p["id"]}, f"pending-{p['id']}")]
        if p.get("approval") == "auto":
            event = lifecycle.Event(
                "approve",
                message.time,
                by="policy:auto",
                reason="self-healing: the service's policy is auto",
                approval_hash=self.records[p["id"]].action.hash,
                seq=message.seq,
                clock=clock,
            )
            self._decide(p["id"], event)
            out.append(self._approved(p["id"], None))
        return out, {p["id"]}

    def _request(self, message: Message) -> tuple[list[Out], set[str]]:
        p = message.payload
        action_id, by = str(p.get("id", "")), operator(message.source)
        record = self.records.get(action_id)
        refused = (
            topics.action(states.REFUSED),
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
        kind = "approve" if message.topic == topics.REQUEST_APPROVE else "reject"
        event = lifecycle.Event(
            kind,
            message.time,
            by=by,
            reason=str(p.get("reason", "")),
            approval_hash=str(p.get("hash", "")),
            seq=message.seq,
            clock=self.clock(message.time),
        )
        decision = lifecycle.decide(record.action, event)
        if not decision.changed:
            refused[1]["reason"] = decision.message
            return [refused], set()
        record.action = decision.action
        if kind == "approve":
            return [self._approved(action_id, message.seq)], {action_id}
        payload = {"id": action_id, "by": by, "reason": event.reason, "request": message.seq}
        return [(topics.action(states.REJECTED), payload, f"rejected-{action_id}")], {action_id}

    def _approved(self, action_id: str, request: int | None) -> Out:
        """``request``: the seq of the operator's request this answers (None: by policy)."""
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
            "request": request,
        }
        return (topics.action(states.APPROVED), payload, f"approved-{action_id}")

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
    for channel in publishers.OPERATOR_CHANNELS:  # the shell and the UI
        if source.startswith(channel) and len(source) > len(channel):
            return source[len(channel) :]
    return ""
