"""Publishers and subscribers against a real broker process on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from bus import aio, client, envelope
from bus.filelog import FileLog
from plant import BrokerProcess, free_port_pair

pytestmark = pytest.mark.slow


def ours(messages):
    return [m for m in messages if not m.topic.startswith("bus.")]


def drain(subscriber: client.Subscriber, count: int, timeout: float = 20.0):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        message = subscriber.get(timeout=0.5)
        if message is not None and not message.topic.startswith("bus."):
            got.append(message)
    return got


def test_publish_returns_a_seq_that_is_already_on_disk(broker):
    with client.Publisher(broker.endpoint, "agent:a") as publisher:
        seq = publisher.publish("obs.node.a.check", {"up": True})
    on_disk = [envelope.decode_body(b) for b in FileLog(broker.root / "events").read()]
    assert [(m.seq, m.payload) for m in on_disk if m.topic == "obs.node.a.check"] == [
        (seq, {"up": True})
    ]


def test_a_late_subscriber_gets_history_then_live_exactly_once_in_order(broker):
    with client.Publisher(broker.endpoint, "t") as publisher:
        for i in range(3000):
            publisher.submit("obs.n", {"i": i})
        publisher.flush()
        with client.Subscriber(broker.endpoint, "obs.", since=1) as subscriber:
            for i in range(3000, 3500):
                publisher.submit("obs.n", {"i": i})
            publisher.flush()
            got = drain(subscriber, 3500)
    assert [m.payload["i"] for m in got] == list(range(3500))
    assert [m.seq for m in got] == sorted({m.seq for m in got})


def test_a_subscriber_paused_past_its_high_water_mark_misses_nothing(root):
    small = BrokerProcess(root, free_port_pair(), "--subscriber-queue", "2").start()
    try:
        with client.Subscriber(small.endpoint, "obs.", hwm=2) as subscriber:
            with client.Publisher(small.endpoint, "t") as publisher:
                for i in range(30_000):  # far past both queues and the kernel's buffers
                    publisher.submit("obs.n", {"i": i, "pad": "x" * 200})
                publisher.flush()
            got = drain(subscriber, 30_000, timeout=60)
            assert subscriber.tracker.gaps >= 1  # messages were dropped, and recovered
    finally:
        small.stop()
    assert [m.payload["i"] for m in got] == list(range(30_000))


def test_a_subscriber_rides_through_a_broker_restart(broker):
    with client.Subscriber(broker.endpoint, "obs.", since=1) as subscriber:
        with client.Publisher(broker.endpoint, "t") as publisher:
            publisher.publish("obs.n", {"i": 0})
        assert drain(subscriber, 1)[0].payload == {"i": 0}
        broker.stop()
        broker.start()
        with client.Publisher(broker.endpoint, "t") as publisher:
            for i in range(1, 200):
                publisher.submit("obs.n", {"i": i})
            publisher.flush()
        assert [m.payload["i"] for m in drain(subscriber, 199)] == list(range(1, 200))


def test_an_async_subscriber_catches_up_and_follows(broker):
    with client.Publisher(broker.endpoint, "observer") as publisher:
        for i in range(100):
            publisher.submit("world.x", {"i": i})
        publisher.flush()

        async def collect():
            got = []
            async for message in aio.AsyncSubscriber(broker.endpoint, "world.", since=1):
                got.append(message.payload["i"])
                if len(got) == 100:
                    publisher.publish("world.x", {"i": 100})
                if len(got) == 101:
                    return got

        assert asyncio.run(asyncio.wait_for(collect(), 20)) == list(range(101))


def test_rejected_messages_raise_with_the_brokers_reason(broker):
    with client.Publisher(broker.endpoint, "t") as publisher:
        with pytest.raises(client.PublishRejected, match="exceeds the limit"):
            publisher.publish("obs.big", {"x": "y" * (300 * 1024)})
        assert publisher.publish("obs.ok", {}) > 0


def test_publishing_without_a_broker_fails_with_a_clear_error(root):
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    with client.Publisher(endpoint, "t", timeout=0.5) as publisher:
        with pytest.raises(client.BusUnavailable, match="is `homelab broker` running"):
            publisher.publish("obs.a", {})


def test_a_reconnecting_subscriber_waits_for_the_broker_and_misses_nothing(root):
    late = BrokerProcess(root, free_port_pair())
    with client.Subscriber(late.endpoint, "obs.", since=1, reconnect=True) as subscriber:
        started = time.monotonic()
        assert subscriber.get(timeout=0.5) is None  # no broker: nothing, and no error
        assert time.monotonic() - started < 3 and subscriber.away
        late.start()
        try:
            with client.Publisher(late.endpoint, "t") as publisher:
                publisher.publish("obs.a", {"i": 1})
            got = drain(subscriber, 1)
            assert [m.payload for m in got] == [{"i": 1}] and not subscriber.away
        finally:
            late.stop()


def test_a_plain_subscriber_says_when_the_broker_is_away(root):
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"
    with client.Subscriber(endpoint, "obs.", since=1, timeout=0.3) as subscriber:
        with pytest.raises(client.BusUnavailable):
            subscriber.get(timeout=0.5)
