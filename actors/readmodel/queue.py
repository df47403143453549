"""The action queue as ``actions/`` holds it (one file per action, written by the queue in
the supervisor): pending, running and history, and one action with its output."""

from __future__ import annotations

from pathlib import Path

from actors import atomic
from actors.domain import plan, states
from actors.readmodel.models import ActionDetail, ActionQueue, ActionView
from bus import errors
from bus.dataroot import DataRoot

# pending, then approved, then running; the rest is history
ORDER = {state: i for i, state in enumerate((states.PENDING, *states.UNDER_WAY))}
OUTPUT_SHOWN = 64 * 1024  # bytes of an action's log shown with it (the file has it all)


class NoSuchAction(errors.HomelabError):
    """An id that names no action: one line for people."""


class BadActionId(NoSuchAction):
    """Not even an id: a usage mistake, found before any file is opened."""

    exit_code = errors.BAD_INPUT


def check_id(action_id: str) -> str:
    """An action id as the planner makes them, checked before it names any file."""
    if not plan.ACTION_ID.fullmatch(action_id):
        raise BadActionId(
            f"{action_id[:80]!r} is not an action id (like a-1c9e0f3b5d7a2e4c; "
            "see: homelab actions list)"
        )
    return action_id


def records(root: Path) -> list[ActionView]:
    """Every action: pending first, then approved, running, and the rest; newest first.
    Open actions by when they were recommended, ended ones by when they ended."""
    found = []
    for path in sorted(DataRoot(root).actions.glob("a-*.json")):
        record = atomic.read_json_object(path)
        if record.get("id") == path.stem and plan.ACTION_ID.fullmatch(path.stem):
            found.append(ActionView.model_validate(record))
    return sorted(found, key=_newest_first)


def _newest_first(a: ActionView) -> tuple[int, float, str]:
    group = ORDER.get(a.state, len(ORDER))
    return group, -(a.created if a.state in ORDER else a.ended), a.id


def read(root: Path) -> ActionQueue:
    return grouped(records(root))


def grouped(found: list[ActionView]) -> ActionQueue:
    """Pending, running (approved too) and history, each newest first."""
    found = sorted(found, key=_newest_first)
    return ActionQueue(
        pending=[a for a in found if a.state == states.PENDING],
        running=[a for a in found if a.state in states.UNDER_WAY],
        history=[a for a in found if a.state not in ORDER],
    )


def action(root: Path, action_id: str) -> ActionView:
    check_id(action_id)
    record = atomic.read_json_object(DataRoot(root).action_file(action_id))
    if record.get("id") != action_id:
        raise NoSuchAction(f"no action {action_id!r} (see: homelab actions list)")
    return ActionView.model_validate(record)


def detail(root: Path, action_id: str) -> ActionDetail:
    found = action(root, action_id)
    log = DataRoot(root).action_log(action_id)
    try:
        with open(log, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - OUTPUT_SHOWN))
            output = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ActionDetail(action=found, output="", output_path=None)
    return ActionDetail(action=found, output=output, output_path=str(log))
