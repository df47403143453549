"""The action queue fold: recommendations become pending, requests become decisions."""

from __future__ import annotations

from actors.domain.action_queue import Queue
from actors.domain.lifecycle import run_hash
from bus.envelope import Message

COMMANDS = [["systemctl", "start", "--", "x.service"]]
HASH = run_hash("start", "unit:x.service", COMMANDS, "rev1")


def msg(seq: int, topic: str, source: str = "t", **payload) -> Message:
    return Message(seq, float(seq), topic, f"m{seq}", source, payload)


def request(seq: int, kind: str, by: str, **payload) -> Message:
    """A decision as the shell sends it: from the operator's channel ``cli:NAME``."""
    return msg(seq, f"action.request.{kind}", f"cli:{by}", by=by, **payload)


def recommended(seq: int = 1, approval: str = "approve") -> Message:
    return msg(
        seq,
        "action.recommended",
        "supervisor",
        id="a-1",
        type="start",
        target="unit:x.service",
        commands=COMMANDS,
        revision="rev1",
        service="x",
        node="n",
        reason="stopped: inactive",
        drift={"key": "x/stopped"},
        approval=approval,
    )


def test_a_recommendation_becomes_pending_once():
    queue = Queue()
    out, changed = queue.apply(recommended())
    assert [o[0] for o in out] == ["action.pending"] and changed == {"a-1"}
    assert queue.apply(recommended(2)) == ([], set())
    assert queue.records["a-1"].action.state == "pending"


def test_auto_policy_approves_at_once_and_says_who():
    queue = Queue()
    out, _ = queue.apply(recommended(approval="auto"))
    assert [o[0] for o in out] == ["action.pending", "action.approved"]
    assert out[1][1]["by"] == "policy:auto" and out[1][1]["hash"] == HASH
    assert out[1][1]["drift_key"] == "x/stopped"


def test_an_approval_records_who_and_the_hash_and_a_second_one_is_refused():
    queue = Queue()
    queue.apply(recommended())
    out, _ = queue.apply(request(2, "approve", "oskar", id="a-1", hash=HASH))
    assert out[0][0] == "action.approved" and out[0][1]["by"] == "oskar"
    again, changed = queue.apply(request(3, "approve", "eve", id="a-1", hash=HASH))
    assert again[0][0] == "action.refused"
    assert again[0][1]["reason"] == "a-1 is already approved by oskar; nothing done"
    assert again[0][1]["request"] == 3 and changed == set()
    assert queue.records["a-1"].to_dict()["approved_by"] == "oskar"


def test_unknown_ids_and_stale_hashes_are_refused_with_the_reason():
    queue = Queue()
    queue.apply(recommended())
    out, _ = queue.apply(request(2, "approve", "o", id="nope", hash=HASH))
    assert out[0][1]["reason"] == "no action 'nope'"
    out, _ = queue.apply(request(3, "approve", "o", id="a-1", hash="old"))
    assert "changed since it was shown" in out[0][1]["reason"]


def test_the_executors_facts_are_recorded_with_the_result():
    queue = Queue()
    queue.apply(recommended())
    queue.apply(request(2, "approve", "o", id="a-1", hash=HASH))
    queue.apply(msg(3, "action.running", "executor", id="a-1"))
    queue.apply(msg(4, "action.succeeded", "executor", id="a-1", detail="exit 0", exit_code=0))
    record = queue.records["a-1"].to_dict()
    assert record["state"] == "succeeded" and record["result"]["exit_code"] == 0
    assert [e["kind"] for e in record["history"]] == ["queue", "approve", "start", "succeed"]


def test_pending_actions_expire():
    queue = Queue(approval_ttl=10.0)
    queue.apply(recommended())
    assert queue.expire(5.0) == ([], set())
    out, changed = queue.expire(20.0)
    assert out[0][0] == "action.expired" and queue.records["a-1"].action.state == "expired"


def step(seq: int, seconds: float, source: str = "broker") -> Message:
    """The broker's wall clock stepped: the first message it stamps after says so."""
    return Message(seq, float(seq) + seconds, "bus.clock", f"m{seq}", source, {"step": seconds})


def test_an_approval_does_not_expire_because_the_clock_jumped_a_day_forward():
    queue = Queue(approval_ttl=3600.0)
    queue.apply(recommended())
    queue.apply(request(2, "approve", "oskar", id="a-1", hash=HASH))
    queue.apply(step(3, 86400.0))
    assert queue.expire(86400.0 + 10.0) == ([], set())  # 8 s after the approval, not a day
    out, _ = queue.expire(86400.0 + 2.0 + 3601.0)
    assert out[0][1]["reason"] == "the approval expired after 1 h before it ran"
    expiry = queue.records["a-1"].action.history[-1]
    assert (expiry.at, expiry.clock) == (86400.0 + 2.0 + 3601.0, 2.0 + 3601.0)


def test_a_clock_set_back_does_not_prolong_a_pending_action_and_a_forged_step_counts_not():
    queue = Queue(approval_ttl=60.0)
    queue.apply(recommended())
    queue.apply(step(2, 86400.0, source="emit"))  # not the broker's: no step
    queue.apply(step(3, -3600.0))
    assert queue.steps == -3600.0
    out, _ = queue.expire(-3600.0 + 62.0)  # 61 s since it was queued, though stamps went back
    assert [o[0] for o in out] == ["action.expired"]


def test_an_expiry_is_decided_by_nobody_and_says_what_ran_out():
    queue = Queue(approval_ttl=24 * 3600.0)
    queue.apply(recommended())
    queue.apply(recommended(2)._replace(payload={**recommended().payload, "id": "a-2"}))
    queue.apply(request(3, "approve", "oskar", id="a-2", hash=HASH))
    out, _ = queue.expire(2 * 24 * 3600.0)
    assert [o[1]["reason"] for o in out] == [
        "expired after 24 h without a decision",
        "the approval expired after 24 h before it ran",
    ]
    pending_then, approved_then = (queue.records[i].action.history[-1] for i in ("a-1", "a-2"))
    assert (pending_then.kind, pending_then.by) == ("expire", "")  # not "queue"
    assert approved_then.by == "" and queue.records["a-2"].action.approved_by == "oskar"


def test_only_the_supervisor_recommends():
    queue = Queue()
    forged = recommended()._replace(source="emit")
    assert queue.apply(forged) == ([], set()) and not queue.records


def test_an_approval_without_the_hash_is_refused():
    queue = Queue()
    queue.apply(recommended())
    out, changed = queue.apply(request(2, "approve", "oskar", id="a-1"))
    assert out[0][0] == "action.refused" and "must carry the hash" in out[0][1]["reason"]
    assert changed == set() and queue.records["a-1"].action.state == "pending"


def test_decisions_count_only_from_an_operator_channel_and_name_that_operator():
    queue = Queue()
    queue.apply(recommended())
    out, _ = queue.apply(msg(2, "action.request.approve", "inbox", by="oskar", id="a-1", hash=HASH))
    assert "decisions come from an operator" in out[0][1]["reason"]
    out, _ = queue.apply(
        msg(3, "action.request.approve", "cli:mallory", by="oskar", id="a-1", hash=HASH)
    )
    assert "names 'oskar' but comes from 'mallory'" in out[0][1]["reason"]
    assert queue.records["a-1"].action.state == "pending"
    out, _ = queue.apply(msg(4, "action.request.reject", "ui:oskar", id="a-1", reason="no"))
    assert out[0][0] == "action.rejected" and out[0][1]["by"] == "oskar"


def test_run_reports_count_only_from_the_executor():
    queue = Queue()
    queue.apply(recommended())
    queue.apply(request(2, "approve", "o", id="a-1", hash=HASH))
    assert queue.apply(msg(3, "action.running", "emit", id="a-1")) == ([], set())
    assert queue.records["a-1"].action.state == "approved"
    queue.apply(msg(4, "action.running", "executor", id="a-1"))
    assert queue.records["a-1"].action.state == "running"
