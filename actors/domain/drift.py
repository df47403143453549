"""Drift: where the world differs from the repository. ``diff`` is pure (no clock, no I/O).

Only evidence counts: a service whose state could not be read (``error``/``timeout``) or
whose node is silent is not drifted, it is unknown. Things observed but not declared are
reported as ``unmanaged`` and never acted on.
"""

from __future__ import annotations

import dataclasses

from actors.domain import states
from actors.domain.inventory import (
    CommandService,
    ComposeService,
    ContainerService,
    Inventory,
    check_id,
)
from actors.domain.world import STATE_CHECK, CheckState, ServiceState, World

KINDS = (
    "missing",  # declared, should run, does not exist (no container, unit not found)
    "stopped",  # exists, should run, is not running
    "unhealthy",  # runs, but its checks fail
    "wrong_image",  # runs another image than declared
    "wrong_version",  # runs another version than declared
    "unexpected_running",  # runs although declared stopped
    "unmanaged",  # observed, not declared: reported only
)
NOT_FOUND = ("missing", "not-found")


def words(kind: str) -> str:
    """A drift kind as people read it: ``unexpected running`` (``--json`` keeps the kind)."""
    return kind.replace("_", " ")


@dataclasses.dataclass(frozen=True, slots=True)
class Drift:
    service: str
    node: str
    kind: str
    detail: str
    since: float  # when the observed fact behind it began (broker time)
    seqs: tuple[int, ...]  # the observations behind it: where it began, the latest
    managed: bool = True
    # Every check the inventory declares for the service has been observed: until then the
    # evidence is still arriving (a stopped service looks "unhealthy" before its state probe
    # reports), so the drift is shown but nothing is recommended for it yet.
    settled: bool = True

    @property
    def key(self) -> str:
        return f"{self.service}/{self.kind}"


def diff(desired: Inventory, world: World) -> list[Drift]:
    drifts = []
    for name, service in sorted(desired.services.items()):
        observed = world.services.get(name)
        node = world.nodes.get(service.node)
        if observed is None or node is None or node.health == states.UNKNOWN:
            continue
        drifts += _service_drift(name, service, observed)
    for name, observed in sorted(world.services.items()):
        if name not in desired.services:
            drifts.append(
                Drift(
                    name,
                    observed.node,
                    "unmanaged",
                    "observed but not in the inventory",
                    observed.since,
                    (observed.since_seq,),
                    False,
                )
            )
    return drifts


def expected_checks(service) -> set[str]:
    """The check ids an agent reports for a service: its state (unless it is a bare
    endpoint) and each declared check."""
    ids = {check_id(check) for check in service.checks}
    return ids if service.kind in ("http", "tcp") else ids | {STATE_CHECK}


def observed_through(desired: Inventory, world: World) -> dict[str, int]:
    """For each declared service, the seq by which every check its drift can rest on had
    been observed once more (the oldest of their latest observations): its state probe and
    every check that is not ok (a passing check, a TLS check run twice a day, says nothing
    of whether a fix worked); 0 while an expected check has never reported."""
    found = {}
    for name, service in desired.services.items():
        observed = world.services.get(name)
        checks = observed.checks if observed else {}
        if not expected_checks(service) <= checks.keys():
            found[name] = 0
            continue
        relevant = [c for k, c in checks.items() if k == STATE_CHECK or c.outcome != "ok"]
        found[name] = min(c.last_seq for c in relevant or checks.values())
    return found


def _service_drift(name: str, service, observed: ServiceState) -> list[Drift]:
    state = observed.checks.get(STATE_CHECK)
    running = _running(state)
    checks = {k: c for k, c in observed.checks.items() if k != STATE_CHECK}
    settled = expected_checks(service) <= observed.checks.keys()

    def drift(kind: str, detail: str, evidence: CheckState, fresh: bool = True) -> Drift:
        return Drift(
            name,
            service.node,
            kind,
            detail,
            evidence.since,
            (evidence.since_seq, evidence.last_seq),
            settled=settled and fresh,
        )

    if service.desired == "stopped":
        if running and state is not None:  # (running: the state probe said so)
            return [drift("unexpected_running", "running, declared stopped", state)]
        return []
    if state is not None and state.outcome == "fail":
        if state.facts.get("state") in NOT_FOUND:
            return [drift("missing", state.detail or "not found", state)]
        return [drift("stopped", state.detail or f"state: {state.facts.get('state')}", state)]
    if running is False:  # no usable state: nothing to say about it
        return []
    found = []
    failing = sorted(k for k, c in checks.items() if c.outcome in ("fail", "timeout"))
    if failing:
        first = checks[failing[0]]
        # "Running but failing" needs both halves current: a failure last seen before the
        # service came back (a fix just started it) is stale, and one that began after the
        # state was last seen may be the service dying (its state probe says so next).
        fresh = state is None or all(
            checks[k].last_seq > state.since_seq and state.last_seq > checks[k].since_seq
            for k in failing
        )
        detail = "; ".join(f"{k}: {checks[k].detail}" for k in failing)
        found.append(drift("unhealthy", detail, first, fresh))
    wanted_image = getattr(service, "image", None)
    if (
        isinstance(service, ComposeService | ContainerService)
        and wanted_image
        and state
        and state.facts.get("image")
        and state.facts["image"] != wanted_image
    ):
        found.append(
            drift("wrong_image", f"runs {state.facts['image']}, declared {wanted_image}", state)
        )
    if (
        isinstance(service, CommandService)
        and service.version
        and state
        and state.facts.get("version")
        and state.facts["version"] != service.version
    ):
        found.append(
            drift(
                "wrong_version", f"runs {state.facts['version']}, declared {service.version}", state
            )
        )
    return found


def _running(state: CheckState | None) -> bool | None:
    """True/False when the state probe says so; None without a state probe (endpoints)."""
    if state is None:
        return None
    if state.outcome == "ok":
        return True
    return False
