"""A bus that knows who is speaking: ``homelab broker`` with CURVE, real sockets on loopback.

Each test's broker has a key folder of its own (``HOMELAB_KEYS``), so a revocation here
touches no other test's keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zmq

from bus import client, envelope, keys, protocol
from bus.filelog import FileLog
from gui import auth, operator_keys, sealing
from plant import BrokerProcess, free_port_pair, homelab, wait_until

QUICK = 1.0  # seconds a refused client waits for an answer that never comes


def stored_topics(root: Path) -> list[str]:
    return [envelope.decode_body(b).topic for b in FileLog(root / "events").read()]


def replayed(root: Path, *prefixes: str) -> list[dict]:
    """``homelab replay --json`` of the broker's log, as a user reads it."""
    topics = [arg for prefix in prefixes for arg in ("--topic", prefix)]
    done = homelab("replay", "--json", "--root", str(root), *topics, timeout=30)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def refusals_logged(broker: BrokerProcess, reason: str) -> int:
    log = (broker.root / "logs" / "broker.log").read_text()
    return sum(reason in line for line in log.splitlines())


def test_an_allowlisted_agent_publishes_its_observations(guarded, own_keys):
    agent = own_keys.of("agent:web1")
    with client.Publisher(guarded.endpoint, "agent:web1", timeout=5, curve=agent) as publisher:
        seq = publisher.publish("obs.node.web1.check", {"up": True})
    assert "obs.node.web1.check" in stored_topics(guarded.root)
    assert client.ping(guarded.endpoint, curve=agent)["seq"] >= seq


@pytest.mark.parametrize("who", ["an unknown key", "a NULL client", "the wrong broker key"])
def test_a_client_the_broker_does_not_know_gets_nothing(guarded, own_keys, who):
    tool = own_keys.of("tool:test")
    public, secret = zmq.curve_keypair()
    stranger = {
        "an unknown key": keys.Credentials("tool:test", public, secret, tool.server),
        "a NULL client": None,
        "the wrong broker key": keys.Credentials("tool:test", tool.public, tool.secret, public),
    }[who]
    told = "its port is open, so the broker is stopped or busy, or it does not accept this"
    with pytest.raises(client.BusUnavailable, match=told):  # not "is the broker running?"
        client.ping(guarded.endpoint, timeout=QUICK, curve=stranger)
    with client.Publisher(guarded.endpoint, "emit", timeout=QUICK, curve=stranger) as publisher:
        with pytest.raises(client.BusUnavailable, match=told):
            publisher.publish("note.x", {})
    assert "note.x" not in stored_topics(guarded.root)
    assert client.ping(guarded.endpoint, curve=tool)["seq"] >= 1  # the broker goes on


@pytest.mark.parametrize(
    ("role", "source", "topic", "why"),
    [
        ("agent:web1", "agent:web1", "obs.node.web2.check", "publishes only obs.node.web1.*"),
        ("tool:test", "emit", "action.approved", "action.approved is not tool:test's"),
        ("tool:test", "supervisor", "drift.report", "tool:test may not publish as 'supervisor'"),
        (
            "service:ui",
            "ui:alice",
            "action.request.approve",
            "service:ui may not publish as 'ui:alice'",
        ),
        (
            "service:ui",
            "ui",
            "action.request.approve",
            "action.request.approve is not service:ui's",
        ),
        (
            "operator:alice",
            "ui:bob",
            "action.request.approve",
            "operator:alice may not publish as 'ui:bob'",
        ),
    ],
    ids=[
        "agent-for-another-node",
        "tool-approving",
        "tool-claiming-supervisor",
        "ui-key-approving-in-an-operators-name",
        "ui-key-approving-as-itself",
        "operator-approving-in-anothers-name",
    ],
)
def test_a_message_that_does_not_fit_its_senders_identity_is_refused_logged_and_not_stored(
    guarded, own_keys, role, source, topic, why
):
    credentials = own_keys.of(role)
    with client.Publisher(guarded.endpoint, source, timeout=5, curve=credentials) as publisher:
        for _ in range(3):  # refused each time, logged once
            with pytest.raises(client.PublishRejected, match=f"identity: .*{why}"):
                publisher.publish(topic, {})
    assert client.ping(guarded.endpoint, curve=credentials)["forbidden"] == 3
    assert topic not in stored_topics(guarded.root)
    wait_until(lambda: refusals_logged(guarded, why) == 1, 5, "the refusal in the log")


def test_an_operators_key_unsealed_with_the_password_approves_in_that_name_only(
    guarded, own_keys, tmp_path
):
    operators = auth.Operators(tmp_path / "operators.json")
    operator_keys.enroll(operators, own_keys.folder, "alice", "correct horse")
    sealed = operators.get("alice").bus_key
    secret = sealing.unseal(sealed, "correct horse", "alice")
    alice = keys.from_secret("operator:alice", secret, own_keys.of("tool:test").server)
    with client.Publisher(guarded.endpoint, "ui:alice", timeout=5, curve=alice) as publisher:
        publisher.publish("action.request.approve", {"id": "a-1"})
    stored = [envelope.decode_body(b) for b in FileLog(guarded.root / "events").read()]
    assert [m.source for m in stored if m.topic == "action.request.approve"] == ["ui:alice"]


def test_a_raw_client_claiming_supervisor_gets_the_reason_in_its_ack(guarded, own_keys):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    keys.secure(sock, None, own_keys.of("tool:test"))
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(guarded.endpoint)
    try:
        wire = envelope.encode_wire("action.approved", "m1", "supervisor", {"id": "a-1"})
        sock.send(protocol.encode_publish(7, [wire]))
        assert sock.poll(5000), "no answer"
        kind, batch, results = protocol.decode_reply(sock.recv())
    finally:
        sock.close(0)
    assert (kind, batch) == ("ack", 7)
    assert results[0].startswith("identity: tool:test may not publish as 'supervisor'")
    assert "action.approved" not in stored_topics(guarded.root)


def test_revoking_a_live_agents_key_stops_its_next_publish(guarded, own_keys):
    agent = own_keys.of("agent:web1")
    with client.Publisher(guarded.endpoint, "agent:web1", timeout=5, curve=agent) as publisher:
        publisher.publish("obs.node.web1.check", {"n": 1})
        assert keys.revoke(own_keys.folder, "agent:web1") == [agent.public.decode()]
        with pytest.raises(client.PublishRejected, match="no longer on the broker's allowlist"):
            publisher.publish("obs.node.web1.check", {"n": 2})
    with pytest.raises(client.BusUnavailable):  # and a new connection with it is refused
        client.ping(guarded.endpoint, timeout=QUICK, curve=agent)
    assert stored_topics(guarded.root).count("obs.node.web1.check") == 1


def test_an_inbox_file_claiming_a_control_plane_topic_is_refused(guarded, own_keys):
    inbox = guarded.root / "inbox"
    (inbox / "approve.json.tmp").write_text(json.dumps({"topic": "action.approved", "payload": {}}))
    (inbox / "approve.json.tmp").rename(inbox / "approve.json")
    reason = inbox / "rejected" / "approve.json.reason.txt"
    wait_until(reason.exists, 10, "the inbox file to be refused")
    assert "identity: action.approved is not tool:inbox's to publish" in reason.read_text()
    assert "action.approved" not in stored_topics(guarded.root)


def test_with_curve_off_anyone_connects_and_the_broker_warns_at_every_start(root):
    env = {"HOMELAB_CURVE": "off"}
    process = BrokerProcess(root, free_port_pair(), env=env, curve=None).start()
    try:
        with client.Publisher(process.endpoint, "supervisor", timeout=5, curve=None) as publisher:
            publisher.publish("drift.report", {})
    finally:
        process.stop()
    log = (root / "logs" / "broker.log").read_text()
    assert "CURVE is off (HOMELAB_CURVE=off)" in log
    assert "drift.report" in stored_topics(root)
    (report,) = replayed(root, "drift.")
    assert (report["source"], report["identity"]) == ("supervisor", "anonymous")  # unproved


def test_every_record_carries_who_sent_it_whatever_it_claims(guarded, own_keys):
    agent = own_keys.of("agent:web1")
    with client.Publisher(guarded.endpoint, "agent:web1", timeout=5, curve=agent) as publisher:
        publisher.publish("obs.node.web1.check", {"up": True})
    env = {"HOMELAB_KEYS": str(own_keys.folder), "HOMELAB_BUS": guarded.endpoint}
    emitted = homelab("emit", "note.hello", "--data", '{"n": 1}', timeout=30, **env)
    assert emitted.returncode == 0, emitted.stderr
    (inbox := guarded.root / "inbox" / "x.json.tmp").write_text(
        '{"topic": "note.dropped", "payload": {}}'
    )
    inbox.rename(inbox.with_suffix(""))
    wait_until(lambda: "note.dropped" in stored_topics(guarded.root), 10, "the inbox file")
    wait_until(lambda: "bus.stats" in stored_topics(guarded.root), 10, "a bus.stats")
    who = {r["topic"]: (r["source"], r["identity"]) for r in replayed(guarded.root)}
    assert who["obs.node.web1.check"] == ("agent:web1", "agent:web1")
    assert who["note.hello"] == ("emit", "tool:cli")  # the source says emit; the key, tool:cli
    assert who["note.dropped"] == ("inbox", "tool:inbox")
    assert who["bus.stats"] == ("broker", "service:broker")


def test_a_log_written_before_identities_still_replays_and_the_broker_goes_on_from_it(
    root, own_keys
):
    events = root / "events"
    old_log, _ = FileLog.open_for_append(events)
    wires = [
        envelope.encode_wire("obs.node.web1.check", f"old{n}", "agent:web1", {}) for n in (1, 2)
    ]
    old_log.append([envelope.stamp(w, n, 1_800_000_000.0 + n) for n, w in enumerate(wires, 1)])
    old_log.close()
    process = BrokerProcess(
        root, free_port_pair(), env={"HOMELAB_KEYS": str(own_keys.folder)}, curve=own_keys
    ).start()
    try:
        agent = own_keys.of("agent:web1")
        with client.Publisher(process.endpoint, "agent:web1", timeout=5, curve=agent) as publisher:
            assert publisher.publish("obs.node.web1.check", {}, id="old1") == 1  # known: deduped
            new = publisher.publish("obs.node.web1.check", {}, id="new")
    finally:
        process.stop()
    checks = replayed(root, "obs.")
    assert [(r["seq"], r["id"], r["identity"]) for r in checks] == [
        (1, "old1", None),
        (2, "old2", None),
        (new, "new", "agent:web1"),
    ]
