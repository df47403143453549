"""Property: the fold does not care where it was stopped, saved and resumed.

For any stream of heartbeats (some naming checks that ran unchanged), observations, slices of
the desired state (some forged), clock ticks, steps of the broker's clock (announced, or small
and not) and junk, folding it in one go gives
the same world (and the same changes) as folding a prefix, saving the world to JSON, loading
it and folding the rest. Re-applying anything already applied changes nothing.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import atomic
from actors.domain.states import HEALTHS
from actors.domain.world import World, apply, desired_of
from actors.domain.world_codec import from_dict, to_dict
from bus.envelope import Message

T0 = 1_800_000_000.0
NODES = ["web1", "web2", "nas"]
SERVICES = ["nginx", "db", "cache", "backup"]
CHECKS = ["state", "http", "tcp-443"]
OUTCOMES = ["ok", "ok", "ok", "fail", "error", "timeout"]
DETAILS = ["", "expected status 200, got 502", "connection refused", "line one\nline two"]

heartbeat = st.tuples(
    st.just("beat"),
    st.sampled_from(NODES),
    st.sampled_from([1.0, 2.5, 5.0]),
    st.integers(1, 3),
)
service_check = st.tuples(
    st.just("obs"),
    st.sampled_from(NODES),
    st.sampled_from(SERVICES),
    st.sampled_from(CHECKS),
    st.sampled_from(OUTCOMES),
    st.sampled_from(DETAILS),
    st.sampled_from([None, "running", "exited"]),
)
same = st.tuples(  # a heartbeat naming checks that ran again unchanged, since some seq back
    st.just("same"),
    st.sampled_from(NODES),
    st.dictionaries(
        st.sampled_from(["", *SERVICES]), st.lists(st.sampled_from([*CHECKS, "disk"]), max_size=3)
    ),
    st.integers(1, 8),
)
node_check = st.tuples(st.just("disk"), st.sampled_from(NODES), st.sampled_from(OUTCOMES))
tick = st.tuples(st.just("tick"))
step = st.tuples(st.just("step"), st.sampled_from([-120.0, -3.0, 5.0, 86400.0]))
desire = st.tuples(
    st.just("desire"),
    st.sampled_from(NODES),
    st.dictionaries(st.sampled_from(SERVICES), st.sampled_from(["running", "stopped"])),
    st.sampled_from(["supervisor", "supervisor", "supervisor", "emit"]),  # some forged
)
junk = st.tuples(
    st.just("junk"),
    st.sampled_from(
        [
            ("obs.node.web1.agent", {"node": "web1"}),
            ("obs.node.web2.service.db", {"node": "web2", "service": "db"}),
            ("obs.node.web1.check", {"node": "web2", "check": "disk", "outcome": "ok"}),
            ("obs.backup.nas", {"ok": True}),
            ("obs.node.nas.service.cache", None),
        ]
    ),
)
event = st.one_of(
    heartbeat,
    heartbeat,
    same,
    service_check,
    service_check,
    service_check,
    node_check,
    tick,
    step,
    junk,
    desire,
)
steps = st.lists(
    st.tuples(event, st.sampled_from([0.0, 0.0, 0.25, 1.0, 2.0, 4.0, 9.0, -0.5])), max_size=60
)


def messages(events) -> list[Message]:
    out, time = [], T0
    for seq, (item, after) in enumerate(events, 1):
        time += after
        kind, source = item[0], "test"
        if kind == "desire":
            _, node, wanted, source = item
            topic = f"desired.node.{node}"
            services = {name: {"node": node, "desired": d} for name, d in wanted.items()}
            payload = {"node": node, "revision": "r", "definition": {}, "services": services}
        elif kind == "beat":
            _, node, interval, missed = item
            topic = f"obs.node.{node}.agent"
            payload = {
                "node": node,
                "interval": interval,
                "missed_intervals": missed,
                "checks": 3,
                "started_at": T0,
            }
        elif kind == "same":
            _, node, unchanged, back = item
            topic = f"obs.node.{node}.agent"
            payload = {
                "node": node,
                "interval": 5.0,
                "checks": 3,
                "started_at": T0,
                "unchanged": unchanged,
                "since": max(0, seq - back),
            }
        elif kind in ("obs", "disk"):
            node = item[1]
            service, check, outcome, detail, state = (
                item[2:] if kind == "obs" else (None, "disk", item[2], "93% used", None)
            )
            topic = f"obs.node.{node}." + (f"service.{service}" if service else "check")
            payload = {
                "node": node,
                "check": check,
                "outcome": outcome,
                "detail": detail,
                "facts": {"state": state} if state else {"n": seq},
                "interval": 5.0,
                "observed_at": time - 0.1,
            }
            if service:
                payload["service"] = service
        elif kind == "tick":
            topic, payload = "bus.stats", {"seq": seq}
        elif kind == "step":  # the broker's wall clock stepped: this stamp is off by that
            time += item[1]
            topic, payload, source = "bus.clock", {"step": item[1], "found": "running"}, "broker"
        else:
            topic, payload = item[1]
        out.append(Message(seq, time, topic, f"m{seq}", source, payload))
    return out


def fold(world: World, stream) -> list[tuple]:
    changes = []
    for message in stream:
        changes += [tuple(c) for c in apply(world, message)]
    return changes


def check_invariants(world: World, changes: list[tuple]) -> None:
    last_change = {}
    for kind, name, health, previous, _reason, since, cause_seq in changes:
        assert health != previous and health in HEALTHS and previous in HEALTHS
        last_change[(kind, name)] = (health, since, cause_seq)
    for kind, states in (("node", world.nodes), ("service", world.services)):
        for name, state in states.items():
            assert state.health in HEALTHS
            if (kind, name) in last_change:
                assert last_change[(kind, name)] == (state.health, state.since, state.since_seq)
            else:
                assert state.health == "unknown"
            if kind == "service" and world.nodes[state.node].health == "unknown":
                assert state.health == "unknown"
            if kind == "service" and desired_of(world, name, state) == "stopped":
                assert state.health != "down"  # stopped as desired is healthy
    ids = [f"{c[6]}-{c[0]}-{c[1]}" for c in changes]
    assert len(ids) == len(set(ids)), "two changes of one thing from one message"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.data())
def test_stop_save_load_resume_gives_the_same_world(events, data):
    stream = messages(events)
    whole = World()
    all_changes = fold(whole, stream)
    check_invariants(whole, all_changes)
    expected = atomic.dumps(to_dict(whole))

    cut = data.draw(st.integers(0, len(stream)), label="cut")
    first = World()
    before = fold(first, stream[:cut])
    saved = json.loads(atomic.dumps(to_dict(first)))
    resumed = from_dict(saved)
    assert atomic.dumps(to_dict(resumed)) == atomic.dumps(saved)
    overlap = data.draw(st.integers(0, cut), label="messages applied again on resume")
    after = fold(resumed, stream[cut - overlap :])  # a resume may see some again: ignored

    assert atomic.dumps(to_dict(resumed)) == expected
    assert before + after == all_changes
    assert fold(resumed, stream) == []  # everything again: nothing happens
    assert atomic.dumps(to_dict(resumed)) == expected


@settings(max_examples=50, deadline=None)
@given(steps)
def test_every_number_in_a_saved_world_is_finite_json(events):
    world = World()
    fold(world, messages(events))
    text = atomic.dumps(to_dict(world))  # raises on NaN or infinity

    def walk(value):
        if isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(json.loads(text))
