"""Subscribers that stop reading cost the broker a bounded amount of memory; what they
missed they get from the log when they read again."""

from __future__ import annotations

import time

import psutil
import pytest
import zmq

from bus import client, envelope, keys, protocol
from bus.filelog import FileLog
from plant import BrokerProcess, free_port_pair, wait_until

pytestmark = pytest.mark.slow


def stored(root, topic: str) -> bool:
    return any(envelope.body_topic(b) == topic for b in FileLog(root / "events").read())


MESSAGES, PAD = 600, 200_000  # 120 MB through the broker


def test_idle_subscribers_cost_a_bounded_amount_and_a_stalled_one_catches_up(root):
    # bus.stats every half second: how a subscriber learns it missed the newest messages
    # when nothing else is published
    broker = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.5").start()
    rss = psutil.Process(broker.proc.pid).memory_info
    try:
        idle = []
        for _ in range(2):  # connected, never reading
            sock = zmq.Context.instance().socket(zmq.SUB)
            keys.secure(sock)  # CURVE, as every client
            sock.setsockopt(zmq.RCVHWM, 1)
            sock.setsockopt(zmq.RCVBUF, 4096)
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(client.publish_endpoint(broker.endpoint))
            idle.append(sock)
        stalled = client.Subscriber(broker.endpoint, "obs.", since=1, hwm=1)
        assert stalled.get(timeout=0.2) is None  # connected; then it reads nothing for a while
        base, peak = rss().rss, 0
        deadline = time.monotonic() + 120
        with client.Publisher(broker.endpoint, "t") as publisher:
            for i in range(MESSAGES):
                publisher.publish("obs.big", {"i": i, "pad": "x" * PAD})
                if i % 10 == 0:
                    peak = max(peak, rss().rss)
                assert time.monotonic() < deadline
        peak = max(peak, rss().rss)
        assert peak - base < 60e6, f"the broker grew by {(peak - base) / 1e6:.0f} MB"
        got = []
        while len(got) < MESSAGES and time.monotonic() < deadline:
            message = stalled.get(timeout=1.0)
            if message is not None:
                got.append(message.payload["i"])
        assert got == list(range(MESSAGES)) and stalled.tracker.gaps >= 1
        for sock in idle:
            sock.close(0)
        stalled.close()
    finally:
        broker.stop()


def test_the_budget_holds_for_messages_larger_than_a_frame(root, monkeypatch):
    """A record over 256 KiB is a frame of its own: with 1 MiB messages allowed, the queue
    is counted in such frames, not in 256 KiB ones (that held 4 times the budget)."""
    monkeypatch.setenv("HOMELAB_MAX_MESSAGE_BYTES", str(1024 * 1024))
    budget_mib = 8
    broker = BrokerProcess(
        root, free_port_pair(), "--stats-interval", "0", "--subscriber-buffer", str(budget_mib)
    ).start()
    rss = psutil.Process(broker.proc.pid).memory_info
    idle = []
    try:
        for _ in range(2):
            sock = zmq.Context.instance().socket(zmq.SUB)
            keys.secure(sock)  # CURVE, as every client
            sock.setsockopt(zmq.RCVHWM, 1)
            sock.setsockopt(zmq.RCVBUF, 4096)
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(client.publish_endpoint(broker.endpoint))
            idle.append(sock)
        wait_until(lambda: client.ping(broker.endpoint)["subscribers"] == 2, 10, "subscribers")
        base = peak = rss().rss
        with client.Publisher(broker.endpoint, "t") as publisher:
            for i in range(80):  # 72 MB, 9 budgets
                publisher.publish("obs.big", {"i": i, "pad": "x" * 900_000})
                peak = max(peak, rss().rss)
        assert peak - base < 2.5 * budget_mib * 2**20, f"grew by {(peak - base) / 1e6:.0f} MB"
    finally:
        for sock in idle:
            sock.close(0)
        broker.stop()


def test_a_client_that_does_not_read_its_fetch_replies_costs_a_bounded_amount(broker):
    """Each fetch reply is up to 1 MiB: a client that asked and never read made the broker
    hold every reply (300 here: +358 MB). Now the replies it holds are bounded by the
    subscriber budget (16 MiB), what it was sent is there when it reads, and others are
    served meanwhile."""
    rss = psutil.Process(broker.proc.pid).memory_info
    with client.Publisher(broker.endpoint, "t") as publisher:
        for i in range(40):  # 8 MB of log: every fetch below returns ~1.2 MB
            publisher.publish("obs.big", {"i": i, "pad": "x" * PAD})
    deaf = zmq.Context.instance().socket(zmq.DEALER)
    keys.secure(deaf)  # CURVE, as every client
    deaf.setsockopt(zmq.RCVHWM, 1)
    deaf.setsockopt(zmq.RCVBUF, 4096)
    deaf.setsockopt(zmq.LINGER, 0)
    deaf.connect(broker.endpoint)
    try:
        base = peak = rss().rss
        for n in range(300):  # 360 MB of replies
            deaf.send(protocol.encode("fetch", n, 0, 5000, []))
            if n % 10 == 0:
                peak = max(peak, rss().rss)
        # requests of one client are taken in order: once this message is stored and one
        # more ping is answered, every fetch before it has been answered (and is held)
        deaf.send(protocol.encode_publish(1, [envelope.encode_wire("obs.m", "m", "t", {})]))
        wait_until(lambda: stored(broker.root, "obs.m"), 30, "the marker")
        client.ping(broker.endpoint)
        peak = max(peak, rss().rss)
        assert peak - base < 2.5 * 16 * 2**20, f"the broker grew by {(peak - base) / 1e6:.0f} MB"
        kinds = []  # what it kept is served once the client reads; the rest was dropped
        while len(kinds) < 301 and deaf.poll(2000):
            kinds.append(protocol.decode_reply(deaf.recv())[0])
        assert "ack" in kinds and "batch" in kinds and len(kinds) < 100, len(kinds)
    finally:
        deaf.close(0)
