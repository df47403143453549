"""One evaluation: diff + plan at the world's own clock, and the report it makes (what
``drift.report`` carries and ``homelab drift --json`` prints). Pure."""

from __future__ import annotations

import dataclasses
from typing import Any

from actors.domain import attempts, compare, drift, plan, rejections, states, world
from actors.domain.inventory import Inventory


def evaluate(
    inventory: Inventory,
    revision: str,
    state: world.World,
    tried: dict[str, attempts.Attempts],
    epoch: int = 0,
    closed: dict[str, str] | None = None,
    rejected: dict[str, rejections.Rejection] | None = None,
    give_up_after: int = plan.GIVE_UP_AFTER,
) -> tuple[list[drift.Drift], list[plan.Recommendation], list[plan.Held]]:
    """``tried``: how the fixes of each drift key ended; ``closed``: the finished actions
    (id -> final state); ``rejected``: the latest rejection per drift key."""
    drifts = drift.diff(inventory, state)
    recommended, held = plan.plan(
        drifts,
        inventory,
        revision,
        tried,
        now=state.clock,  # not the stamps: a step of the wall clock is no back-off
        epoch=epoch,
        closed=closed,
        rejected=rejected,
        observed=drift.observed_through(inventory, state),
        give_up_after=give_up_after,
    )
    return drifts, recommended, held


def report(
    revision: str, drifts, recommended, held, inventory: Inventory, state: world.World
) -> dict[str, Any]:
    """What the supervisor publishes (``drift.report``) and ``homelab drift`` prints: each
    drift with desired against actual (``compared``), the fixes or why there is none,
    ``gave_up``: the drifts the supervisor gave up on, each with its attempts; the declared
    services it cannot judge (``unobserved``) and the world's seq it judged."""
    shown = []
    for d in drifts:
        entry = dataclasses.asdict(d) | {"key": d.key}
        declared = inventory.services.get(d.service)
        if declared is not None:
            rows = compare.side_by_side(declared, state.services.get(d.service))
            entry["compared"] = [list(row) for row in rows]  # [aspect, desired, actual, matches]
        shown.append(entry)
    return {
        "revision": revision,
        "drifts": shown,
        "recommended": [recommendation_payload(r) for r in recommended],
        "held": [_held(h) for h in held],
        "drifted": sum(1 for d in drifts if d.managed),
        "gave_up": [gave_up(h) for h in held if h.gave_up],
        "world_seq": state.seq,
        "unobserved": unobserved(inventory, state),
    }


def unobserved(inventory: Inventory, state: world.World) -> list[dict[str, str]]:
    """The declared services the drift cannot judge: never observed, or their node is
    silent. ``drift.diff`` skips them; here they are named."""
    found = []
    for name, service in sorted(inventory.services.items()):
        observed, node = state.services.get(name), state.nodes.get(service.node)
        if observed is None or not observed.checks:
            why = world.NO_OBSERVATION
        elif node is None or node.health == states.UNKNOWN:
            why = f"node {service.node}: {node.reason if node else world.NO_HEARTBEAT}"
        else:
            continue
        found.append({"service": name, "node": service.node, "why": why})
    return found


def gave_up(held: plan.Held) -> dict[str, Any]:
    """A drift given up on, as the report lists it and ``drift.gave_up`` announces it."""
    d = held.drift
    return {
        "drift": d.key,
        "service": d.service,
        "kind": d.kind,
        "attempts": len(held.gave_up),
        "actions": list(held.gave_up),
    }


def _held(held: plan.Held) -> dict[str, Any]:
    entry = {"drift": held.drift.key, "why": held.why}
    return entry | {"gave_up": list(held.gave_up)} if held.gave_up else entry


def recommendation_payload(rec: plan.Recommendation) -> dict[str, Any]:
    payload = dataclasses.asdict(rec)
    payload["drift"] = dataclasses.asdict(rec.drift) | {"key": rec.drift.key}
    payload["commands"] = [list(argv) for argv in rec.commands]
    return payload


def settled(drift_report: dict[str, Any]) -> dict[str, Any]:
    """The report without what moves with every observation (the latest seq behind a drift,
    a check's detail such as its latency, the world's seq): two reports that settle alike
    say the same thing. The supervisor publishes a new one only when this changes."""
    drifts = [
        {**d, "seqs": d["seqs"][:1], "compared": [r[:2] + r[3:] for r in d.get("compared", [])]}
        for d in drift_report["drifts"]
    ]
    recommended = [r["id"] for r in drift_report["recommended"]]
    settled = {**drift_report, "drifts": drifts, "recommended": recommended}
    settled.pop("world_seq", None)
    return settled
