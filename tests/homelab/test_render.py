"""What ``homelab status``, ``homelab drift`` and ``homelab tap`` print for people, rendered
from the read model's results or messages into a console that records the text (no
processes)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from rich.console import Console

from actors.readmodel.models import DriftReport
from bus.envelope import Message
from homelab import drift_report, render

BUS_DOWN = {"endpoint": "tcp://127.0.0.1:9", "reachable": False, "error": "no answer"}


def printed(show, report) -> str:
    out = io.StringIO()
    show(report, Console(file=out, width=200, highlight=False, soft_wrap=True))
    return out.getvalue()


def status_report(**services: dict) -> dict:
    return {
        "observed": True,
        "nodes": {"vps": {"health": "healthy", "reason": "heartbeat every 5 s", "since": 1.0}},
        "services": services,
        "counts": {
            "nodes": {"healthy": 1, "degraded": 0, "down": 0, "unknown": 0},
            "services": {"healthy": len(services), "degraded": 0, "down": 0, "unknown": 0},
        },
        "world_seq": 9,
        "desired": {"revision": "r1", "problems": []},
        "drift": {"count": 1, "items": ["old_db: unexpected_running"], "recommended": 1},
        "bus": BUS_DOWN,
    }


def test_status_shows_a_drift_kind_in_words():
    text = printed(render.status, status_report())
    assert "drift: 1 (old_db: unexpected running); 1 fix(es) recommended" in text
    assert "unexpected_running" not in text


def test_drift_shows_its_kind_in_words_and_json_keeps_the_kind():
    drift = {
        "service": "old",
        "node": "vps",
        "kind": "unexpected_running",
        "detail": "running, declared stopped",
        "since": 0.0,
        "seqs": [4, 7],
        "managed": True,
        "settled": True,
        "key": "old/unexpected_running",
        "compared": [("state", "stopped", "running (active)", False)],
    }
    report = DriftReport(
        revision="r1",
        drifts=[drift],
        recommended=[],
        held=[{"drift": "old/unexpected_running", "why": "policy for stop: ignore"}],
        drifted=1,
        world_seq=9,
        unobserved=[],
    )
    text = printed(drift_report.show, report)
    assert "old                  unexpected running " in text
    dumped = report.model_dump(mode="json")["drifts"][0]
    assert dumped["kind"] == "unexpected_running"
    assert dumped["compared"] == [["state", "stopped", "running (active)", False]]


def test_status_shows_a_desired_state_other_than_running():
    report = status_report(
        api={
            "node": "vps",
            "desired": "stopped",
            "health": "healthy",
            "reason": "stopped, as desired",
            "since": 1.0,
        },
        db={"node": "vps", "desired": "running", "health": "healthy", "reason": "ok", "since": 1.0},
    )
    lines = printed(render.status, report).splitlines()
    [api] = [line for line in lines if line.startswith("  api")]
    [db] = [line for line in lines if line.startswith("  db")]
    assert "healthy" in api and api.endswith("stopped, as desired [stopped (desired)]")
    assert "desired" not in db


def test_drift_says_when_the_supervisor_gave_up_and_how_the_last_fix_ended():
    def stopped(service: str) -> dict:
        return {
            "service": service,
            "node": "vps",
            "kind": "stopped",
            "detail": "inactive",
            "since": 0.0,
            "seqs": [4, 7],
            "managed": True,
            "settled": True,
            "key": f"{service}/stopped",
        }

    fix = {
        "id": "a-2",
        "type": "start",
        "service": "api",
        "node": "vps",
        "target": "unit:api.service",
        "commands": [["systemctl", "start", "--", "api.service"]],
        "reason": "stopped: inactive",
        "drift": stopped("api"),
        "revision": "r1",
        "approval": "approve",
        "attempt": 0,
        "escalated": False,
        "previous": "a-1 expired after 24 h without a decision",
    }
    why = "3 fixes had no effect (a-3 failed, a-4 failed, a-5 failed); held until ..."
    report = DriftReport(
        revision="r1",
        drifts=[stopped("api"), stopped("db")],
        recommended=[fix],
        held=[{"drift": "db/stopped", "why": why, "gave_up": ["a-3", "a-4", "a-5"]}],
        drifted=2,
        world_seq=9,
        unobserved=[],
        gave_up=[
            {"drift": "db/stopped", "service": "db", "kind": "stopped", "attempts": 3}
            | {"actions": ["a-3", "a-4", "a-5"]}
        ],
    )
    lines = printed(drift_report.show, report).splitlines()
    assert "      after: a-1 expired after 24 h without a decision" in lines
    assert f"      no fix: {why}" in lines


def test_status_says_when_the_supervisor_gave_up():
    report = status_report()
    report["drift"]["gave_up"] = ["old_db: 3 fixes had no effect"]
    text = printed(render.status, report)
    assert "gave up: old_db: 3 fixes had no effect" in text


def test_status_shows_the_brokers_alarm_and_the_clients_held_to_their_limit():
    bus = {
        "endpoint": "tcp://127.0.0.1:7001",
        "reachable": True,
        **{"seq": 42, "rate": 3.0, "subscribers": 4, "rejected": 0, "deferred": 1200},
        "alarms": [{"alarm": "disk", "state": "low", "reason": "disk full at /e: 9 bytes free"}],
        "clients": [
            {"client": "conn:0a1b", "source": "backup", "deferred": 1000, "limited": True},
            {"client": "conn:0c2d", "source": "", "deferred": 200, "limited": False},
        ],
    }
    lines = printed(render.status, status_report() | {"bus": bus}).splitlines()
    assert lines[-3].endswith("4 subscriber(s), 0 rejected, 1200 deferred")
    assert lines[-2] == "  alarm: disk full at /e: 9 bytes free"
    assert lines[-1] == "  limited: conn:0a1b (backup), 1000 message(s) deferred"


def test_status_says_when_the_brokers_clock_stepped():
    step = {"step": -120.0, "found": "running", "report": "the wall clock stepped back 2.0 min"}
    bus = {"endpoint": "e", "reachable": True, "seq": 1, "rate": 0.0, "subscribers": 0}
    bus |= {"rejected": 0, "clock_step": step | {"time": 1_800_000_000.0}}
    when = dt.datetime.fromtimestamp(1_800_000_000.0).strftime("%Y-%m-%d %H:%M:%S")
    last = printed(render.status, status_report() | {"bus": bus}).splitlines()[-1]
    assert last == f"  clock: the wall clock stepped back 2.0 min (at {when})"


def test_status_of_a_broker_without_alarms_says_nothing_more():
    bus = {"endpoint": "e", "reachable": True, "seq": 1, "rate": 0.0, "subscribers": 0}
    text = printed(render.status, status_report() | {"bus": bus | {"rejected": 0}})
    assert text.splitlines()[-1] == "bus e: seq 1, 0.0 msg/s, 0 subscriber(s), 0 rejected"


@pytest.mark.parametrize(
    ("source", "identity", "shown"),
    [
        ("emit", "tool:cli", "emit [tool:cli]"),  # the source alone would hide the key
        ("supervisor", "tool:x", "supervisor [tool:x]"),
        ("agent:web1", "agent:web1", "agent:web1"),
        ("observer", "service:observer", "observer"),
        ("broker", "service:broker", "broker"),
        ("agent:web1", None, "agent:web1"),  # stored before identities
    ],
)
def test_a_terminal_line_names_who_sent_a_message_where_its_source_would_mislead(
    source, identity, shown
):
    message = Message(7, 1_800_000_000.0, "note.x", "m", source, {"n": 1}, identity)
    assert f" {shown} " in render.pretty_line(message).plain
    assert json.loads(render.json_line(message))["identity"] == identity
