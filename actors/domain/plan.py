"""From drift to recommended actions. ``plan`` is pure: the clock and history come in as
arguments, so the same inputs always give the same recommendations, ids included."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping

from actors.domain import drivers, rejections
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
BACKOFF = 60.0  # seconds after the first failure; doubles with each further one
ESCALATE_AFTER = 3  # failures; then never self-healed again, and shown as escalated


@dataclasses.dataclass(frozen=True, slots=True)
class Failures:
    """How often the fix for one drift (``Drift.key``) failed, and when it last did."""

    count: int
    last_at: float


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
    attempt: int  # 0 for the first try; one more after each failure
    escalated: bool
    definition: str = ""  # fingerprint of the service's desired definition (rejections)


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """A drift with no recommendation now, and why (ignored, no driver, backing off)."""

    drift: Drift
    why: str


def plan(
    drifts: list[Drift],
    desired: Inventory,
    revision: str,
    failures: Mapping[str, Failures],
    now: float,
    epoch: int = 0,
    closed: Mapping[str, str] | None = None,
    rejected: Mapping[str, rejections.Rejection] | None = None,
) -> tuple[list[Recommendation], list[Held]]:
    """``epoch`` counts how often the desired state changed: a rollback to an earlier
    revision is a new epoch, so its fixes get new ids (the old ones may be closed).
    ``closed`` maps the ids of finished actions to how they ended: a drift whose fix has
    already ended is held until the drift itself changes. ``rejected``: the latest
    rejection per drift key, which holds its drift across revisions until the drift or the
    service's desired definition changes (``rejections``)."""
    recommended, held = [], []
    for drift in drifts:
        outcome = _recommend(drift, desired, revision, failures.get(drift.key), now, epoch)
        if isinstance(outcome, Recommendation):
            outcome = _unless_decided(outcome, closed or {}, rejected or {})
        (recommended if isinstance(outcome, Recommendation) else held).append(outcome)
    return recommended, held


def _unless_decided(
    rec: Recommendation, closed: Mapping[str, str], rejected: Mapping[str, rejections.Rejection]
) -> Recommendation | Held:
    """Held if an operator rejected this drift's fix (and nothing has changed since), or if
    this very action has ended already."""
    rejection = rejected.get(rec.drift.key)
    if rejection is not None and rejection.holds(rec.drift, rec.definition):
        return Held(rec.drift, rejection.why())
    if rec.id in closed:
        return Held(rec.drift, f"{rec.id} {closed[rec.id]}; waiting for the drift to change")
    return rec


def _recommend(drift, desired, revision, failed, now, epoch) -> Recommendation | Held:
    if not drift.managed:
        return Held(drift, "not in the inventory: reported, never acted on")
    if not drift.settled:
        return Held(drift, "waiting for every check of the service to report")
    action = FIX.get(drift.kind)
    service = desired.services[drift.service]
    if action is None or not drivers.accepts(service, action):
        return Held(drift, f"no driver can {action or 'fix'} a {service.kind} service")
    policy = service.actions.get(action, service.policy)
    if policy == "ignore":
        return Held(drift, f"policy for {action}: ignore")
    attempt = failed.count if failed else 0
    if failed and now < failed.last_at + BACKOFF * 2 ** (failed.count - 1):
        wait = failed.last_at + BACKOFF * 2 ** (failed.count - 1) - now
        return Held(drift, f"{action} failed {failed.count} time(s); next try in {wait:.0f} s")
    escalated = attempt >= ESCALATE_AFTER
    commands = drivers.commands(drift.service, service, action, desired.nodes[service.node])
    return Recommendation(
        id=action_id(revision, drift, action, attempt, epoch),
        type=action,
        service=drift.service,
        node=service.node,
        target=drivers.target(drift.service, service),
        commands=tuple(tuple(argv) for argv in commands),
        reason=f"{words(drift.kind)}: {drift.detail}",
        drift=drift,
        revision=revision,
        approval="approve" if escalated else policy,
        attempt=attempt,
        escalated=escalated,
        definition=rejections.fingerprint(desired, drift.service),
    )


def action_id(revision: str, drift: Drift, action: str, attempt: int, epoch: int = 0) -> str:
    """The same drift, under the same revision and epoch, at the same attempt: the same id.
    "The same drift" is one occurrence of it, named by the observation that began it
    (``seqs[0]``): a drift that comes back after it was fixed is a new one, with a new id."""
    began = str(drift.seqs[0]) if drift.seqs else ""
    text = "\0".join((revision, str(epoch), drift.service, drift.kind, action, str(attempt), began))
    return "a-" + hashlib.sha256(text.encode()).hexdigest()[:16]
