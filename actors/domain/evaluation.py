"""One evaluation: diff + plan at the world's own clock, and the report it makes (what
``drift.report`` carries and ``homelab drift --json`` prints). Pure."""

from __future__ import annotations

import dataclasses
from typing import Any

from actors.domain import drift, plan, rejections, world
from actors.domain.inventory import Inventory


def evaluate(
    inventory: Inventory,
    revision: str,
    state: world.World,
    failures: dict[str, plan.Failures],
    epoch: int = 0,
    closed: dict[str, str] | None = None,
    rejected: dict[str, rejections.Rejection] | None = None,
):
    """``closed``: the finished actions (id -> final state); ``rejected``: the latest
    rejection per drift key."""
    drifts = drift.diff(inventory, state)
    recommended, held = plan.plan(
        drifts,
        inventory,
        revision,
        failures,
        now=state.time,
        epoch=epoch,
        closed=closed,
        rejected=rejected,
    )
    return drifts, recommended, held


def report(revision: str, drifts, recommended, held) -> dict[str, Any]:
    return {
        "revision": revision,
        "drifts": [dataclasses.asdict(d) | {"key": d.key} for d in drifts],
        "recommended": [recommendation_payload(r) for r in recommended],
        "held": [{"drift": held_.drift.key, "why": held_.why} for held_ in held],
        "drifted": sum(1 for d in drifts if d.managed),
    }


def recommendation_payload(rec: plan.Recommendation) -> dict[str, Any]:
    payload = dataclasses.asdict(rec)
    payload["drift"] = dataclasses.asdict(rec.drift) | {"key": rec.drift.key}
    payload["commands"] = [list(argv) for argv in rec.commands]
    return payload
