"""The life of an action, as a pure state machine (no clock, no I/O).

    recommended -> pending -> approved | rejected | expired | obsolete
    approved -> running | refused | expired | obsolete
    running -> succeeded | failed | timed_out | interrupted

``decide(action, event)`` says what an event does to an action: the new state, or why it
changes nothing (a second approval, a rejection of a decided action...). An approval must
carry the hash of exactly what the approver was shown (``run_hash``): one without it, or for
something else, changes nothing; if the action changes, the approval no longer applies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from actors.domain import states

TRANSITIONS: dict[str, dict[str, str]] = {  # state -> event -> state; every open state is here
    states.RECOMMENDED: {"queue": states.PENDING, "obsolete": states.OBSOLETE},
    states.PENDING: {
        "approve": states.APPROVED,
        "reject": states.REJECTED,
        "expire": states.EXPIRED,
        "obsolete": states.OBSOLETE,
    },
    states.APPROVED: {
        "start": states.RUNNING,
        "refuse": states.REFUSED,  # the executor would not run it (it says why)
        "expire": states.EXPIRED,
        "obsolete": states.OBSOLETE,
    },
    states.RUNNING: {
        "succeed": states.SUCCEEDED,
        "fail": states.FAILED,
        "time_out": states.TIMED_OUT,
        "interrupt": states.INTERRUPTED,
    },
}


@dataclasses.dataclass(frozen=True)
class Event:
    kind: str  # queue | approve | reject | expire | obsolete | start | succeed | fail | ...
    at: float
    by: str = ""  # who: an operator's name, "policy:auto", "executor", "supervisor"; "" nobody
    reason: str = ""
    approval_hash: str = ""  # with approve: the hash the approver saw
    seq: int = 0  # the message that said it (a decision the queue takes: the world's seq then)
    # ``at`` on the bus's clock: less the steps of the broker's wall clock announced before
    # it (``bus.wallclock``); what ages are measured on. None: recorded before it was kept.
    clock: float | None = None

    @property
    def on_clock(self) -> float:
        return self.at if self.clock is None else self.clock


@dataclasses.dataclass(frozen=True)
class Action:
    id: str
    type: str
    target: str
    commands: tuple[tuple[str, ...], ...]
    revision: str
    state: str = states.RECOMMENDED
    approved_by: str = ""
    approved_at: float | None = None
    approved_hash: str = ""
    history: tuple[Event, ...] = ()

    @property
    def hash(self) -> str:
        return run_hash(self.type, self.target, self.commands, self.revision)


@dataclasses.dataclass(frozen=True)
class Decision:
    action: Action
    changed: bool
    message: str


def run_hash(type_: str, target: str, commands: Sequence[Sequence[str]], revision: str) -> str:
    """What an approval is for, exactly: type, target, every argv, and the revision."""
    text = json.dumps([type_, target, [list(c) for c in commands], revision], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def decide(action: Action, event: Event) -> Decision:
    allowed = TRANSITIONS.get(action.state, {})
    if event.kind not in allowed:
        if action.state in states.FINAL or event.kind in ("approve", "reject"):
            return Decision(
                action, False, f"{action.id} is already {state_text(action)}; nothing done"
            )
        return Decision(
            action, False, f"{action.id} is {state_text(action)}: cannot {event.kind} it"
        )
    if event.kind == "approve" and not event.approval_hash:
        return Decision(
            action, False, f"{action.id}: an approval must carry the hash of what was shown"
        )
    if event.kind == "approve" and event.approval_hash != action.hash:
        return Decision(action, False, f"{action.id} changed since it was shown: approve again")
    new = dataclasses.replace(action, state=allowed[event.kind], history=(*action.history, event))
    if event.kind == "approve":
        new = dataclasses.replace(
            new, approved_by=event.by, approved_at=event.at, approved_hash=action.hash
        )
    if event.kind == "start" and action.approved_hash != action.hash:
        return Decision(
            action, False, f"{action.id}: the approval no longer matches what would run"
        )
    return Decision(new, True, f"{action.id}: {action.state} -> {new.state}")


def state_text(action: Action) -> str:
    """The state with who decided it, as an operator who comes second needs to read it:
    ``approved by alice``, ``rejected by bob``, ``running (approved by alice)``."""
    if action.state == states.APPROVED and action.approved_by:
        return f"approved by {action.approved_by}"
    deciders = [e.by for e in action.history if e.kind == "reject" and e.by]
    if action.state == states.REJECTED and deciders:
        return f"rejected by {deciders[-1]}"
    if action.approved_by:
        return f"{action.state} (approved by {action.approved_by})"
    return action.state


def expired(action: Action, now: float, approval_ttl: float) -> bool:
    """An approval (or a pending recommendation) older than ``approval_ttl`` seconds, ``now``
    being on the bus's clock (``Event.clock``): a step of the wall clock ages nothing. Its
    last event is what made it pending, or approved."""
    if action.state in states.WAITING and action.history:
        return now - action.history[-1].on_clock > approval_ttl
    return False
