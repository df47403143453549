"""What the pages put into words and rows, without a browser or a socket: times relative and
absolute, durations, one record in full, the time range of a replay, the last failures, the
rate chart's bounded points, the rollback mark, History and World rows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from actors.readmodel.models import ActionView, CheckView, ServiceView, WorldView
from bus import envelope, filelog
from bus.dataroot import DataRoot
from bus.envelope import Message
from gui import present
from gui.components import bus_card, dashboard_cards, events, service_detail, world_table
from gui.components import history as action_history

NOW = 1_790_000_000.0


def test_since_is_relative_and_absolute():
    assert present.relative(NOW - 0.2, NOW) == "just now"
    assert present.relative(NOW - 42, NOW) == "42 s ago"
    assert present.relative(NOW - 185, NOW) == "3 min ago"
    assert present.relative(NOW - 2 * 3600 - 5, NOW) == "2 h ago"
    assert present.relative(NOW - 4 * 86400, NOW) == "4 d ago"
    assert present.relative(NOW + 5, NOW) == "in 5 s"  # a clock ahead of ours
    assert present.relative(None, NOW) == present.since(0, NOW) == ""
    stamp = dt.datetime.fromtimestamp(NOW - 185).strftime("%Y-%m-%d %H:%M:%S")
    assert present.since(NOW - 185, NOW) == f"3 min ago ({stamp})"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.42, "0.4 s"), (12, "12.0 s"), (185, "3 min 5 s"), (3725, "1 h 2 min"), (None, "")],
)
def test_durations(seconds, shown):
    assert present.duration(seconds) == shown


def test_a_record_in_full_is_text_with_its_payload_as_indented_json():
    message = Message(12, NOW, "obs.node.n1.check", "m12", "agent:n1", {"b": "<b>x</b>", "a": 1})
    fields = dict(present.record_fields(message))
    assert fields["seq"] == "12" and fields["topic"] == "obs.node.n1.check"
    assert fields["source"] == "agent:n1" and fields["id"] == "m12"
    assert fields["time"].startswith(present.absolute(NOW))
    assert present.pretty(message.payload) == '{\n  "a": 1,\n  "b": "<b>x</b>"\n}'


def test_times_typed_or_picked_for_a_replay():
    local = dt.datetime(2026, 11, 28, 9, 30).astimezone().timestamp()
    assert present.parse_time("2026-11-28T09:30", NOW) == local
    assert (
        present.parse_time("2026-11-28T09:30:00+00:00", NOW)
        == dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC).timestamp()
    )
    assert present.parse_time("10m", NOW) == NOW - 600
    assert present.parse_time(" 2h ", NOW) == NOW - 7200
    with pytest.raises(ValueError, match="is not a time"):
        present.parse_time("yesterday-ish", NOW)


def test_a_replay_by_time_reads_the_range_and_says_what_is_wrong(tmp_path: Path):
    data = DataRoot(tmp_path)
    log, _ = filelog.FileLog.open_for_append(data.events)
    for i in range(1, 21):
        wire = envelope.encode_wire(f"t.{'a' if i % 2 else 'b'}", f"m{i}", "agent:n", {"i": i})
        log.append([envelope.stamp(wire, i, NOW + i)])
    log.close()
    at = dt.datetime.fromtimestamp(NOW + 5).isoformat()
    until = dt.datetime.fromtimestamp(NOW + 9).isoformat()
    shown = events.replay_time(tmp_path, at, until, "", NOW + 100)
    assert [m.seq for m in shown] == [5, 6, 7, 8]
    assert len(events.replay_time(tmp_path, at, "", "t.a", NOW + 100)) == 8  # 5, 7, ... 19
    with pytest.raises(ValueError, match="not before the end"):
        events.replay_time(tmp_path, until, at, "", NOW)
    with pytest.raises(ValueError, match="pick the time to start from"):
        events.replay_time(tmp_path, " ", at, "", NOW)
    assert [m.seq for m in events.replay(tmp_path, 3, 5, "")] == [3, 4, 5]
    with pytest.raises(ValueError, match="after to seq 5"):
        events.replay(tmp_path, 9, 5, "")


def test_a_line_of_the_tap_has_the_local_time_who_sent_it_and_compact_json():
    message = Message(42, NOW, "obs.node.n1.check", "m", "agent:n1", {"ok": True, "n": [1, 2]})
    clock = dt.datetime.fromtimestamp(NOW).strftime("%H:%M:%S")
    assert present.tap_line(message) == (
        f'{clock}       42 obs.node.n1.check [agent:n1] {{"ok":true,"n":[1,2]}}'
    )
    day = dt.datetime.fromtimestamp(NOW).strftime("%Y-%m-%d")
    assert present.tap_line(message, dated=True).startswith(f"{day} {clock} ")
    forged = Message(43, NOW, "action.output", "m", "emit", {"chunk": "x"})
    assert "[emit, not its owner]" in present.tap_line(forged)
    long = Message(44, NOW, "t", "m", "emit", {"text": "é" * 1000})
    assert len(present.tap_line(long)) == present.LINE_MAX
    assert present.tap_line(long).endswith("…")


def action(action_id: str, state: str, at: float, **result) -> ActionView:
    return ActionView.model_validate(
        {
            "id": action_id,
            "state": state,
            "type": "start",
            "target": "unit:db.service",
            "commands": [["systemctl", "start", "--", "db.service"]],
            "revision": "r1",
            "hash": "h",
            "service": "db",
            "result": result,
            "history": [
                {"kind": "queue", "at": at, "by": "queue", "reason": ""},
                {"kind": "approve", "at": at + 1, "by": "oskar", "reason": ""},
                {"kind": state, "at": at + 3, "by": "executor", "reason": ""},
            ],
        }
    )


def test_the_last_failures_are_the_newest_five_with_their_detail():
    history = [
        action(f"a-{i:016x}", state, NOW - i * 10, detail=f"exit {i}")
        for i, state in enumerate(
            ["succeeded", "failed", "timed_out", "rejected", "interrupted", "failed", "failed"]
            + ["failed"]
        )
    ]
    found = present.failures(history)
    assert [f["id"] for f in found] == [f"a-{i:016x}" for i in (1, 2, 4, 5, 6)]
    assert found[0]["title"] == "failed: start db" and found[0]["detail"] == "exit 1"
    assert found[0]["at"] == present.absolute(NOW - 10 + 3)


def test_names_of_the_code_are_shown_in_words():
    assert present.words("unexpected_running") == "unexpected running"
    assert present.drift_item("svc-1: unexpected_running") == "svc-1: unexpected running"
    assert present.drift_item("svc: wrong_image") == "svc: wrong image"
    timed_out = action("a-0000000000000009", "timed_out", NOW)
    assert present.failures([timed_out])[0]["title"] == "timed out: start db"
    assert action_history.history_row(timed_out)["state"] == "timed out"


@pytest.mark.parametrize(
    ("row", "matches"),
    [
        (("check http", "ok", "ok: 200 OK"), True),  # was shown in red
        (("check http", "ok", "fail: 503 Service Unavailable"), False),
        (("check http", "ok", "not observed"), False),
        (("state", "running", "running"), True),
        (("state", "running", "running (active)"), True),
        (("state", "running", "not running: status exited 3"), False),
        (("state", "stopped", "running"), False),
        (("state", "stopped", "not running (inactive)"), True),
        (("image", "nginx:1.27", "nginx:1.26"), False),
        (("image", "nginx:1.27", "nginx:1.27"), True),
        # the read model's own flag wins over the text
        (("state", "running", "running", False), False),
        (("check tcp", "ok", "whatever it says", True), True),
        ({"aspect": "state", "desired": "a", "actual": "b", "matches": True}, True),
    ],
)
def test_a_compared_row_matches_by_its_own_flag_or_else_by_its_text(row, matches):
    assert present.compared([row])[0][3] is matches


def test_the_rate_chart_keeps_only_its_last_points_from_stats_ticks():
    series = present.RateSeries(size=3)
    assert not series.add(Message(1, NOW, "obs.node.n1.check", "m", "agent:n1", {"rate": 9}))
    assert not series.add(Message(2, NOW, "bus.stats", "m", "broker", {"rate": "fast"}))
    for i in range(5):
        assert series.add(Message(3 + i, NOW + i, "bus.stats", f"s{i}", "broker", {"rate": i}))
    assert series.values == [2.0, 3.0, 4.0]
    assert len(series.labels) == 3
    options = bus_card.rate_options(series)
    assert options["series"][0]["data"] == [2.0, 3.0, 4.0]
    assert options["xAxis"]["data"] == series.labels


def test_the_desired_revision_is_marked_when_it_came_back_as_a_rollback():
    desired = {"revision": "abc123", "problems": []}
    rollback = {"revision": "abc123", "rollback": True, "previous": "def456"}
    assert dashboard_cards.revision_text(desired, rollback) == (
        "Desired state: revision abc123 (rollback from def456)"
    )
    assert "rollback" not in dashboard_cards.revision_text(desired, rollback | {"rollback": False})
    # a rollback announced for another revision does not mark this one
    assert "rollback" not in dashboard_cards.revision_text(desired, rollback | {"revision": "zzz"})
    assert dashboard_cards.revision_text({}, None) == "Desired state: revision none loaded yet"


def test_a_history_row_has_the_duration_and_opens_the_output_only_after_a_run():
    ran = action_history.history_row(
        action("a-0000000000000001", "failed", NOW, seconds=185, log="x")
    )
    assert (ran["duration"], ran["decided"], ran["ran"]) == ("3 min 5 s", "oskar", True)
    never = action_history.history_row(action("a-0000000000000002", "rejected", NOW))
    assert (never["duration"], never["ran"]) == ("", False)
    assert {c["name"] for c in action_history.HISTORY_COLUMNS} >= {"duration", "output", "state"}
    assert "v-html" not in action_history.OUTPUT_SLOT  # row values stay text


def check(outcome: str, since: float, seen: float) -> CheckView:
    return CheckView(
        outcome=outcome,
        detail="HTTP 200",
        facts={},
        latency_ms=3.21,
        observed_at=seen,
        since=since,
        since_seq=1,
        last_seen=seen,
        last_seq=2,
    )


def test_world_rows_show_since_both_ways_and_a_services_checks():
    service = ServiceView(
        name="web",
        node="n1",
        health="healthy",
        reason="all checks pass",
        since=NOW - 185,
        since_seq=3,
        last_seen=NOW - 1,
        checks={"http": check("ok", NOW - 185, NOW - 1)},
    )
    view = WorldView(seq=9, time=NOW, nodes=[], services=[service])
    (row,) = world_table.rows(view, NOW)
    assert row["ago"] == "3 min ago" and row["since"] == present.absolute(NOW - 185)
    assert row["kind"] == "service"
    (c,) = service_detail.check_rows(service, NOW)
    assert (c["check"], c["outcome"], c["latency"]) == ("http", "ok", 3.2)
    assert c["since"] == present.since(NOW - 185, NOW)
    failed = service_detail.updated_check(
        c, {"outcome": "fail", "detail": "HTTP 500", "observed_at": NOW}
    )
    assert (failed["outcome"], failed["detail"]) == ("fail", "HTTP 500")
    assert failed["since"] != c["since"]  # the outcome changed: since moves
    again = service_detail.updated_check(
        c, {"outcome": "ok", "detail": "HTTP 200", "observed_at": NOW}
    )
    assert again["since"] == c["since"]


def test_an_observation_row_is_text():
    message = Message(
        44, NOW, "obs.node.n1.service.web", "m", "agent:n1",
        {"check": "http", "outcome": "fail", "detail": "<script>", "latency_ms": 12.345},
    )  # fmt: skip
    row = service_detail.observation_row(message)
    assert row == {
        "seq": 44,
        "time": present.absolute(NOW),
        "check": "http",
        "outcome": "fail",
        "detail": "<script>",
        "latency": 12.3,
    }
    assert json.dumps(row)  # goes to the browser as JSON


def test_history_shows_the_newest_ended_actions_and_says_how_many_are_left_out():
    ended = [
        action(f"a-{n:016x}", "succeeded", NOW - n) for n in range(action_history.HISTORY_SHOWN + 5)
    ]
    rows = action_history.history_rows(ended)
    assert len(rows) == action_history.HISTORY_SHOWN and rows[0]["id"] == ended[0].id
    assert action_history.history_shown(ended) == (
        f"the newest {action_history.HISTORY_SHOWN} of {action_history.HISTORY_SHOWN + 5} ended actions "
        "(all: `homelab actions list`)"
    )
    assert action_history.history_shown(ended[:3]) == "3 ended actions, newest first"


def test_the_brokers_alarms_and_held_clients_read_as_lines():
    alarm = {"alarm": "disk", "state": "low", "reason": "disk full at /e: 9 bytes free"}
    assert present.alarm(alarm) == "disk full at /e: 9 bytes free"
    assert present.alarm(alarm | {"since": 0.0}).startswith("disk full at /e: 9 bytes free (since")
    clients = [
        {"client": "conn:0a1b", "source": "backup", "deferred": 1000, "limited": True},
        {"client": "conn:0c2d", "source": "", "deferred": 200, "limited": False},
        "junk",
    ]
    assert present.limited_clients(clients) == (
        "held to its limit: backup (conn:0a1b), 1000 deferred"
    )
    assert present.limited_clients(None) == ""


def test_a_step_of_the_brokers_clock_reads_as_a_line():
    step = {"step": -120.0, "report": "the wall clock stepped back 120 s", "time": 1.0e9}
    assert present.clock_step(step).startswith("clock: the wall clock stepped back 120 s (at ")
    assert present.clock_step(None) == "" and present.clock_step({"step": 1}) == ""
