"""Desired against actual for one service, row by row, as the Drift page shows them side by
side: its state, its image or version where the inventory declares one, and each check.

Each row says whether the two sides agree (``matches``), so no reader has to compare the
texts: a check that passes reads ``ok: 200 OK`` against the desired ``ok``, and matches."""

from __future__ import annotations

from typing import NamedTuple

from actors.domain.inventory import check_id
from actors.domain.world import STATE_CHECK, CheckState, ServiceState

NOT_SEEN = "not observed"
NOT_JUDGED = "any (declared stopped)"  # a stopped service's checks may fail: they do not count


class Row(NamedTuple):
    aspect: str  # state, image, version, or "check ID"
    desired: str
    actual: str
    matches: bool  # the actual side is what the desired side asks for


def side_by_side(service, observed: ServiceState | None) -> list[Row]:
    """The rows for a declared ``service`` and what the world holds about it (None when
    nothing was observed). Nothing observed never matches."""
    checks = observed.checks if observed else {}
    state = checks.get(STATE_CHECK)
    rows = []
    if service.kind not in ("http", "tcp"):
        rows.append(Row("state", service.desired, _state(state), _state_matches(service, state)))
    for aspect in ("image", "version"):
        wanted = getattr(service, aspect, None)
        if wanted:
            seen = state.facts.get(aspect) if state else None
            shown = str(seen) if seen else NOT_SEEN
            rows.append(Row(aspect, str(wanted), shown, bool(seen) and str(seen) == str(wanted)))
    stopped = service.desired == "stopped"
    for check in service.checks:
        name = check_id(check)
        found = checks.get(name)
        if stopped:
            rows.append(Row(f"check {name}", NOT_JUDGED, _check(found), True))
        else:
            passed = found is not None and found.outcome == "ok"
            rows.append(Row(f"check {name}", "ok", _check(found), passed))
    return rows


def _state_matches(service, state: CheckState | None) -> bool:
    """Running is what the state probe calls ok; stopped, what it calls a failure (an error
    or a timeout says nothing either way)."""
    if state is None:
        return False
    return state.outcome == ("ok" if service.desired == "running" else "fail")


def _state(state: CheckState | None) -> str:
    if state is None:
        return NOT_SEEN
    said = state.facts.get("state")
    running = "running" if state.outcome == "ok" else "not running"
    text = f"{running} ({said})" if said and said != running else running
    return f"{text}: {state.detail}" if state.outcome != "ok" and state.detail else text


def _check(check: CheckState | None) -> str:
    if check is None:
        return NOT_SEEN
    return check.outcome if not check.detail else f"{check.outcome}: {check.detail}"
