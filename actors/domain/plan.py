"""From drift to recommended actions. ``plan`` is pure: the clock and history come in as
arguments, so the same inputs always give the same recommendations, ids included.

A drift gets a fix, and when that ends without mending it, another, as a new action: after
evidence from after the end, a back-off for an attempt that ran without effect, none for one
that never ran (``attempts``); after ``give_up_after`` attempts without effect, none (the
drift says so); a rejection holds it (``rejections``)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping

from actors.domain import attempts, drivers, rejections
from actors.domain.drift import Drift, words
from actors.domain.inventory import Inventory

FIX = {  # which action mends which drift
    "missing": "start",
    "stopped": "start",
    "unhealthy": "restart",
    "wrong_image": "pull_up",
    "wrong_version": "restart",
    "unexpected_running": "stop",
}
ACTION_ID = re.compile(r"a-[0-9a-f]{16}")  # what ``action_id`` makes; checked before any file use
BACKOFF = 60.0  # seconds after the first attempt without effect; doubles with each further one
ESCALATE_AFTER = 3  # attempts without effect; then never approved automatically
GIVE_UP_AFTER = 3  # attempts without effect; then held, said on the drift and on the bus


@dataclasses.dataclass(frozen=True, slots=True)
class Recommendation:
    id: str
    type: str  # start | restart | stop | pull_up
    service: str
    node: str
    target: str
    commands: tuple[tuple[str, ...], ...]  # exactly what would run, in order
    reason: str
    drift: Drift
    revision: str
    approval: str  # approve | auto: who decides
    attempt: int  # attempts without effect before this one (0 for the first try)
    escalated: bool
    definition: str = ""  # fingerprint of the service's desired definition (rejections)
    previous: str = ""  # how the last fix for this drift ended, for people ("" none)


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """A drift with no recommendation now, and why (ignored, no driver, backing off...).
    ``gave_up``: the attempts without effect, when the supervisor gave up on it."""

    drift: Drift
    why: str
    gave_up: tuple[str, ...] = ()


def plan(
    drifts: list[Drift],
    desired: Inventory,
    revision: str,
    tried: Mapping[str, attempts.Attempts],
    now: float,
    epoch: int = 0,
    closed: Mapping[str, str] | None = None,
    rejected: Mapping[str, rejections.Rejection] | None = None,
    observed: Mapping[str, int] | None = None,
    give_up_after: int = GIVE_UP_AFTER,
) -> tuple[list[Recommendation], list[Held]]:
    """``tried``: how the fixes of each drift key ended (``attempts``); ``now`` is the
    world's clock. ``epoch`` counts how often the desired state changed: a rollback to an
    earlier revision is a new epoch, so its fixes get new ids (the old ones may be closed).
    ``closed``: the ids of the actions that have ended (a new fix never reuses one).
    ``rejected``: the latest rejection per drift key, which holds its drift until the drift
    or the service's desired definition changes (``rejections``). ``observed``: for each
    service, the seq by which every one of its checks had been observed (0 if one never
    was); a fix waits for evidence from after the last one ended. None: do not wait."""
    context = _Context(desired, revision, tried, now, epoch, closed or {}, rejected or {}, observed)
    recommended: list[Recommendation] = []
    held: list[Held] = []
    for drift in drifts:
        outcome = _recommend(drift, context, give_up_after)
        if isinstance(outcome, Recommendation):
            recommended.append(outcome)
        else:
            held.append(outcome)
    return recommended, held


@dataclasses.dataclass(frozen=True, slots=True)
class _Context:
    desired: Inventory
    revision: str
    tried: Mapping[str, attempts.Attempts]
    now: float
    epoch: int
    closed: Mapping[str, str]
    rejected: Mapping[str, rejections.Rejection]
    observed: Mapping[str, int] | None


def _recommend(drift: Drift, ctx: _Context, give_up_after: int) -> Recommendation | Held:
    if not drift.managed:
        return Held(drift, "not in the inventory: reported, never acted on")
    if not drift.settled:
        return Held(drift, "waiting for every check of the service to report")
    action = FIX.get(drift.kind)
    service = ctx.desired.services[drift.service]
    if action is None or not drivers.accepts(service, action):
        return Held(drift, f"no driver can {action or 'fix'} a {service.kind} service")
    policy = service.actions.get(action, service.policy)
    if policy == "ignore":
        return Held(drift, f"policy for {action}: ignore")
    definition = rejections.fingerprint(ctx.desired, drift.service)
    rejection = ctx.rejected.get(drift.key)
    if rejection is not None and rejection.holds(drift, definition):
        return Held(drift, rejection.why())
    tried = ctx.tried.get(drift.key)
    if tried is not None and not tried.applies(drift, definition):
        tried = None  # another occurrence, or another desired definition: from nothing
    if tried is not None:
        waiting = _after(drift, tried, ctx, give_up_after)
        if waiting is not None:
            return waiting
    attempt = tried.count if tried else 0
    escalated = attempt >= ESCALATE_AFTER
    commands = drivers.commands(drift.service, service, action, ctx.desired.nodes[service.node])
    return Recommendation(
        id=_new_id(ctx, drift, action, len(tried.ended) if tried else 0),
        type=action,
        service=drift.service,
        node=service.node,
        target=drivers.target(drift.service, service),
        commands=tuple(tuple(argv) for argv in commands),
        reason=f"{words(drift.kind)}: {drift.detail}",
        drift=drift,
        revision=ctx.revision,
        approval="approve" if escalated else policy,
        attempt=attempt,
        escalated=escalated,
        definition=definition,
        previous=tried.last.text() if tried else "",
    )


def _after(
    drift: Drift, tried: attempts.Attempts, ctx: _Context, give_up_after: int
) -> Held | None:
    """Why the next fix must wait after the last ended (None: it need not)."""
    last = tried.last
    if ctx.observed is not None and ctx.observed.get(drift.service, 0) <= last.seq:
        why = (
            f"{last.action} {last.state}; waiting for {drift.service} to be observed again after it"
        )
        return Held(drift, why)
    count = tried.count
    if count >= give_up_after:
        return Held(drift, gave_up_text(tried), gave_up=tried.ran)
    if last.counts and ctx.now < last.at + BACKOFF * 2 ** (count - 1):
        wait = last.at + BACKOFF * 2 ** (count - 1) - ctx.now
        return Held(
            drift, f"{_fixes(count)} had no effect ({last.text()}); next try in {wait:.0f} s"
        )
    return None


def gave_up_text(tried: attempts.Attempts) -> str:
    """``3 fixes had no effect (a-1 failed: ..., ...); held until ...``."""
    ran = ", ".join(a.text() for a in tried.ended if a.counts)
    return f"{_fixes(tried.count)} had no effect ({ran}); {rejections.HELD_UNTIL}"


def _fixes(count: int) -> str:
    return f"{count} fix" if count == 1 else f"{count} fixes"


def _new_id(ctx: _Context, drift: Drift, action: str, round_: int) -> str:
    """The id of this round's fix: never one that has ended already (an action is closed
    for good; if it ended in a way that is not a round, the next round's id)."""
    found = action_id(ctx.revision, drift, action, round_, ctx.epoch)
    while found in ctx.closed:
        round_ += 1
        found = action_id(ctx.revision, drift, action, round_, ctx.epoch)
    return found


def action_id(revision: str, drift: Drift, action: str, attempt: int, epoch: int = 0) -> str:
    """The same drift, under the same revision and epoch, at the same round (``attempt``:
    how many fixes for this occurrence had ended): the same id.
    "The same drift" is one occurrence of it, named by the observation that began it
    (``seqs[0]``): a drift that comes back after it was fixed is a new one, with a new id."""
    began = str(drift.seqs[0]) if drift.seqs else ""
    text = "\0".join((revision, str(epoch), drift.service, drift.kind, action, str(attempt), began))
    return "a-" + hashlib.sha256(text.encode()).hexdigest()[:16]
