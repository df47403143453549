"""The stub bus: the broker's stamping, de-duplication and refusals, feeds served from its
log (what a reader publishes loops back to it), and a broker that is away."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bus import client, outbox
from bus.envelope import DecodeError, Message
from bus.filelog import FileLog
from bus.stub import StubBus


def test_messages_are_stamped_with_a_gapless_seq_and_the_time_one_step_apart():
    bus = StubBus(time=100.0, step=0.5)
    box = bus.outbox("agent:web1")
    assert box.send("obs.a", {"up": True}, id="x").result() == 1
    assert box.publish("obs.b", {"up": False}) == 2
    assert bus.messages == [
        Message(1, 100.5, "obs.a", "x", "agent:web1", {"up": True}, "anonymous"),
        Message(2, 101.0, "obs.b", "stub-1", "agent:web1", {"up": False}, "anonymous"),
    ]  # a stub proves no key: as a broker without CURVE
    assert bus.last_seq == 2 and bus.topics("obs.") == ["obs.a", "obs.b"]


def test_a_message_sent_again_with_the_same_id_is_stored_once_and_answers_its_first_seq():
    bus = StubBus()
    box = bus.outbox("observer")
    first = box.publish("world.service.db", {"health": "down"}, id="world-7-service-db")
    again = bus.outbox("observer").publish(
        "world.service.db", {"health": "down"}, id="world-7-service-db"
    )
    assert first == again == 1
    assert len(bus.messages) == 1 and bus.resent == [("observer", "world-7-service-db")]
    other = bus.outbox("executor").publish("world.service.db", {}, id="world-7-service-db")
    assert other == 2  # ids are per source


def test_what_the_broker_refuses_fails_the_future_and_what_cannot_be_encoded_fails_at_once():
    box = StubBus().outbox("emit")
    refused = box.send("bus.stats", {})  # bus.* is the broker's own
    with pytest.raises(client.PublishRejected, match="reserved for the broker"):
        refused.result()
    with pytest.raises(client.PublishRejected, match="not finite|NaN|finite"):
        box.publish("obs.a", {"x": float("nan")})
    with pytest.raises(DecodeError):
        box.send("obs.a", {"x": object()})


def test_the_broker_itself_may_say_bus_topics():
    bus = StubBus()
    tick = bus.emit("bus.stats", {"rate": 1}, source="broker")
    assert (tick.seq, tick.topic, tick.source) == (1, "bus.stats", "broker")


def test_a_feed_gives_the_history_from_since_then_what_comes_under_its_prefixes_in_order():
    bus = StubBus()
    for topic in ("obs.a", "action.x", "obs.b"):
        bus.emit(topic, {})
    history = bus("obs.", since=2)
    live = bus("obs.")  # from now on
    bus.emit("obs.c", {})
    assert [m.topic for m in history.drain()] == ["obs.b", "obs.c"]
    assert [m.topic for m in live.drain()] == ["obs.c"]
    assert history.get(timeout=0) is None


def test_what_a_reader_publishes_while_draining_loops_back_to_it():
    bus = StubBus()
    box = bus.outbox("supervisor")
    feed = bus("action.", since=1)
    bus.emit("action.request.approve", {"id": "a-1"}, source="cli:oskar")
    taken = []
    for message in feed.drain():
        taken.append(message.topic)
        if message.topic == "action.request.approve":
            box.send("action.approved", {"id": "a-1"}, id="approved-a-1")
    assert taken == ["action.request.approve", "action.approved"]


def test_a_reader_waiting_on_a_feed_gets_what_another_thread_publishes():
    bus = StubBus()
    feed = bus("action.")
    timer = threading.Timer(0.05, lambda: bus.emit("action.output", {"id": "a"}))
    timer.start()
    message = feed.get(timeout=5)
    timer.join()
    assert message is not None and message.topic == "action.output"
    assert bus.wait_for("action.output", timeout=0)


def test_while_the_broker_is_away_messages_wait_and_are_stored_in_order_once_it_is_back():
    bus = StubBus()
    box = bus.outbox("agent:n1", limit=2)
    bus.away()
    first = box.send("obs.a", {})
    box.send("obs.b", {})
    assert not first.done() and not box.drained()
    with pytest.raises(outbox.Full):
        box.send("obs.c", {})
    with pytest.raises(client.BusUnavailable):
        bus.outbox("executor").publish("action.running", {"id": "a"})
    bus.back()
    assert first.result() == 1 and box.drained()
    assert bus.topics() == ["obs.a", "obs.b", "action.running"]


def test_a_closed_outbox_takes_nothing_more():
    box = StubBus().outbox("executor")
    assert box.close()
    with pytest.raises(client.BusError, match="closed"):
        box.send("action.output", {})


def test_with_a_file_log_what_is_stored_is_on_disk_and_a_new_bus_goes_on_from_it(tmp_path: Path):
    log, _ = FileLog.open_for_append(tmp_path / "events")
    bus = StubBus(log)
    bus.outbox("supervisor").publish("action.recommended", {"id": "a-1"}, id="rec-a-1")
    assert [m.topic for m in FileLog(tmp_path / "events").messages()] == ["action.recommended"]
    again = StubBus(log)  # a restart of the broker: same log, same ids known
    assert again.outbox("supervisor").publish("action.recommended", {}, id="rec-a-1") == 1
    assert again.emit("obs.a", {}).seq == 2
    log.close()
