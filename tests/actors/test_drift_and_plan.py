"""diff and plan as tables: no sockets, no clock, no YAML."""

from __future__ import annotations

import dataclasses

import pytest

from actors.domain.drift import Drift, diff
from actors.domain.inventory import Inventory
from actors.domain.plan import BACKOFF, ESCALATE_AFTER, Failures, action_id, plan
from actors.domain.world import CheckState, NodeState, ServiceState, World

DESIRED = Inventory.model_validate(
    {
        "nodes": {"vps": {"address": "127.0.0.1"}},
        "services": {
            "web": {
                "node": "vps",
                "kind": "container",
                "image": "nginx:1.27",
                "checks": [{"type": "http", "url": "http://127.0.0.1/"}],
            },
            "old": {"node": "vps", "kind": "systemd", "unit": "old.service", "desired": "stopped"},
            "db": {
                "node": "vps",
                "kind": "systemd",
                "unit": "postgresql.service",
                "policy": "auto",
            },
            "muted": {"node": "vps", "kind": "systemd", "unit": "m.service", "policy": "ignore"},
            "router": {
                "node": "vps",
                "kind": "http",
                "checks": [{"type": "http", "url": "http://192.0.2.1/"}],
            },
        },
    }
)


def check(outcome: str, since: float = 100.0, seq: int = 7, **facts) -> CheckState:
    return CheckState(
        outcome=outcome,
        detail=f"{outcome} detail",
        facts=facts,
        latency_ms=None,
        observed_at=since,
        since=since,
        since_seq=seq,
        last_seen=since + 5,
        last_seq=seq + 3,
    )


def world(node_health: str = "healthy", **services: dict[str, CheckState]) -> World:
    w = World(seq=50, time=200.0)
    w.nodes["vps"] = NodeState(health=node_health, reason="", since=1.0)
    for name, checks in services.items():
        w.services[name] = ServiceState(node="vps", health="x", checks=checks)
    return w


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ({"web": {"state": check("ok", image="nginx:1.27"), "http": check("ok")}}, []),
        ({"web": {"state": check("fail", state="missing")}}, [("web", "missing")]),
        ({"web": {"state": check("fail", state="exited")}}, [("web", "stopped")]),
        (
            {"web": {"state": check("ok", image="nginx:1.27"), "http": check("fail")}},
            [("web", "unhealthy")],
        ),
        ({"web": {"state": check("ok", image="nginx:1.25")}}, [("web", "wrong_image")]),
        ({"web": {"state": check("error")}}, []),  # could not read the state: unknown, no drift
        ({"old": {"state": check("ok", state="active")}}, [("old", "unexpected_running")]),
        ({"old": {"state": check("fail", state="inactive")}}, []),
        ({"router": {"http": check("timeout")}}, [("router", "unhealthy")]),
        ({"stray": {"state": check("ok")}}, [("stray", "unmanaged")]),
    ],
)
def test_diff_finds_each_kind_of_drift(observed, expected):
    drifts = diff(DESIRED, world(**observed))
    assert [(d.service, d.kind) for d in drifts] == expected


def test_a_drift_says_since_when_and_which_observations_are_behind_it():
    [drift] = diff(
        DESIRED, world(web={"state": check("fail", since=123.0, seq=40, state="exited")})
    )
    assert drift.since == 123.0 and drift.seqs == (40, 43)


def test_nothing_drifts_on_a_silent_node():
    assert diff(DESIRED, world("unknown", web={"state": check("fail", state="exited")})) == []


def drift(service: str = "web", kind: str = "stopped") -> Drift:
    return Drift(service, "vps", kind, "exited (0)", 100.0, (40, 43))


def test_plan_recommends_the_fix_with_its_exact_commands_and_revision():
    [rec], held = plan([drift()], DESIRED, "rev1", {}, now=1000.0)
    assert held == []
    assert (rec.type, rec.target, rec.commands) == (
        "start",
        "container:web",
        (("docker", "start", "--", "web"),),
    )
    assert (
        rec.revision == "rev1" and rec.approval == "approve" and rec.reason == "stopped: exited (0)"
    )


def test_the_same_drift_under_the_same_revision_gets_the_same_id():
    first, _ = plan([drift()], DESIRED, "rev1", {}, now=1.0)
    again, _ = plan([drift()], DESIRED, "rev1", {}, now=999.0)
    other, _ = plan([drift()], DESIRED, "rev2", {}, now=1.0)
    assert first[0].id == again[0].id != other[0].id


@pytest.mark.parametrize(
    ("d", "why"),
    [
        (drift("muted"), "policy for start: ignore"),
        (drift("router", "unhealthy"), "no driver can restart a http service"),
        (Drift("stray", "vps", "unmanaged", "", 1.0, (1,), False), "reported, never acted on"),
    ],
)
def test_drift_that_is_not_acted_on_says_why(d, why):
    recs, [held] = plan([d], DESIRED, "rev1", {}, now=1.0)
    assert recs == [] and why in held.why


def test_auto_policy_is_carried_into_the_recommendation():
    [rec], _ = plan([drift("db")], DESIRED, "rev1", {}, now=1.0)
    assert rec.approval == "auto"


def test_after_a_failure_the_fix_waits_doubling_then_escalates():
    key = drift("db").key
    _, [held] = plan(
        [drift("db")], DESIRED, "r", {key: Failures(1, 1000.0)}, now=1000.0 + BACKOFF - 1
    )
    assert "next try in" in held.why
    [retry], _ = plan([drift("db")], DESIRED, "r", {key: Failures(1, 1000.0)}, now=1000.0 + BACKOFF)
    assert retry.attempt == 1 and retry.approval == "auto" and not retry.escalated
    _, [held] = plan([drift("db")], DESIRED, "r", {key: Failures(2, 1000.0)}, now=1000.0 + BACKOFF)
    assert "next try in" in held.why  # the second wait is twice as long
    late = 1000.0 + BACKOFF * 2**ESCALATE_AFTER
    [escalated], _ = plan(
        [drift("db")], DESIRED, "r", {key: Failures(ESCALATE_AFTER, 1000.0)}, now=late
    )
    assert escalated.escalated and escalated.approval == "approve"
    assert escalated.id == action_id("r", drift("db"), "start", ESCALATE_AFTER) != retry.id


def test_no_fix_is_recommended_until_every_check_of_the_service_has_reported():
    # Right after start only the http check has reported: the service looks unhealthy,
    # although its state probe will say it is stopped (another fix) a moment later.
    early = diff(DESIRED, world(web={"http": check("fail")}))
    assert [(d.kind, d.settled) for d in early] == [("unhealthy", False)]
    recs, [held] = plan(early, DESIRED, "rev1", {}, now=1.0)
    assert recs == [] and "waiting for every check" in held.why
    later = diff(
        DESIRED, world(web={"http": check("fail"), "state": check("fail", state="exited")})
    )
    assert [(d.kind, d.settled) for d in later] == [("stopped", True)]
    assert [r.type for r in plan(later, DESIRED, "rev1", {}, now=1.0)[0]] == ["start"]


def test_a_check_that_failed_before_the_service_came_back_is_not_a_second_fault():
    # A fix started the stopped service: its state is ok since seq 20, but the http check's
    # last result (seq 10) is from before. No restart on that: wait for the next http result.
    came_back = {"state": check("ok", seq=20, image="nginx:1.27"), "http": check("fail", seq=7)}
    stale = diff(DESIRED, world(web=came_back))
    assert [(d.kind, d.settled) for d in stale] == [("unhealthy", False)]
    recs, [held] = plan(stale, DESIRED, "rev1", {}, now=1.0)
    assert recs == [] and "waiting for every check" in held.why
    # Its next result still fails: now it is a fault of the running service.
    again = {**came_back, "http": dataclasses.replace(came_back["http"], last_seq=21)}
    fault = diff(DESIRED, world(web=again))
    assert [(d.kind, d.settled) for d in fault] == [("unhealthy", True)]
    assert [r.type for r in plan(fault, DESIRED, "rev1", {}, now=1.0)[0]] == ["restart"]


def test_a_check_failing_before_the_next_state_probe_may_be_the_service_dying():
    # Killed: its http check fails (since seq 30) before its state probe runs again (last
    # seen at seq 10). A restart now would be obsolete a moment later, when "stopped" comes.
    running = check("ok", seq=7, image="nginx:1.27")
    dying = {"state": running, "http": check("fail", seq=30)}
    early = diff(DESIRED, world(web=dying))
    assert [(d.kind, d.settled) for d in early] == [("unhealthy", False)]
    # The state probe after the failure says it runs: a fault of the running service.
    probed = {**dying, "state": dataclasses.replace(running, last_seq=31)}
    assert [(d.kind, d.settled) for d in diff(DESIRED, world(web=probed))] == [("unhealthy", True)]


def test_a_drift_that_comes_back_after_its_fix_gets_a_new_action():
    first = diff(DESIRED, world(db={"state": check("fail", seq=40, state="inactive")}))
    again = diff(DESIRED, world(db={"state": check("fail", seq=90, state="inactive")}))
    [before], _ = plan(first, DESIRED, "rev1", {}, now=1.0)
    [after], _ = plan(again, DESIRED, "rev1", {}, now=2.0)
    assert before.id != after.id  # same service, kind and revision; another occurrence


def test_a_drift_whose_fix_has_ended_is_held_until_the_drift_changes():
    [rec], _ = plan([drift()], DESIRED, "rev1", {}, now=1.0)
    recs, [held] = plan([drift()], DESIRED, "rev1", {}, now=2.0, closed={rec.id: "rejected"})
    assert recs == [] and f"{rec.id} rejected" in held.why
