"""diff and plan as tables: no sockets, no clock, no YAML."""

from __future__ import annotations

import dataclasses

import pytest

from actors.domain.attempts import Attempt, Attempts
from actors.domain.drift import Drift, diff, observed_through
from actors.domain.inventory import Inventory
from actors.domain.plan import BACKOFF, ESCALATE_AFTER, action_id, plan
from actors.domain.rejections import fingerprint
from actors.domain.world import CheckState, NodeState, ServiceState, World
from samples import DESIRED, check


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


def tried(service: str, *ends: str, at: float = 1000.0, seq: int = 60) -> dict[str, Attempts]:
    """How the fixes of ``service``'s stopped drift ended: one action per state in ``ends``,
    the last at ``at`` (broker time) and ``seq``."""
    ended = tuple(
        Attempt(f"a-{n}", state, at - len(ends) + n + 1, seq - len(ends) + n + 1)
        for n, state in enumerate(ends)
    )
    return {f"{service}/stopped": Attempts(40, fingerprint(DESIRED, service), ended)}


def test_after_a_fix_without_effect_the_next_waits_doubling_then_escalates():
    one, two = tried("db", "failed"), tried("db", "failed", "succeeded")
    _, [held] = plan([drift("db")], DESIRED, "r", one, now=1000.0 + BACKOFF - 1)
    assert held.why == "1 fix had no effect (a-0 failed); next try in 1 s"
    [retry], _ = plan([drift("db")], DESIRED, "r", one, now=1000.0 + BACKOFF)
    assert retry.attempt == 1 and retry.approval == "auto" and not retry.escalated
    assert retry.previous == "a-0 failed"
    _, [held] = plan([drift("db")], DESIRED, "r", two, now=1000.0 + BACKOFF)
    assert held.why.startswith("2 fixes had no effect (a-1 succeeded, but the drift stayed)")
    late = 1000.0 + BACKOFF * 2**ESCALATE_AFTER
    three = tried("db", "failed", "timed_out", "interrupted")
    [escalated], _ = plan([drift("db")], DESIRED, "r", three, now=late, give_up_after=4)
    assert escalated.escalated and escalated.approval == "approve"
    assert escalated.id == action_id("r", drift("db"), "start", 3) != retry.id


def test_after_give_up_after_fixes_without_effect_it_gives_up_and_names_them():
    three = tried("db", "failed", "expired", "succeeded", "refused")
    recs, [held] = plan([drift("db")], DESIRED, "r", three, now=10**6)
    assert recs == [] and held.gave_up == ("a-0", "a-2", "a-3")
    assert held.why == (
        "3 fixes had no effect (a-0 failed, a-2 succeeded, but the drift stayed, a-3 refused); "
        "held until the drift or the service's desired state changes"
    )
    [rec], _ = plan([drift("db")], DESIRED, "r", three, now=10**6, give_up_after=4)
    assert rec.attempt == 3


@pytest.mark.parametrize("end", ["expired", "obsolete"])
def test_a_fix_that_never_ran_is_offered_again_at_once_without_counting(end):
    [rec], _ = plan([drift()], DESIRED, "r", tried("web", end, at=1000.0), now=1000.0)
    assert rec.attempt == 0 and rec.id == action_id("r", drift(), "start", 1)
    assert rec.previous.startswith(f"a-0 {end}")


def test_the_next_fix_waits_for_every_check_observed_after_the_last_ended():
    ended = tried("web", "succeeded", seq=60)
    waiting = {"web": 60}  # the http check was last seen at seq 60, before anything new
    _, [held] = plan([drift()], DESIRED, "r", ended, now=10**6, observed=waiting)
    assert held.why == "a-0 succeeded; waiting for web to be observed again after it"
    recs, _ = plan([drift()], DESIRED, "r", ended, now=10**6, observed={"web": 61})
    assert len(recs) == 1


def test_attempts_at_another_occurrence_or_definition_do_not_count():
    given_up = tried("web", "failed", "failed", "failed")
    again = dataclasses.replace(drift(), seqs=(90, 93))
    [rec], _ = plan([again], DESIRED, "r", given_up, now=1000.0)
    assert rec.attempt == 0 and rec.previous == ""
    data = DESIRED.model_dump(mode="json", exclude_defaults=True)
    data["services"]["web"]["description"] = "changed"
    [rec], _ = plan([drift()], Inventory.model_validate(data), "r2", given_up, now=1000.0)
    assert rec.attempt == 0


def test_a_fix_is_judged_on_the_state_and_the_checks_that_fail_observed_again():
    w = world(web={"state": check("fail", seq=40, state="exited"), "http": check("fail", seq=50)})
    assert observed_through(DESIRED, w)["web"] == 43  # state last seen at 43, http at 53
    w = world(web={"state": check("ok", seq=60, image="nginx:1.27"), "http": check("ok", seq=2)})
    assert observed_through(DESIRED, w)["web"] == 63  # a passing check says nothing of a fix
    assert observed_through(DESIRED, world(web={"http": check("fail")}))["web"] == 0


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


def test_an_action_that_ended_is_never_offered_again_under_its_id():
    [rec], _ = plan([drift()], DESIRED, "rev1", {}, now=1.0)
    [again], held = plan([drift()], DESIRED, "rev1", {}, now=2.0, closed={rec.id: "obsolete"})
    assert held == [] and again.id != rec.id and again.id == action_id("rev1", drift(), "start", 1)
