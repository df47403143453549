"""Desired against actual for one service, row by row, as the Drift page shows them side by
side: its state, its image or version where the inventory declares one, and each check."""

from __future__ import annotations

from actors.domain.inventory import check_id
from actors.domain.world import STATE_CHECK, CheckState, ServiceState

NOT_SEEN = "not observed"


def side_by_side(service, observed: ServiceState | None) -> list[tuple[str, str, str]]:
    """``(aspect, desired, actual)`` rows for a declared ``service`` and what the world holds
    about it (None when nothing was observed)."""
    checks = observed.checks if observed else {}
    state = checks.get(STATE_CHECK)
    rows = []
    if service.kind not in ("http", "tcp"):
        rows.append(("state", service.desired, _state(state)))
    for aspect in ("image", "version"):
        wanted = getattr(service, aspect, None)
        if wanted:
            seen = state.facts.get(aspect) if state else None
            rows.append((aspect, str(wanted), str(seen) if seen else NOT_SEEN))
    for check in service.checks:
        name = check_id(check)
        rows.append((f"check {name}", "ok", _check(checks.get(name))))
    return rows


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
