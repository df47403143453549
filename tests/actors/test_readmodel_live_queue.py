"""The Action Queue's fold: the supervisor's own queue fold over the messages, seeded from
``actions/``; no file is read after the page opens."""

from __future__ import annotations

import json
from pathlib import Path

from actors.domain import action_queue
from actors.readmodel.live.queue import QueueFold
from bus.envelope import Message

NOW = 1_790_000_000.0
A1 = "a-00000000000000a1"


def recommended(seq: int, action_id: str = A1) -> Message:
    payload = {
        "id": action_id,
        "type": "start",
        "target": "unit:db.service",
        "commands": [["systemctl", "start", "--", "db.service"]],
        "revision": "r1",
        "service": "db",
        "approval": "manual",
    }
    return Message(seq, NOW + seq, "action.recommended", f"m{seq}", "supervisor", payload)


def request(seq: int, source: str, hash_: str, kind: str = "approve") -> Message:
    payload = {"id": A1, "by": source.split(":")[1], "hash": hash_, "reason": "why"}
    return Message(seq, NOW + seq, f"action.request.{kind}", f"m{seq}", source, payload)


def fact(seq: int, topic: str, source: str = "executor", **payload) -> Message:
    return Message(seq, NOW + seq, topic, f"m{seq}", source, {"id": A1, **payload})


def test_a_recommendation_on_the_bus_is_pending_at_once_without_any_file(tmp_path: Path):
    fold = QueueFold(tmp_path)
    assert fold.view().pending == []
    assert fold.apply(recommended(1))
    [pending] = fold.view().pending
    assert (pending.id, pending.state, pending.model_extra["service"]) == (A1, "pending", "db")
    assert not (tmp_path / "actions").exists()


def test_a_decision_moves_the_action_from_pending_to_running_then_to_history(tmp_path: Path):
    fold = QueueFold(tmp_path)
    fold.apply(recommended(1))
    shown_hash = fold.view().pending[0].hash
    assert not fold.apply(request(2, "emit:x", shown_hash))  # not an operator's channel
    assert fold.apply(request(3, "ui:oskar", shown_hash))
    [approved] = fold.view().running
    assert (approved.state, approved.approved_by) == ("approved", "oskar")
    fold.apply(fact(4, "action.running", timeout=60))
    assert fold.apply(fact(5, "action.failed", seconds=1.5, detail="exit 3"))
    view = fold.view()
    assert (view.pending, view.running) == ([], [])
    assert [(a.state, a.result["detail"]) for a in view.history] == [("failed", "exit 3")]


def test_it_starts_from_the_files_and_recent_messages_they_hold_change_nothing(tmp_path: Path):
    live = action_queue.Queue()
    messages = [recommended(1)]
    live.apply(messages[0])
    messages.append(request(2, "cli:tester", live.records[A1].action.hash))
    live.apply(messages[1])
    (tmp_path / "actions").mkdir()
    (tmp_path / "actions" / f"{A1}.json").write_text(json.dumps(live.records[A1].to_dict()))
    (tmp_path / "actions" / "a-00000000000000b2.json").write_text("{not json")
    fold = QueueFold(tmp_path, recent=messages)
    [approved] = fold.view().running
    assert approved.approved_by == "tester"
    assert [e.kind for e in approved.history] == ["queue", "approve"]
    assert not any(fold.apply(m) for m in messages)


def test_a_change_published_before_its_file_was_written_is_in_the_first_view(tmp_path: Path):
    fold = QueueFold(tmp_path, recent=[recommended(1)])
    assert [a.id for a in fold.view().pending] == [A1]
