"""The action queue's files as its snapshot: ``actions/<id>.json`` back into records. Pure.

The supervisor writes each action's record (``action_queue.Record.to_dict``) whenever it
changes, and retention keeps every message the supervisor has not yet written down
(``state/holds/supervisor.json``). So once retention has deleted the log's beginning, the
queue is rebuilt from the files of the actions recommended before the retained log begins,
plus the log itself: the log's messages about them change nothing already written and add
what came after. Actions recommended within the retained log are rebuilt from the log
alone, as before.
"""

from __future__ import annotations

from typing import Any

from actors.domain import lifecycle, states
from actors.domain.action_queue import Record

TOP = (  # the fields of ``Record.to_dict`` that are not details
    "id",
    "state",
    "type",
    "target",
    "commands",
    "revision",
    "hash",
    "approved_by",
    "approved_at",
    "result",
    "history",
)


def begun_before(data: dict[str, Any], first_seq: int) -> bool:
    """Whether the action was recommended before the log's ``first_seq`` (its first event
    is the queue taking the recommendation, with that message's seq)."""
    history = data.get("history") or [{}]
    seq = history[0].get("seq", 0) if isinstance(history[0], dict) else 0
    return not isinstance(seq, int) or seq < first_seq


def record(data: dict[str, Any]) -> Record:
    """The record ``Record.to_dict`` wrote; ValueError if ``data`` is not one. Its
    ``to_dict`` gives ``data`` back."""
    try:
        history = tuple(lifecycle.Event(**event) for event in data["history"])
        approvals = [e.approval_hash for e in history if e.kind == "approve"]
        action = lifecycle.Action(
            id=str(data["id"]),
            type=str(data["type"]),
            target=str(data["target"]),
            commands=tuple(tuple(str(a) for a in argv) for argv in data["commands"]),
            revision=str(data["revision"]),
            state=str(data["state"]),
            approved_by=str(data["approved_by"]),
            approved_at=data["approved_at"],
            approved_hash=approvals[-1] if approvals else "",
            history=history,
        )
        details = {k: v for k, v in data.items() if k not in TOP}
        result = dict(data["result"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"not an action's record: {type(err).__name__}: {err}") from None
    if action.state not in states.ALL:
        raise ValueError(f"not an action's record: unknown state {action.state!r}")
    if action.hash != data["hash"]:
        raise ValueError("not an action's record: its hash is not what it would run")
    return Record(action, details, result)


def recommendation(data: dict[str, Any]) -> dict[str, Any]:
    """What ``action.recommended`` said of it, as far as the executor checks it."""
    keep = ("id", "type", "target", "commands", "revision", "service", "node", "drift")
    return {k: data[k] for k in keep if k in data}


def approval(data: dict[str, Any]) -> dict[str, Any]:
    """What ``action.approved`` said of it (``action_queue.Queue._approved``)."""
    return {
        **{k: data.get(k) for k in ("id", "type", "target", "commands", "revision", "hash")},
        "by": data.get("approved_by"),
        "at": data.get("approved_at"),
        "service": data.get("service"),
        "drift_key": (data.get("drift") or {}).get("key"),
        "request": None,
    }
