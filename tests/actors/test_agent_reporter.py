"""What an agent sends: a result in full when it changed (or every ``refresh``), else the
check named in the next heartbeat, with a seq stored before the run began."""

from __future__ import annotations

from actors.agent import Reporter
from actors.domain.observations import Heartbeat, Observation

KEY = "service/db/state"


def result(outcome: str = "ok", detail: str = "active", **facts) -> Observation:
    return Observation(
        node="vps",
        service="db",
        check="state",
        outcome=outcome,
        detail=detail,
        facts=facts or {"state": "active"},
        latency_ms=12.5,
        interval=30.0,
        observed_at=1_800_000_000.0,
    )


def test_a_result_goes_in_full_first_then_the_heartbeat_names_it_while_it_stays_the_same():
    reporter = Reporter(refresh=600)
    began = reporter.began()
    assert reporter.full(KEY, result(), began, now=0.0)
    reporter.sending(KEY)
    reporter.stored(10, KEY, (("ok", "active", (("state", "active"),)), 0.0))
    reporter.stored(11)  # the heartbeat after it
    began = reporter.began()
    assert began == 11
    assert not reporter.full(KEY, result(), began, now=30.0)  # the same: not sent
    assert reporter.full("node/disk", result(), began, now=30.0)  # never sent: in full
    beat = reporter.heartbeat()
    assert beat == {"unchanged": {"db": ["state"]}, "since": 11}
    assert Heartbeat(node="vps", interval=30, checks=2, started_at=0, **beat).since == 11
    assert reporter.heartbeat() == {}  # said once


def test_a_change_a_refresh_or_a_result_on_its_way_goes_in_full():
    reporter = Reporter(refresh=600)
    same = (("ok", "active", (("state", "active"),)), 0.0)
    reporter.sending(KEY)
    reporter.stored(10, KEY, same)
    assert reporter.full(KEY, result("fail", "inactive", state="inactive"), 10, now=5.0)
    assert reporter.full(KEY, result(), 10, now=600.0)  # ten minutes since it went in full
    reporter.sending(KEY)  # on its way, not stored yet
    assert reporter.full(KEY, result(), 10, now=6.0)
    reporter.stored(None, KEY)  # refused (or lost): the world never had it
    assert not reporter.full(KEY, result(), 10, now=7.0)  # what it knew stored still holds


def test_node_checks_are_named_under_the_empty_service_and_since_is_the_oldest_start():
    reporter = Reporter(refresh=600)
    for key, seq in (("node/disk", 5), (KEY, 6), ("service/web/http", 7)):
        reporter.sending(key)
        reporter.stored(seq, key, (("ok", "active", (("state", "active"),)), 0.0))
    assert not reporter.full("node/disk", result(), 6, now=1.0)
    assert not reporter.full(KEY, result(), 7, now=1.0)
    assert not reporter.full("service/web/http", result(), 7, now=1.0)
    assert reporter.heartbeat() == {
        "unchanged": {"": ["disk"], "db": ["state"], "web": ["http"]},
        "since": 6,
    }


def test_refresh_0_sends_every_result_in_full_as_before():
    reporter = Reporter(refresh=0)
    reporter.sending(KEY)
    reporter.stored(10, KEY, (("ok", "active", (("state", "active"),)), 0.0))
    assert reporter.full(KEY, result(), 10, now=1.0)
    assert reporter.heartbeat() == {}
