"""The Outbox against a real broker: many threads, a broker that comes late, refusals."""

from __future__ import annotations

import threading
import time

import pytest

from bus import client, envelope, outbox
from bus.filelog import FileLog
from plant import BrokerProcess, free_port_pair

pytestmark = pytest.mark.slow


def stored(root, topic: str) -> list[envelope.Message]:
    found = [envelope.decode_body(b) for b in FileLog(root / "events").read()]
    return [m for m in found if m.topic == topic]


def test_many_threads_publish_each_message_once_in_their_order(broker):
    box = outbox.Outbox(broker.endpoint, "t")
    futures: dict[tuple[int, int], object] = {}

    def worker(thread: int) -> None:
        for i in range(100):
            futures[thread, i] = box.send("obs.t", {"thread": thread, "i": i})

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert box.drained(20)
    seqs = {key: future.result(0) for key, future in futures.items()}
    box.close()
    messages = stored(broker.root, "obs.t")
    assert len(messages) == 400
    by_seq = {m.seq: (m.payload["thread"], m.payload["i"]) for m in messages}
    assert all(by_seq[seq] == key for key, seq in seqs.items())  # each Future's own seq
    for thread in range(4):
        order = [m.payload["i"] for m in messages if m.payload["thread"] == thread]
        assert order == list(range(100))


def test_messages_wait_for_a_broker_that_comes_late(root):
    late = BrokerProcess(root, free_port_pair())
    box = outbox.Outbox(late.endpoint, "t", timeout=0.5)
    try:
        futures = [box.send("obs.late", {"i": i}, id=f"late-{i}") for i in range(10)]
        assert not box.drained(1.0)
        late.start()
        assert box.drained(20)
        assert sorted(f.result(0) for f in futures) == [m.seq for m in stored(root, "obs.late")]
        assert box.publish("obs.late", {"i": 10}) > max(f.result(0) for f in futures)
    finally:
        box.close(5)
        late.stop()


def test_a_refused_message_fails_alone(broker):
    box = outbox.Outbox(broker.endpoint, "t")
    good = box.send("obs.ok", {"i": 1})
    refused = box.send("bus.forged", {"i": 2})  # bus.* is the broker's own
    also_good = box.send("obs.ok", {"i": 3})
    with pytest.raises(client.PublishRejected):
        refused.result(10)
    assert good.result(10) < also_good.result(10)
    with pytest.raises(client.PublishRejected, match="larger than any broker accepts"):
        box.send("obs.big", {"x": "y" * (2 * 1024 * 1024)})
    assert box.close(5)


def test_closing_without_a_broker_gives_up_after_its_timeout(root):
    box = outbox.Outbox(f"tcp://127.0.0.1:{free_port_pair()}", "t", timeout=0.3)
    box.send("obs.lost", {})
    started = time.monotonic()
    assert box.close(1.0) is False
    assert time.monotonic() - started < 5
    with pytest.raises(client.BusError, match="closed"):
        box.send("obs.after", {})


def test_a_limited_outbox_refuses_more_while_the_broker_is_away(root):
    box = outbox.Outbox(f"tcp://127.0.0.1:{free_port_pair()}", "t", timeout=0.3, limit=3)
    for i in range(3):
        box.send("obs.held", {"i": i})
    with pytest.raises(outbox.Full, match="3 messages wait"):
        box.send("obs.held", {"i": 3})
    box.close(0.5)
