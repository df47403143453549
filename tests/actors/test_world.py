"""The world as a fold: health rules, when changes are reported, silence, bad payloads,
idempotence and saving. No sockets, no clock: messages are built by hand."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from actors import atomic
from actors.domain import drift
from actors.domain.inventory import Inventory
from actors.domain.states import HEALTHS
from actors.domain.world import (
    NO_HEARTBEAT,
    Change,
    World,
    apply,
    iso,
)
from actors.domain.world_codec import files, from_dict, summary, to_dict
from bus.envelope import Message

T0 = 1_800_000_000.0


class Stream:
    """Numbers and stamps messages like the broker, folds them, keeps the changes."""

    def __init__(self, world: World | None = None, seq: int = 0, time: float = T0):
        self.world = world or World()
        self.seq, self.time = seq, time
        self.messages: list[Message] = []

    def send(self, topic: str, payload: Any, after: float = 0.0) -> list[Change]:
        self.seq += 1
        self.time += after
        source = "supervisor" if topic.startswith("desired.") else "test"
        message = Message(self.seq, self.time, topic, f"m{self.seq}", source, payload)
        self.messages.append(message)
        return apply(self.world, message)

    def beat(self, node: str = "web1", interval: float = 10.0, missed: int = 3, after=0.0):
        payload = {
            "node": node,
            "interval": interval,
            "missed_intervals": missed,
            "checks": 2,
            "started_at": T0,
        }
        return self.send(f"obs.node.{node}.agent", payload, after)

    def obs(
        self,
        service: str | None,
        check: str,
        outcome: str = "ok",
        detail: str = "",
        node: str = "web1",
        after: float = 0.0,
        **facts: Any,
    ) -> list[Change]:
        payload = observation(node, service, check, outcome, detail, facts, self.time + after)
        topic = (
            f"obs.node.{node}.check" if service is None else f"obs.node.{node}.service.{service}"
        )
        return self.send(topic, payload, after)

    def tick(self, after: float) -> list[Change]:
        return self.send("bus.stats", {"seq": self.seq, "rate": 1.0}, after)

    def step(self, seconds: float, after: float = 0.0, source: str = "broker") -> list[Change]:
        """The broker's wall clock stepped by ``seconds``; it says so (``bus.clock``) with
        the first message it stamps after the step."""
        self.seq += 1
        self.time += after + seconds
        payload = {"step": seconds, "found": "running", "report": "..."}
        message = Message(self.seq, self.time, "bus.clock", f"m{self.seq}", source, payload)
        self.messages.append(message)
        return apply(self.world, message)

    def declare(self, node: str = "web1", source: str = "supervisor", **desired: str):
        """The supervisor's slice of the desired state for ``node``: each service's
        ``desired`` as given (the rest of an inventory entry does not matter here)."""
        self.seq += 1
        services = {
            name: {"node": node, "kind": "systemd", "desired": d} for name, d in desired.items()
        }
        payload = {"node": node, "revision": "r1", "definition": {}, "services": services}
        message = Message(
            self.seq, self.time, f"desired.node.{node}", f"m{self.seq}", source, payload
        )
        self.messages.append(message)
        return apply(self.world, message)

    def service(self, name: str = "nginx"):
        return self.world.services[name]

    def node(self, name: str = "web1"):
        return self.world.nodes[name]


def observation(node, service, check, outcome="ok", detail="", facts=None, at=T0) -> dict:
    payload = {
        "node": node,
        "check": check,
        "outcome": outcome,
        "detail": detail,
        "facts": facts or {},
        "interval": 30.0,
        "observed_at": at,
        "latency_ms": 3.5,
    }
    if service is not None:
        payload["service"] = service
    return payload


def health(stream: Stream, name: str = "nginx") -> tuple[str, str]:
    state = stream.service(name)
    return state.health, state.reason


# -- health of a service ---------------------------------------------------------------------

SERVICE_CASES = [
    # (id, [(check, outcome, detail, facts)], health, reason)
    ("one ok check", [("http", "ok", "", {})], "healthy", "1 check ok"),
    (
        "all ok",
        [("state", "ok", "", {"state": "running"}), ("http", "ok", "", {})],
        "healthy",
        "all 2 checks ok",
    ),
    (
        "one of two fails",
        [("http", "fail", "expected status 200, got 502", {}), ("tcp-443", "ok", "", {})],
        "degraded",
        "http: expected status 200, got 502",
    ),
    (
        "all fail",
        [("http", "fail", "expected status 200, got 502", {}), ("tcp-443", "timeout", "", {})],
        "down",
        "http: expected status 200, got 502 (and 1 more failing)",
    ),
    (
        "state probe fails, other checks pass",
        [
            ("state", "fail", "container nginx exited (code 1)", {"state": "exited"}),
            ("http", "ok", "", {}),
        ],
        "down",
        "state: exited",
    ),
    (
        "state probe errors without a state fact",
        [("state", "error", "docker: command not found", {}), ("http", "ok", "", {})],
        "down",
        "state: docker: command not found",
    ),
    (
        "state probe first in the reason",
        [
            ("a-check", "fail", "first by name", {}),
            ("state", "fail", "", {"state": "stopped"}),
            ("tcp-443", "ok", "", {}),
        ],
        "down",
        "state: stopped (and 1 more failing)",
    ),
    (
        "state ok, a check fails",
        [("state", "ok", "", {"state": "running"}), ("http", "fail", "refused", {})],
        "degraded",
        "http: refused",
    ),
    (
        "a multi-line detail is one line",
        [("http", "fail", "bad\ngateway\r\n", {}), ("tcp-443", "ok", "", {})],
        "degraded",
        "http: bad gateway",
    ),
    ("no detail: the outcome", [("cmd", "timeout", "", {})], "down", "cmd: timeout"),
]


@pytest.mark.parametrize(
    "checks, expected_health, expected_reason",
    [case[1:] for case in SERVICE_CASES],
    ids=[case[0] for case in SERVICE_CASES],
)
def test_health_of_a_service(checks, expected_health, expected_reason):
    stream = Stream()
    stream.beat()
    for check, outcome, detail, facts in checks:
        stream.obs("nginx", check, outcome, detail, **facts)
    assert health(stream) == (expected_health, expected_reason)


# -- health against the desired state ---------------------------------------------------------

STOPPED_CASES = [
    # (id, [(check, outcome, detail, facts)], health, reason)
    (
        "stopped, as desired",
        [("state", "fail", "inactive", {"state": "inactive"}), ("http", "fail", "refused", {})],
        "healthy",
        "stopped, as desired",
    ),
    (
        "not found, as good as stopped",
        [("state", "fail", "no such unit", {"state": "not-found"})],
        "healthy",
        "stopped, as desired",
    ),
    (
        "running although declared stopped",
        [("state", "ok", "", {"state": "active"}), ("http", "ok", "", {})],
        "degraded",
        "running, declared stopped",
    ),
    (
        "its state could not be read",
        [("state", "timeout", "", {}), ("http", "fail", "refused", {})],
        "unknown",
        "declared stopped; state: timeout",
    ),
    (
        "only other checks so far",
        [("http", "fail", "refused", {})],
        "unknown",
        "declared stopped; its state not observed yet",
    ),
]


@pytest.mark.parametrize(
    "checks, expected_health, expected_reason",
    [case[1:] for case in STOPPED_CASES],
    ids=[case[0] for case in STOPPED_CASES],
)
def test_health_of_a_service_declared_stopped(checks, expected_health, expected_reason):
    stream = Stream()
    stream.beat()
    stream.declare(nginx="stopped")
    for check, outcome, detail, facts in checks:
        stream.obs("nginx", check, outcome, detail, **facts)
    assert health(stream) == (expected_health, expected_reason)


def test_a_slice_of_the_desired_state_settles_the_services_it_changes():
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "state", "fail", "inactive", state="inactive")
    stream.obs("db", "state", "ok", state="active")
    assert health(stream) == ("down", "state: inactive")
    changes = stream.declare(nginx="stopped", db="running")
    assert changes == [
        Change("service", "nginx", "healthy", "down", "stopped, as desired", T0, stream.seq)
    ]
    assert stream.declare(nginx="stopped", db="running") == []  # the same again: no change
    back = stream.declare(db="running")  # nginx no longer declared: judged as running
    assert [(c.name, c.previous, c.health) for c in back] == [("nginx", "healthy", "down")]


def test_a_node_that_left_the_inventory_declares_nothing_any_more():
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "state", "fail", "inactive", state="inactive")
    stream.declare(nginx="stopped")
    assert [c.health for c in stream.declare()] == ["down"]  # an empty slice
    assert stream.world.desired == {}


def test_a_service_is_judged_by_the_slice_of_the_node_it_is_observed_on():
    stream = Stream()
    stream.beat("web1")
    stream.obs("nginx", "state", "fail", "inactive", state="inactive")
    assert stream.declare("web2", nginx="stopped") == []  # declared on another node
    assert health(stream)[0] == "down"


@pytest.mark.parametrize("source", ["emit", "inbox", "agent:web1", "observer"])
def test_only_the_supervisor_declares_the_desired_state(source):
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "state", "fail", "inactive", state="inactive")
    assert stream.declare(source=source, nginx="stopped") == []
    assert health(stream)[0] == "down" and stream.world.desired == {}
    assert stream.world.rejected == 1 and "supervisor" in stream.world.last_rejected


def test_the_world_files_carry_each_services_desired_state():
    stream = Stream()
    stream.beat()
    stream.declare(nginx="stopped", db="running")
    for name in ("nginx", "db", "stray"):
        stream.obs(name, "state", "fail", "inactive", state="inactive")
    written = files(stream.world)["services.json"]
    assert {name: s["desired"] for name, s in written.items()} == {
        "db": "running",
        "nginx": "stopped",
        "stray": None,  # not declared: judged as running, not claimed to be
    }
    assert [written[n]["health"] for n in ("db", "nginx", "stray")] == ["down", "healthy", "down"]


def test_a_service_is_unknown_until_its_node_has_a_heartbeat():
    stream = Stream()
    assert stream.obs("nginx", "http") == []  # unknown -> unknown is no change
    assert health(stream) == ("unknown", f"node web1: {NO_HEARTBEAT}")
    assert stream.node().health == "unknown"
    changes = stream.beat(after=1)
    assert [(c.kind, c.name, c.previous, c.health) for c in changes] == [
        ("node", "web1", "unknown", "healthy"),
        ("service", "nginx", "unknown", "healthy"),
    ]
    assert all(c.cause_seq == 2 and c.since == T0 + 1 for c in changes)


def test_node_checks_degrade_the_node_but_not_its_services():
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "http")
    changes = stream.obs(None, "disk", "fail", "/ 93% used (max 90%)")
    assert changes == [
        Change("node", "web1", "degraded", "healthy", "disk: / 93% used (max 90%)", T0, 3)
    ]
    assert stream.service().health == "healthy"
    assert stream.node().checks["disk"].outcome == "fail"
    changes = stream.obs(None, "disk", "ok", "/ 50% used", after=5)
    assert [(c.health, c.reason) for c in changes] == [
        ("healthy", "heartbeat every 10 s, 1 check ok")
    ]


# -- what counts as a change -----------------------------------------------------------------


def test_since_moves_only_on_a_real_change():
    stream = Stream()
    stream.beat()
    assert [c.health for c in stream.obs("nginx", "http")] == ["healthy"]
    first_seq = stream.seq
    for _ in range(5):  # the same result again and again
        assert stream.obs("nginx", "http", after=10) == []
        stream.beat(after=0)
    state = stream.service()
    assert (state.since, state.since_seq) == (T0, first_seq)
    assert state.checks["http"].since_seq == first_seq
    assert state.checks["http"].last_seq == stream.seq - 1
    assert state.last_seen == stream.time
    changes = stream.obs("nginx", "http", "fail", "got 502", after=1)
    assert [(c.previous, c.health, c.cause_seq) for c in changes] == [
        ("healthy", "down", stream.seq)
    ]
    assert (state.since, state.since_seq) == (stream.time, stream.seq)


def test_reason_follows_the_failing_check_without_a_change():
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "tcp-443")
    stream.obs("nginx", "http", "fail", "expected status 200, got 502")
    since = stream.service().since_seq
    assert stream.obs("nginx", "http", "fail", "expected status 200, got 503", after=30) == []
    assert health(stream) == ("degraded", "http: expected status 200, got 503")
    assert stream.service().since_seq == since
    assert stream.service().checks["http"].since_seq == since  # the outcome did not move


def test_changes_are_listed_only_when_health_moves():
    stream = Stream()
    steps = [
        (lambda: stream.beat(), [("node", "web1", "healthy")]),
        (
            lambda: stream.obs("nginx", "state", "ok", state="running"),
            [("service", "nginx", "healthy")],
        ),
        (lambda: stream.obs("nginx", "http"), []),
        (lambda: stream.obs("nginx", "http", "fail", "502"), [("service", "nginx", "degraded")]),
        (lambda: stream.obs("nginx", "http", "fail", "503"), []),
        (
            lambda: stream.obs("nginx", "state", "fail", state="exited"),
            [("service", "nginx", "down")],
        ),
        (lambda: stream.obs("nginx", "state", "ok"), [("service", "nginx", "degraded")]),
        (lambda: stream.obs("nginx", "http", "ok"), [("service", "nginx", "healthy")]),
        (lambda: stream.obs("db", "state", "ok"), [("service", "db", "healthy")]),
        (lambda: stream.beat(interval=20), []),
    ]
    for number, (step, expected) in enumerate(steps):
        changes = step()
        assert [(c.kind, c.name, c.health) for c in changes] == expected, f"step {number}"
        assert all(c.cause_seq == stream.seq and c.since == stream.time for c in changes)
    assert stream.node().reason == "heartbeat every 20 s"


def test_change_payload_topic_and_id():
    change = Change("service", "nginx", "down", "healthy", "state: exited", T0, 42)
    assert change.topic == "world.service.nginx"
    assert change.message_id == "world-42-service-nginx"
    assert change.payload() == {
        "name": "nginx",
        "health": "down",
        "previous": "healthy",
        "reason": "state: exited",
        "since": T0,
        "cause_seq": 42,
    }


# -- silence ---------------------------------------------------------------------------------


def test_a_silent_agent_turns_its_node_and_services_unknown_on_the_message_clock():
    stream = Stream()
    stream.beat(interval=10, missed=3)
    stream.obs("nginx", "http")
    stream.obs("db", "http", "fail", "refused")
    assert stream.tick(after=30) == []  # exactly 30 s: not yet older than 3 x 10 s
    assert stream.node().health == "healthy"
    changes = stream.tick(after=0.5)  # nodes, then services, each in name order
    silent = f"agent silent since {iso(T0)}"
    assert changes == [
        Change("node", "web1", "unknown", "healthy", silent, T0 + 30.5, stream.seq),
        Change("service", "db", "unknown", "down", f"node web1: {silent}", T0 + 30.5, 5),
        Change("service", "nginx", "unknown", "healthy", f"node web1: {silent}", T0 + 30.5, 5),
    ]
    assert len({c.message_id for c in changes}) == 3
    assert stream.tick(after=100) == []  # still silent: nothing new
    assert stream.obs("nginx", "http", after=1) == []  # observations do not wake the node
    assert health(stream) == ("unknown", f"node web1: {silent}")


def test_an_observation_that_arrives_as_its_node_goes_silent_flips_nothing_twice():
    stream = Stream()
    stream.beat(interval=1, missed=1)
    stream.beat("web2", interval=60)
    stream.obs("nginx", "http")
    stream.obs("db", "http", node="web2")
    # Its node's deadline passed with this very message: settled against the silent node.
    changes = stream.obs("nginx", "http", "fail", "502", after=2)
    assert [(c.name, c.previous, c.health) for c in changes] == [
        ("web1", "healthy", "unknown"),
        ("nginx", "healthy", "unknown"),
    ]
    # A service moving onto a node that goes silent with the same message: one change.
    stream.beat("web2", interval=1, missed=1, after=0)
    changes = stream.obs("nginx", "http", node="web2", after=2)
    assert [(c.name, c.previous, c.health) for c in changes] == [
        ("web2", "healthy", "unknown"),
        ("db", "healthy", "unknown"),
    ]
    assert stream.service().node == "web2"
    assert stream.service().since_seq == 5  # still unknown since web1 went silent


def test_any_topic_moves_the_clock_and_other_nodes_are_not_affected():
    stream = Stream()
    stream.beat("web1", interval=10, missed=1)
    stream.beat("web2", interval=60, missed=1)
    changes = stream.send("obs.backup.nas", {"ok": True}, after=11)
    assert [(c.name, c.health) for c in changes] == [("web1", "unknown")]
    assert stream.node("web2").health == "healthy"
    assert stream.world.seq == 3 and stream.world.time == T0 + 11


def test_recovery_after_silence():
    stream = Stream()
    stream.beat(interval=5, missed=2)
    stream.obs("nginx", "http", "fail", "502")
    stream.obs("nginx", "tcp-443")
    stream.tick(after=11)
    assert stream.node().health == "unknown"
    changes = stream.beat(interval=5, missed=2, after=100)
    assert [(c.name, c.previous, c.health, c.reason) for c in changes] == [
        ("web1", "unknown", "healthy", "heartbeat every 5 s"),
        ("nginx", "unknown", "degraded", "http: 502"),
    ]
    assert stream.node().since == stream.time
    assert stream.tick(after=10) == []
    assert stream.tick(after=0.1)[0].health == "unknown"  # and silent again later


def test_a_heartbeat_after_the_deadline_does_not_flap():
    stream = Stream()
    stream.beat(interval=1, missed=1)
    assert stream.beat(interval=1, missed=1, after=5) == []  # late, but here: still healthy
    assert stream.node().health == "healthy"


def test_a_shorter_interval_brings_the_deadline_forward():
    stream = Stream()
    stream.beat(interval=60, missed=3)
    stream.beat(interval=1, missed=1)
    assert [c.health for c in stream.tick(after=2)] == ["unknown"]


# -- the clock: stamps are the wall clock's; silence is measured without its steps ----------


def test_a_clock_set_back_120_s_does_not_hold_a_nodes_silence():
    stream = Stream()
    stream.beat(interval=1, missed=3)
    stream.tick(after=1)
    stream.step(-120, after=0.5)  # the agent was killed; then the clock went back
    assert stream.tick(after=1) == []  # 2.5 s of silence: not yet 3
    assert [c.health for c in stream.tick(after=1)] == ["unknown"]  # 3.5 s, not 121.5
    assert stream.world.time == T0 + 3.5 - 120  # what is stored is the wall clock
    assert stream.node().since == T0 + 3.5 - 120
    assert stream.world.clock == T0 + 3.5


def test_a_clock_set_forward_a_day_silences_nobody_and_its_correction_delays_nobody():
    stream = Stream()
    stream.beat(interval=10, missed=3)
    assert stream.step(86400, after=1) == []
    assert stream.tick(after=1) == []
    assert stream.node().health == "healthy"
    stream.beat(interval=10, missed=3, after=1)
    assert stream.node().last_seen == T0 + 3 + 86400
    stream.step(-86400, after=1)  # corrected: the agent's last heartbeat was 1 s ago
    assert stream.tick(after=29) == []  # 30 s since that heartbeat: not yet older
    assert [c.health for c in stream.tick(after=0.5)] == ["unknown"]
    assert stream.world.steps == 0


def test_a_stamp_earlier_than_the_last_without_a_step_holds_the_clock():
    stream = Stream()
    stream.beat(interval=1, missed=1)
    stream.tick(after=-0.5)  # the clock went back by less than the broker calls a step
    assert (stream.world.time, stream.world.clock) == (T0 - 0.5, T0)
    assert stream.tick(after=1.0) == []  # 0.5 s since the heartbeat on the world's clock
    assert [c.health for c in stream.tick(after=0.75)] == ["unknown"]


@pytest.mark.parametrize(
    ("source", "payload"),
    [("test", {"step": 5.0}), ("broker", {"step": "5"}), ("broker", {"step": math.inf})],
)
def test_a_step_not_from_the_broker_or_not_a_number_is_rejected(source, payload):
    world = World()
    apply(world, Message(1, T0, "bus.clock", "x", source, payload))
    assert world.steps == 0 and world.rejected == 1
    assert "not a step of the broker's clock" in world.last_rejected


# -- bad input -------------------------------------------------------------------------------

BAD = [
    ("obs.node.web1.service.nginx", None, "payload"),
    ("obs.node.web1.service.nginx", [1, 2], "payload"),
    ("obs.node.web1.service.nginx", {"node": "web1"}, "service"),
    (
        "obs.node.web1.service.nginx",
        {**observation("web1", "nginx", "http"), "outcome": "meh"},
        "outcome",
    ),
    ("obs.node.web1.service.nginx", {**observation("web1", "nginx", "http"), "extra": 1}, "extra"),
    ("obs.node.web1.service.nginx", observation("web2", "nginx", "http"), "node does not match"),
    ("obs.node.web1.service.nginx", observation("web1", "other", "http"), "service does not match"),
    ("obs.node.web1.service.nginx", observation("web1", None, "http"), "service does not match"),
    ("obs.node.web1.check", observation("web1", "nginx", "disk"), "service does not match"),
    ("obs.node.web1.service.nginx", observation("web1", "nginx", "Bad Check"), "check"),
    (
        "obs.node.web1.service.nginx",
        {**observation("web1", "nginx", "x"), "observed_at": math.nan},
        "not finite",
    ),
    (
        "obs.node.web1.service.nginx",
        {**observation("web1", "nginx", "x"), "latency_ms": math.inf},
        "not finite",
    ),
    (
        "obs.node.web1.service.nginx",
        {**observation("web1", "nginx", "x"), "interval": math.inf},
        "not finite",
    ),
    (
        "obs.node.web1.service.nginx",
        observation("web1", "nginx", "x", facts={"a": -math.inf}),
        "facts",
    ),
    (
        "obs.node.web1.service.nginx",
        {**observation("web1", "nginx", "x"), "detail": "x" * 501},
        "detail",
    ),
    ("obs.node.web1.agent", {"node": "web1"}, "interval"),
    (
        "obs.node.web1.agent",
        {"node": "web2", "interval": 5, "checks": 0, "started_at": 0},
        "node does not match",
    ),
    (
        "obs.node.web1.agent",
        {"node": "web1", "interval": 5, "missed_intervals": 0, "checks": 0, "started_at": 0},
        "missed_intervals",
    ),
    (
        "obs.node.web1.agent",
        {"node": "web1", "interval": math.inf, "checks": 0, "started_at": 0},
        "not a finite",
    ),
    ("desired.node.web1", {"node": "web2", "services": {}}, "node does not match"),
    ("desired.node.web1", {"node": "web1", "services": []}, "services: not a map"),
    (
        "desired.node.web1",
        {"node": "web1", "services": {"nginx": {"node": "web1", "desired": "paused"}}},
        "services.nginx.desired",
    ),
    (
        "desired.node.web1",
        {"node": "web1", "services": {"nginx": {"node": "web2", "desired": "stopped"}}},
        "not a service of node web1",
    ),
]


@pytest.mark.parametrize(
    "topic, payload, why", BAD, ids=[b[2] + f"-{i}" for i, b in enumerate(BAD)]
)
def test_a_bad_payload_is_skipped_and_counted(topic, payload, why):
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "http")
    before = to_dict(stream.world)
    assert stream.send(topic, payload, after=1) == []
    after = to_dict(stream.world)
    assert after["rejected"] == 1
    assert after["last_rejected"].startswith(f"seq 3 {topic}: ")
    assert why in after["last_rejected"]
    for key in ("nodes", "services", "desired"):
        assert after[key] == before[key]
    assert (after["seq"], after["time"]) == (3, T0 + 1)


def test_topics_it_does_not_know_are_ignored_not_rejected():
    stream = Stream()
    for topic in (
        "obs.node.web1",
        "obs.node.web1.agent.extra",
        "obs.node.web1.service.a.b",
        "obs.x",
    ):
        assert stream.send(topic, {"anything": 1}) == []
    assert stream.world.rejected == 0 and not stream.world.nodes


# -- idempotence, moving, saving -------------------------------------------------------------


def test_messages_at_or_below_the_world_seq_are_ignored():
    stream = Stream()
    stream.beat()
    stream.obs("nginx", "http", "fail", "502")
    stream.obs("nginx", "tcp-443")
    saved = json.dumps(to_dict(stream.world))
    for message in stream.messages:
        assert apply(stream.world, message) == []
    late = Message(
        2, T0 + 99, "obs.node.web1.service.nginx", "x", "t", observation("web1", "nginx", "http")
    )
    assert apply(stream.world, late) == []
    assert json.dumps(to_dict(stream.world)) == saved


def test_a_service_seen_on_another_node_moves_there():
    stream = Stream()
    stream.beat("web1")
    stream.beat("web2")
    stream.obs("nginx", "http", "fail", "502", node="web1")
    stream.obs("nginx", "tcp-443", node="web1")
    changes = stream.obs("nginx", "http", node="web2")
    assert [(c.previous, c.health) for c in changes] == [("degraded", "healthy")]
    assert stream.service().node == "web2"
    assert list(stream.service().checks) == ["http"]  # web1's results are gone


def test_to_dict_from_dict_round_trip_is_exact():
    stream = Stream()
    stream.beat("web1", interval=7.5, missed=2)
    stream.obs("nginx", "state", "fail", "exited", **{"state": "exited", "code": 1, "ratio": 0.5})
    stream.obs("nginx", "http", "ok", "fine ünïcode ✓")
    stream.obs(None, "disk", "fail", "full", after=1)
    stream.declare(nginx="stopped", db="running")
    stream.send("obs.node.web1.agent", {"broken": True})
    stream.step(-42.5, after=1)
    stream.tick(after=20)
    data = to_dict(stream.world)
    text = atomic.dumps(data)
    again = from_dict(json.loads(text))
    assert to_dict(again) == data
    assert atomic.dumps(to_dict(again)) == text
    assert again == stream.world  # the dataclasses compare equal (the deadline is derived)
    assert again.deadline == stream.world.deadline


def test_from_dict_refuses_what_is_not_a_saved_world():
    good = to_dict(Stream().world)
    for bad in ({}, {**good, "seq": "1"}, {**good, "nodes": []}, {**good, "time": None}):
        with pytest.raises(ValueError, match="not a saved world"):
            from_dict(bad)
    broken = Stream()
    broken.beat()
    data = to_dict(broken.world)
    data["nodes"]["web1"]["health"] = "great"
    with pytest.raises(ValueError, match="unknown health"):
        from_dict(data)
    with pytest.raises(ValueError, match="unknown desired state"):
        from_dict({**good, "desired": {"web1": {"nginx": "paused"}}})


def test_a_world_saved_before_the_desired_state_was_folded_loads_with_none():
    stream = Stream()
    stream.beat()
    data = to_dict(stream.world)
    del data["desired"]
    assert from_dict(data) == stream.world


def test_a_world_saved_before_the_clock_was_folded_loads_on_the_stamps_clock():
    stream = Stream()
    stream.beat(interval=10, missed=1)
    stream.tick(after=4)
    data = to_dict(stream.world)
    for key in ("clock", "steps"):
        del data[key]
    del data["nodes"]["web1"]["last_clock"]
    assert from_dict(data) == stream.world
    assert from_dict(data).deadline == T0 + 10


def test_files_and_summary():
    stream = Stream()
    stream.beat("web1")
    stream.obs("nginx", "http")
    stream.obs("db", "http", "fail", "refused")
    stream.obs("cache", "http", node="web9")
    assert summary(stream.world) == {
        "seq": 4,
        "time": T0,
        "clock": T0,
        "steps": 0.0,
        "nodes": {"healthy": 1, "degraded": 0, "down": 0, "unknown": 1, "total": 2},
        "services": {"healthy": 1, "degraded": 0, "down": 1, "unknown": 1, "total": 3},
        "rejected": 0,
    }
    written = files(stream.world)
    assert sorted(written) == ["nodes.json", "services.json", "summary.json"]
    assert written["services.json"]["db"]["reason"] == "http: refused"
    assert list(written["services.json"]) == ["cache", "db", "nginx"]
    assert set(HEALTHS) <= set(written["summary.json"]["nodes"])


# -- checks named unchanged in a heartbeat --------------------------------------------------


def same(stream: Stream, since: int, node: str = "web1", after: float = 0.0, **unchanged):
    """A heartbeat naming checks that ran again with the same result (``_`` for the node's)."""
    payload = {
        "node": node,
        "interval": 10.0,
        "missed_intervals": 3,
        "checks": 2,
        "started_at": T0,
        "unchanged": {("" if k == "_" else k): v for k, v in unchanged.items()},
        "since": since,
    }
    return stream.send(f"obs.node.{node}.agent", payload, after)


def test_a_check_named_unchanged_is_seen_again_at_the_heartbeats_since():
    s = Stream()
    s.beat()
    s.obs("db", "state", "fail", "inactive", state="inactive")  # seq 2
    s.obs(None, "disk", detail="40% used")  # seq 3
    s.beat(after=10)  # seq 4
    before = to_dict(s.world)
    assert same(s, since=4, after=10, db=["state"], _=["disk"]) == []  # seq 5: no change
    db, disk = s.world.services["db"], s.world.nodes["web1"].checks["disk"]
    state = db.checks["state"]
    assert (state.last_seen, state.last_seq) == (s.time, 4)
    assert (disk.last_seen, disk.last_seq) == (s.time, 4)
    assert (db.last_seen, db.last_seq) == (s.time, 4)
    assert (state.outcome, state.detail, state.since_seq) == ("fail", "inactive", 2)
    assert db.health == before["services"]["db"]["health"] == "down"


def test_since_never_takes_last_seq_back_and_what_the_world_lacks_is_skipped():
    s = Stream()
    s.beat()
    s.obs("db", "state", state="active")  # seq 2
    s.obs("web", "http", node="web2")  # seq 3: another node's service
    same(s, since=1, db=["state", "never-reported"], web=["http"], ghost=["state"])
    assert s.world.services["db"].checks["state"].last_seq == 2  # not back to 1
    assert s.world.services["web"].checks["http"].last_seq == 3  # not web1's to refresh
    assert "never-reported" not in s.world.services["db"].checks
    same(s, since=s.seq + 1, db=["state"])  # a seq not stored yet: says nothing
    assert s.world.services["db"].checks["state"].last_seq == 2
    assert s.world.rejected == 0


def test_a_check_seen_unchanged_after_an_action_ended_counts_as_observed_after_it():
    desired = Inventory.model_validate(
        {
            "nodes": {"web1": {"address": "127.0.0.1"}},
            "services": {"db": {"node": "web1", "kind": "systemd", "unit": "db.service"}},
        }
    )
    s = Stream()
    s.beat()
    s.obs("db", "state", "fail", "inactive", state="inactive")  # seq 2
    started = s.seq + 1
    s.send("action.running", {"id": "a-1"})  # seq 3: the fix starts, then ends
    ended = s.seq + 1
    s.send("action.succeeded", {"id": "a-1"})  # seq 4
    same(s, since=started, db=["state"])  # a run begun before it ended: not evidence
    assert drift.observed_through(desired, s.world)["db"] <= ended
    same(s, since=s.seq, db=["state"])  # begun after the heartbeat before: it counts
    assert drift.observed_through(desired, s.world)["db"] > ended
