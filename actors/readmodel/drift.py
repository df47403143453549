"""The drift as ``homelab drift`` and the Drift page show it: the supervisor's diff and plan,
computed here from the repository and the observer's files, with no service running.

The world is the freshest the observer left: its checkpoint (saved every few seconds) or the
``world/`` files (written every second), whichever is further along the log. A declared
service the world has no evidence about is listed as not observed, never counted as clean.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from actors import atomic, desired_state
from actors.domain import (
    attempts,
    evaluation,
    inventory_files,
    plan,
    rejections,
    states,
)
from actors.readmodel import queue
from actors.readmodel import world as world_model
from actors.readmodel.models import DriftReport
from bus import errors
from bus.dataroot import DataRoot


class NoWorld(errors.HomelabError):
    """The observer has written nothing yet: drift cannot be judged."""

    exit_code = errors.BAD_INPUT  # as ``homelab drift`` says "cannot tell"


def read(root: Path, repo: Path) -> DriftReport:
    data = DataRoot(root).require()
    desired, problems = desired_state.load(repo)
    if desired is None:
        raise inventory_files.InventoryError(problems)
    state = world_model.fold_state(data)
    if state is None:
        raise NoWorld(
            f"no world yet under {root}: the observer has written neither world/ nor "
            f"{data.checkpoint.relative_to(root)} (is `homelab observer` running?)"
        )
    saved = atomic.read_json_object(data.supervisor_state)
    revision = desired.revision.id
    epoch = saved.get("epoch", 0) if saved.get("revision") == revision else -1
    actions = [a.model_dump(mode="json") for a in queue.records(root)]
    closed = {a["id"]: a["state"] for a in actions if a["state"] in states.FINAL}
    found = evaluation.evaluate(
        desired.inventory,
        revision,
        state,
        attempts.from_records(actions),  # how the fixes of each drift ended
        epoch,
        closed,  # an action that ended is never offered again
        rejections.from_records(actions),
        _give_up_after(saved),  # as the running supervisor does
    )
    return DriftReport(**evaluation.report(revision, *found, desired.inventory, state))


def last(root: Path) -> DriftReport | None:
    """The supervisor's own last report (``state/drift.json``, what it published as
    ``drift.report``); None before it made one. What the UI shows: the one truth, while
    ``read`` computes the same offline for ``homelab drift``."""
    found = atomic.read_json_object(DataRoot(root).drift)
    return from_report(found) if found else None


def problems(root: Path) -> list[dict]:
    """The inventory's problems as the supervisor last found them (``state/desired.json``)."""
    found = atomic.read_json_object(DataRoot(root).desired).get("problems")
    return [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []


def from_report(payload: dict) -> DriftReport | None:
    """A ``drift.report`` payload as the read model's report; None if it is not one."""
    try:
        return DriftReport.model_validate(payload)
    except ValidationError:
        return None


def _give_up_after(saved: dict) -> int:
    value = saved.get("give_up_after")
    return value if isinstance(value, int) and value >= 1 else plan.GIVE_UP_AFTER
