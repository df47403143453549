"""The asyncio bus clients against a real broker process: durable publishes from many
tasks, and a subscriber that catches up, follows, and outlives a broker restart."""

from __future__ import annotations

import asyncio

import pytest

from bus import aio, client, envelope
from bus.filelog import FileLog
from plant import BrokerProcess, free_port_pair

pytestmark = pytest.mark.slow


def on_disk(root, topic: str) -> list[envelope.Message]:
    found = [envelope.decode_body(b) for b in FileLog(root / "events").read()]
    return [m for m in found if m.topic == topic]


def test_publishes_from_many_tasks_are_each_durable_once(broker):
    async def main() -> list[int]:
        publisher = aio.AsyncPublisher(broker.endpoint, "ui:test")
        try:
            return await asyncio.gather(
                *(publisher.publish("ui.click", {"i": i}) for i in range(50))
            )
        finally:
            publisher.close()

    seqs = asyncio.run(asyncio.wait_for(main(), 20))
    stored = on_disk(broker.root, "ui.click")
    assert sorted(seqs) == sorted(m.seq for m in stored) and len(set(seqs)) == 50
    assert sorted(m.payload["i"] for m in stored) == list(range(50))
    assert {m.source for m in stored} == {"ui:test"}


def test_a_publish_waits_for_a_broker_that_starts_late(root):
    late = BrokerProcess(root, free_port_pair())

    async def main() -> int:
        publisher = aio.AsyncPublisher(late.endpoint, "ui:test", timeout=20)
        try:
            task = asyncio.create_task(publisher.publish("ui.click", {"late": True}))
            await asyncio.sleep(0.5)
            assert not task.done()  # nothing acknowledged it: it is still waiting
            await asyncio.to_thread(late.start)
            return await task
        finally:
            publisher.close()

    try:
        seq = asyncio.run(asyncio.wait_for(main(), 30))
        assert [m.seq for m in on_disk(root, "ui.click")] == [seq]
    finally:
        late.stop()


def test_no_broker_is_a_clear_error_within_the_timeout(root):
    endpoint = f"tcp://127.0.0.1:{free_port_pair()}"

    async def main() -> None:
        publisher = aio.AsyncPublisher(endpoint, "ui:test", timeout=0.5)
        try:
            await publisher.publish("ui.click", {})
        finally:
            publisher.close()

    with pytest.raises(client.BusUnavailable, match="no answer from the broker"):
        asyncio.run(asyncio.wait_for(main(), 10))


def test_a_refused_message_raises_the_brokers_reason(broker):
    async def main() -> None:
        publisher = aio.AsyncPublisher(broker.endpoint, "ui:test")
        try:
            await publisher.publish("ui.big", {"x": "y" * (300 * 1024)})
        finally:
            publisher.close()

    with pytest.raises(client.PublishRejected):
        asyncio.run(asyncio.wait_for(main(), 10))


def test_a_subscriber_follows_across_a_broker_restart_without_gaps(broker):
    with client.Publisher(broker.endpoint, "observer") as publisher:
        for i in range(50):
            publisher.submit("world.x", {"i": i})
        publisher.flush()

    async def main() -> list[int]:
        got: list[int] = []
        async for message in aio.AsyncSubscriber(broker.endpoint, "world.", since=1):
            got.append(message.payload["i"])
            if len(got) == 50:
                await asyncio.to_thread(broker.kill)
                await asyncio.to_thread(broker.start)
                await asyncio.to_thread(_publish_more, broker.endpoint)
            if len(got) == 80:
                return got
        return got

    assert asyncio.run(asyncio.wait_for(main(), 40)) == list(range(80))


def _publish_more(endpoint: str) -> None:
    with client.Publisher(endpoint, "observer") as publisher:
        for i in range(50, 80):
            publisher.submit("world.x", {"i": i})
        publisher.flush()
