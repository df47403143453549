"""The action lifecycle as a table: every transition, every refusal, the approval binding."""

from __future__ import annotations

import dataclasses

import pytest

from actors.domain.lifecycle import Action, Event, decide, expired

ACTION = Action(
    "a-1", "start", "unit:x.service", (("systemctl", "start", "--", "x.service"),), "rev1"
)
HASH = ACTION.hash


def at(state: str, **changes) -> Action:
    return dataclasses.replace(ACTION, state=state, **changes)


def approved() -> Action:
    return decide(at("pending"), Event("approve", 10.0, by="oskar", approval_hash=HASH)).action


def event(kind: str, when: float = 1.0) -> Event:
    """An event as its sender makes it: an approval carries the hash it was shown."""
    return Event(kind, when, approval_hash=HASH if kind == "approve" else "")


@pytest.mark.parametrize(
    ("state", "kind", "after"),
    [
        ("recommended", "queue", "pending"),
        ("pending", "approve", "approved"),
        ("pending", "reject", "rejected"),
        ("pending", "expire", "expired"),
        ("pending", "obsolete", "obsolete"),
        ("approved", "refuse", "refused"),
        ("running", "succeed", "succeeded"),
        ("running", "fail", "failed"),
        ("running", "time_out", "timed_out"),
        ("running", "interrupt", "interrupted"),
    ],
)
def test_each_allowed_transition(state, kind, after):
    decision = decide(at(state), event(kind))
    assert decision.changed and decision.action.state == after
    assert decision.action.history[-1].kind == kind


@pytest.mark.parametrize(
    ("state", "kind", "says"),
    [
        ("approved", "approve", "already approved"),
        ("rejected", "approve", "already rejected"),
        ("succeeded", "reject", "already succeeded"),
        ("pending", "start", "cannot start"),
        ("running", "approve", "already running"),
    ],
)
def test_events_that_change_nothing_say_so(state, kind, says):
    decision = decide(at(state), event(kind))
    assert not decision.changed and says in decision.message
    assert decision.action == at(state)


def test_a_second_decision_is_told_who_took_the_first():
    second = decide(approved(), event("approve", 11.0))
    assert second.message == "a-1 is already approved by oskar; nothing done"
    started = decide(approved(), Event("start", 12.0, by="executor")).action
    assert "already running (approved by oskar)" in decide(started, event("reject")).message
    rejected = decide(at("pending"), Event("reject", 3.0, by="bob")).action
    assert "already rejected by bob" in decide(rejected, event("approve")).message


def test_an_approval_records_who_when_and_what_will_run():
    action = approved()
    assert (action.approved_by, action.approved_at) == ("oskar", 10.0)
    assert action.state == "approved" and action.approved_hash == ACTION.hash == action.hash


def test_an_approval_no_longer_applies_when_the_action_changes():
    action = dataclasses.replace(
        approved(), commands=(("systemctl", "restart", "--", "x.service"),)
    )
    assert action.approved_hash != action.hash  # approved for what it was, not what it is
    refused = decide(action, Event("start", 11.0, by="executor"))
    assert not refused.changed and "no longer matches" in refused.message


def test_an_approval_for_what_the_operator_did_not_see_is_refused():
    decision = decide(at("pending"), Event("approve", 1.0, by="o", approval_hash="stale"))
    assert not decision.changed and "changed since it was shown" in decision.message


def test_an_approval_without_the_hash_the_operator_saw_is_refused():
    decision = decide(at("pending"), Event("approve", 1.0, by="o"))
    assert not decision.changed and "must carry the hash" in decision.message
    assert decision.action == at("pending")


def test_approvals_expire():
    action = approved()
    assert not expired(action, now=10.0 + 3600, approval_ttl=3600)
    assert expired(action, now=10.0 + 3601, approval_ttl=3600)
