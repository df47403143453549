"""The executor on a stub bus: what it runs, refuses, takes back and reports, with no socket.
(``tests/e2e/test_executor.py`` runs it as a process against a real broker.)"""

from __future__ import annotations

import concurrent.futures
import sys
import threading
from pathlib import Path

import pytest

from actors import executor
from actors.domain import lifecycle
from bus.stub import StubBus

DRIFT = "svc/stopped"


def approval(action_id: str, commands: list[list[str]]) -> dict:
    type_, target, revision = "start", "svc", "rev1"
    hash_ = lifecycle.run_hash(type_, target, commands, revision)
    return {
        "id": action_id,
        "type": type_,
        "target": target,
        "commands": commands,
        "revision": revision,
        "hash": hash_,
        "by": "tester",
        "service": "svc",
    }


def recommend(bus: StubBus, payload: dict) -> None:
    """What the queue publishes first: the drift and the recommendation."""
    queue = bus.outbox("supervisor")
    queue.publish("drift.report", {"drifts": [{"key": DRIFT}]})
    fields = ("id", "type", "target", "commands", "revision", "service")
    recommended = {k: payload[k] for k in fields} | {"drift": {"key": DRIFT}}
    queue.publish("action.recommended", recommended)


def recommend_and_approve(bus: StubBus, payload: dict, *, by: str = "supervisor") -> None:
    """The recommendation and (here at once) its approval."""
    recommend(bus, payload)
    bus.outbox(by).publish("action.approved", payload)


@pytest.fixture
def bus() -> StubBus:
    return StubBus()


@pytest.fixture
def worker(tmp_path: Path, bus: StubBus) -> executor.Executor:
    return executor.Executor(tmp_path, bus.outbox("executor"), bus, timeout=30)


def take_all(worker: executor.Executor, bus: StubBus) -> None:
    """Fold what the bus holds, then what was running is interrupted and approvals taken."""
    for message in bus(*executor.PREFIXES, since=1).drain():
        worker.take(message)
    worker.catch_up()


def of(bus: StubBus, action_id: str) -> list[str]:
    return [m.topic for m in bus.published("action.") if m.payload.get("id") == action_id]


def test_an_approved_action_runs_once_after_running_is_stored_and_says_how_it_ended(bus, worker):
    said = [sys.executable, "-c", "print('hello from a1')"]
    recommend_and_approve(bus, approval("a1", [said]))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop.is_set,))
    thread.start()
    try:
        assert bus.wait_for("action.succeeded", timeout=30)
    finally:
        stop.set()
        thread.join(30)
    steps = [t for n, t in enumerate(of(bus, "a1")) if t not in of(bus, "a1")[:n]]
    assert steps == [
        "action.recommended",
        "action.approved",
        "action.running",
        "action.output",
        "action.succeeded",
    ]
    output = "".join(m.payload["chunk"] for m in bus.published("action.output"))
    assert "hello from a1" in output
    [ended] = bus.published("action.succeeded")
    assert (ended.id, ended.payload["exit_code"], ended.payload["drift_key"]) == (
        "succeeded-a1",
        0,
        DRIFT,
    )


def test_an_action_that_was_running_when_the_executor_stopped_is_interrupted_not_run(bus, worker):
    recommend_and_approve(bus, approval("a1", [["true"]]))
    bus.outbox("executor").publish("action.running", {"id": "a1"}, id="running-a1")
    take_all(worker, bus)
    assert of(bus, "a1")[-1] == "action.interrupted"
    assert not worker.waiting  # and not queued to run again


def test_an_approval_from_anyone_but_the_queue_is_ignored(bus, worker):
    recommend_and_approve(bus, approval("a1", [["true"]]), by="cli:mallory")
    take_all(worker, bus)
    assert of(bus, "a1") == ["action.recommended", "action.approved"]
    assert not worker.waiting


def test_an_approval_for_other_commands_than_recommended_is_refused_and_blocks_nothing(bus, worker):
    recommend(bus, approval("a1", [["true"]]))
    tampered = approval("a1", [["rm", "-rf", "/"]])  # its hash matches its commands
    bus.outbox("supervisor").publish("action.approved", tampered)
    take_all(worker, bus)
    [refused] = bus.published("action.refused")
    assert refused.payload == {"id": "a1", "reason": "the approval is not for what was recommended"}
    assert not worker.waiting
    bus.outbox("supervisor").publish("action.approved", approval("a1", [["true"]]))
    for message in bus(*executor.PREFIXES, since=1).drain():
        worker.take(message)  # its own refusal too: a word on one approval, not the end
    assert [job.commands for jobs in worker.waiting.values() for job in jobs] == [[["true"]]]


@pytest.mark.parametrize(
    ("source", "topic"),
    [
        ("emit", "action.running"),  # anyone's running
        ("supervisor", "action.running"),  # the queue's: never its word
        ("emit", "action.refused"),
        ("supervisor", "action.refused"),  # the queue refusing someone's request
        ("emit", "action.succeeded"),
        ("emit", "action.obsolete"),
    ],
)
def test_a_word_from_the_wrong_source_never_blocks_the_approval(bus, worker, source, topic):
    recommend(bus, approval("a1", [["true"]]))
    bus.outbox(source).publish(topic, {"id": "a1", "request": 7, "reason": "forged"})
    bus.outbox("supervisor").publish("action.approved", approval("a1", [["true"]]))
    take_all(worker, bus)
    assert [job.id for jobs in worker.waiting.values() for job in jobs] == ["a1"]


def test_an_action_whose_drift_is_gone_waits_for_the_supervisor_and_never_runs(bus, worker):
    """The supervisor alone declares it obsolete; the executor neither runs it nor says so."""
    recommend_and_approve(bus, approval("a1", [["true"]]))
    bus.outbox("supervisor").publish("drift.report", {"drifts": []})
    take_all(worker, bus)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        worker.start_ready(pool)
    assert of(bus, "a1") == ["action.recommended", "action.approved"]
    assert "a1" in worker.held
    taken_back = {"id": "a1", "reason": "the drift is gone", "drift_key": DRIFT}
    bus.outbox("supervisor").publish("action.obsolete", taken_back)
    bus.outbox("supervisor").publish("drift.report", {"drifts": [{"key": DRIFT}]})
    for message in bus(*executor.PREFIXES, since=1).drain():
        worker.take(message)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        worker.start_ready(pool)
    assert not worker.held and not worker.waiting
    assert "action.running" not in of(bus, "a1")
    assert [m.source for m in bus.published("action.obsolete")] == ["supervisor"]


def test_a_held_action_runs_when_a_later_report_has_its_drift_again(bus, worker):
    recommend_and_approve(bus, approval("a1", [["true"]]))
    bus.outbox("supervisor").publish("drift.report", {"drifts": []})
    take_all(worker, bus)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        worker.start_ready(pool)
        assert "a1" in worker.held
        bus.outbox("supervisor").publish("drift.report", {"drifts": [{"key": DRIFT}]})
        for message in bus(*executor.PREFIXES, since=1).drain():
            worker.take(message)
        worker.start_ready(pool)
    assert "action.running" in of(bus, "a1") and not worker.held
