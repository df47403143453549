"""Malformed and fuzzed frames, interleaved with valid traffic, against a real broker process.

The broker must answer every frame, refuse the bad ones (counting and logging each), store
every valid message exactly once and in order, and keep its memory flat. ``decode_request``
is also fuzzed in-process with hypothesis.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import psutil
import pytest
import zmq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from zmq.utils.monitor import recv_monitor_message

from bus import client, envelope, filelog, keys, protocol
from plant import BrokerProcess, free_port_pair, wait_until

VALID = 2000
GARBAGE = 3000
WARM_UP = 500  # garbage frames before the memory baseline
OUTSTANDING = 64  # garbage frames sent and not yet answered, at most
KIB, MIB = 1024, 1024 * 1024


def wire(topic: object, msg_id: object, source: object, payload: object) -> bytes:
    return msgpack.packb([topic, msg_id, source, payload], use_bin_type=True)


class Garbage:
    """Bounded, seeded garbage: each frame comes with the number of rejections it must cause.

    A frame is refused whole (an ``err`` reply) or, for a publish frame, envelope by envelope
    (an ``ack`` with a reason for each refused envelope; valid ones, ids ``mix-N``, are
    stored). Publish frames whose one envelope is malformed may get either answer: both
    count one rejection.
    """

    BAD_TOPICS = ["", "Obs.x", "obs..x", "1obs", "obs x", "obs.x/y", "é", "a" * 201, "obs.", 5,
                  None, b"obs", ["obs"]]  # fmt: skip
    BAD_IDS = ["", "x" * 65, 5, None, 1.5, {"id": 1}]
    BAD_SOURCES = ["", "s" * 129, 1, False]
    NON_MAPS = [[], 1, "x", None, b"x", True, 1.5, [{"a": 1}]]
    SHAPES = [0, 1, -1, 2**64 - 1, 1.5, None, True, "pub", b"pub", {}, {"a": 1}, {"pub": 1},
              [], ["pub"], ["pub", "x"], ["pub", 1, 5], ["pub", 1], ["pub", 1, None],
              ["pub", 1, "obs.x"], ["fetch", 1, -1, 10, []], ["fetch", 1, 0, 0, []],
              ["fetch", 1, 0, protocol.MAX_FETCH + 1, []], ["fetch", 1, 0, 10, "obs"],
              ["fetch", 1, 0, 10, ["a"] * 65], ["fetch", 1, 0, 10, ["x" * 201]],
              ["fetch", 1, 0, 10], ["fetch", "1", 0, 10, []], ["fetch", 1, 0, 10, [], "x"],
              ["fetch", 1, 0.5, 10, []], ["fetch", None, 0, 10, []], ["seek", 1, "now"],
              ["seek", 1], ["seek", "1", 1.0], ["ping"], ["ping", "1"], ["ping", 1, 2],
              ["ping", True], ["PING", 1], ["unknown", 1], [None, 1], [1, 2], [b"ping", 1],
              ["ack", 1, []], ["pong", 1, {}], ["err", None, "x"]]  # fmt: skip

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.batch = 1_000_000  # far from the Publisher's batch numbers
        self.mix_ids: list[str] = []
        self.acks: dict[int, list[bool]] = {}  # batch -> which items must be accepted
        self.either = {1}  # batches that may be refused whole or in an ack (SHAPES use 1)
        self.heavy = 0

    def next(self) -> tuple[list[bytes], int]:
        makers: list[tuple[int, Callable[[], tuple[list[bytes], int]]]] = [
            (30, self.random_bytes),
            (15, self.shape),
            (15, self.truncated),
            (25, self.bad_envelopes),
            (5, self.bad_publish_frame),
            (5, self.multipart),
            (5, self.mixed),
            (2, self.heavy_frame),
        ]
        make = self.rng.choices([m for _, m in makers], [w for w, _ in makers])[0]
        return make()

    def _batch(self) -> int:
        self.batch += 1
        return self.batch

    def _valid_wire(self, prefix: str) -> bytes:
        return wire("obs.fuzz.garbage", f"{prefix}-{self._batch()}", "fuzz", {"n": 1})

    def random_bytes(self) -> tuple[list[bytes], int]:
        for _ in range(100):
            frame = self.rng.randbytes(self.rng.randrange(0, 300))
            try:
                protocol.decode_request(frame)
            except protocol.ProtocolError:
                return [frame], 1
        raise AssertionError("no random garbage in 100 tries")

    def shape(self) -> tuple[list[bytes], int]:
        return [msgpack.packb(self.rng.choice(self.SHAPES), use_bin_type=True)], 1

    def truncated(self) -> tuple[list[bytes], int]:
        whole = self.rng.choice(
            [
                protocol.encode_publish(self._batch(), [self._valid_wire("trunc")] * 2),
                protocol.encode("fetch", 7, 0, 10, ["obs."]),
                protocol.encode("seek", 7, 1.5),
                protocol.encode("ping", 7),
            ]
        )
        return [whole[: self.rng.randrange(1, len(whole))]], 1

    def _bad_wire(self) -> bytes:
        topic, msg_id, source, payload = "obs.fuzz.bad", f"bad-{self._batch()}", "fuzz", {}
        field = self.rng.randrange(4)
        if field == 0:
            topic = self.rng.choice(self.BAD_TOPICS)
        elif field == 1:
            msg_id = self.rng.choice(self.BAD_IDS)
        elif field == 2:
            source = self.rng.choice(self.BAD_SOURCES)
        else:
            payload = self.rng.choice(self.NON_MAPS)
        return wire(topic, msg_id, source, payload)

    def bad_envelopes(self) -> tuple[list[bytes], int]:
        count = self.rng.randrange(1, 5)
        batch = self._batch()
        self.acks[batch] = [False] * count
        return [protocol.encode_publish(batch, [self._bad_wire() for _ in range(count)])], count

    def mixed(self) -> tuple[list[bytes], int]:
        """Valid and invalid envelopes in one frame: the valid ones are stored."""
        wires, accepted = [], []
        for _ in range(self.rng.randrange(2, 6)):
            if self.rng.random() < 0.5:
                msg_id = f"mix-{self._batch()}"
                self.mix_ids.append(msg_id)
                wires.append(wire("obs.fuzz.mix", msg_id, "fuzz", {"ok": True}))
                accepted.append(True)
            else:
                wires.append(self._bad_wire())
                accepted.append(False)
        batch = self._batch()
        self.acks[batch] = accepted
        return [protocol.encode_publish(batch, wires)], accepted.count(False)

    def bad_publish_frame(self) -> tuple[list[bytes], int]:
        """Publish frames refused as a whole (their valid-looking envelopes are not stored)."""
        good = self._valid_wire("whole")
        batch = self._batch()
        self.either.add(batch)
        head = b"\x93\xa3pub" + msgpack.packb(batch)
        frames = [
            head + msgpack.packb(["obs.x", "five", "fuzz", {}, "extra"]),  # 5-element envelope
            head + msgpack.packb(["obs.x", "three", "fuzz"]),
            head + msgpack.packb({"topic": "obs.x"}),
            head + good + b"\xc0",  # trailing bytes
            b"\x93\xa3pub\xa1x" + good,  # the batch is not a number
            b"\x93\xa3pub\xc0" + good,
            b"\x92\xa3pub" + good,  # the envelope where the batch belongs
        ]
        return [self.rng.choice(frames)], 1

    def multipart(self) -> tuple[list[bytes], int]:
        publish = protocol.encode_publish(self._batch(), [self._valid_wire("multi")])
        parts = self.rng.choice(
            [
                [b"a", b"b"],
                [protocol.encode("ping", 1), protocol.encode("ping", 2)],
                [publish, b""],
                [b"", publish],
                [publish, publish, publish],
            ]
        )
        return parts, 1

    def heavy_frame(self) -> tuple[list[bytes], int]:
        """Big or deep frames, at most 48 of them."""
        self.heavy += 1
        if self.heavy > 48:
            return self.shape()
        kind = self.heavy % 4
        if kind == 3:  # one envelope over the 256 KiB message limit (the frame is under 8 MiB)
            batch = self._batch()
            self.acks[batch] = [False]
            big = wire("obs.fuzz.big", f"big-{batch}", "fuzz", {"x": "a" * (256 * KIB)})
            return [protocol.encode_publish(batch, [big])], 1
        if kind == 0:  # 100k nested arrays as the whole request
            return [b"\x91" * 100_000 + b"\xc0"], 1
        if kind == 1:  # ... and as a payload inside a map, in a publish frame
            deep = b"\x81\xa1x" + b"\x91" * 100_000 + b"\xc0"
            env = b"\x94" + msgpack.packb("obs.x") + msgpack.packb("deep") + b"\xa4fuzz" + deep
            return [b"\x93\xa3pub" + msgpack.packb(self._batch()) + env], 1
        return [b"\xff" + self.rng.randbytes(MIB)], 1  # 1 MiB of noise


def drain(sock: zmq.Socket, replies: list[tuple]) -> None:
    while sock.poll(0):
        replies.append(protocol.decode_reply(sock.recv()))


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def send_over_limit(endpoint: str) -> None:
    """An over-8-MiB frame on its own socket: the ROUTER's MAXMSGSIZE drops the connection."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    keys.secure(sock)  # CURVE, as every client
    sock.setsockopt(zmq.LINGER, 0)
    monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    try:
        sock.connect(endpoint)

        def event(wanted: int) -> None:
            assert monitor.poll(10_000), "no socket event within 10 s"
            while recv_monitor_message(monitor)["event"] != wanted:
                assert monitor.poll(10_000), "no socket event within 10 s"

        event(zmq.EVENT_CONNECTED)
        sock.send(b"\x00" * (protocol.MAX_FRAME_BYTES + 1), copy=False)
        event(zmq.EVENT_DISCONNECTED)
        assert not sock.poll(0), "the broker answered a frame over its limit"
    finally:
        sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


@pytest.mark.slow
def test_fuzzed_frames_among_valid_traffic(broker: BrokerProcess) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    garbage = Garbage(rng)
    raw = zmq.Context.instance().socket(zmq.DEALER)
    keys.secure(raw)  # CURVE, as every client
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.RCVHWM, 0)
    raw.setsockopt(zmq.SNDTIMEO, 10_000)
    raw.connect(broker.endpoint)
    replies: list[tuple] = []
    sent = rejects = 0

    def caught_up() -> bool:
        drain(raw, replies)
        return sent - len(replies) <= OUTSTANDING // 2

    def send_garbage(count: int) -> None:
        nonlocal sent, rejects
        for _ in range(count):
            parts, expected = garbage.next()
            raw.send_multipart(parts, copy=False)
            sent += 1
            rejects += expected
            if sent - len(replies) > OUTSTANDING:  # flow control: memory is not queue depth
                wait_until(caught_up, 20, "the broker to answer the garbage")
        drain(raw, replies)

    publisher = client.Publisher(broker.endpoint, source="fuzz", timeout=20, batch_size=20)
    subscriber = client.Subscriber(broker.endpoint, since=1, timeout=10)
    try:
        # Warm up every path (and the allocator) before the memory baseline.
        warm = [f"w-{i}" for i in range(100)]
        for msg_id in warm:
            publisher.submit("obs.fuzz.valid", {"warm": msg_id}, id=msg_id)
        publisher.flush()
        for make in (garbage.random_bytes, garbage.shape, garbage.truncated,
                     garbage.bad_envelopes, garbage.bad_publish_frame, garbage.multipart,
                     garbage.mixed, *[garbage.heavy_frame] * 8):  # fmt: skip
            parts, expected = make()
            raw.send_multipart(parts)
            sent, rejects = sent + 1, rejects + expected
        send_garbage(WARM_UP)
        send_over_limit(broker.endpoint)
        wait_until(lambda: drain(raw, replies) or len(replies) == sent, 10, "warm-up replies")
        before = rss(broker.proc.pid)

        valid = [f"v-{i}" for i in range(VALID)]
        for i, msg_id in enumerate(valid):
            publisher.submit("obs.fuzz.valid", {"i": i, "pad": "x" * rng.randrange(200)}, id=msg_id)
            send_garbage((i + 1) * GARBAGE // VALID - i * GARBAGE // VALID)
            if i == VALID // 2:
                send_over_limit(broker.endpoint)
        publisher.flush()
        wait_until(lambda: drain(raw, replies) or len(replies) >= sent, 20, "every reply")
        status = client.ping(broker.endpoint)
        after = rss(broker.proc.pid)
        head = status["seq"]

        delivered = []
        for _ in range(head):
            message = subscriber.get(timeout=10)
            assert message is not None, f"subscriber stalled after {delivered[-1:]}"
            delivered.append((message.seq, message.id, message.topic))
            if message.seq >= head:
                break
    finally:
        publisher.close()
        subscriber.close()
        raw.close(0)

    # Still up, every frame answered once, every refusal counted.
    assert broker.proc.poll() is None
    assert len(replies) == sent
    assert status["rejected"] == rejects > 0
    for reply in replies:
        assert reply[0] in ("err", "ack"), reply
        if reply[0] == "ack" and reply[1] in garbage.either:
            assert [isinstance(r, str) for r in reply[2]] == [True], reply
        elif reply[0] == "ack":
            accepted = garbage.acks.pop(reply[1])
            assert [isinstance(r, int) for r in reply[2]] == accepted, reply
    assert garbage.acks == {}, "publish frames without an ack"

    # The log holds the valid messages (in order, once) and the broker's own, nothing else.
    log = [
        (m.seq, m.id, m.topic)
        for m in map(envelope.decode_body, filelog.FileLog(broker.root / "events").read(0, head))
    ]
    assert [seq for seq, _, _ in log] == list(range(1, head + 1))
    assert delivered == log, "the subscriber's stream differs from the log"
    ours = [msg_id for _, msg_id, topic in log if not topic.startswith("bus.")]
    assert [i for i in ours if i[:2] in ("w-", "v-")] == warm + valid
    assert sorted(i for i in ours if i.startswith("mix-")) == sorted(garbage.mix_ids)
    assert len(ours) == len(warm) + len(valid) + len(garbage.mix_ids), "garbage was stored"

    # Refusals are logged with their reason; memory stayed flat.
    text = (broker.root / "logs" / "broker.log").read_text()
    reasons = re.findall(r"rejected from [0-9a-f]+: (.+)", text)
    assert reasons and all(r.strip() for r in reasons)
    assert any("must be a map" in r or "topic" in r or "bad" in r for r in reasons), reasons[:5]
    wait_until(
        lambda: "more rejected messages" in (broker.root / "logs" / "broker.log").read_text(),
        5,
        "the summary of unlogged rejections",
    )
    print(f"rss before {before / MIB:.1f} MiB, after {after / MIB:.1f} MiB; {sent} frames")
    assert after - before < 20 * MIB


# -- single frames that broke (or still break) the broker ----------------------------------


@pytest.fixture
def quiet_broker(root: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(root, free_port_pair(), "--stats-interval", "0").start()
    yield process
    process.kill()


def raw_request(broker: BrokerProcess, frame: bytes) -> tuple | None:
    """Send one raw frame; its reply, or None if the broker process exits instead."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    keys.secure(sock)  # CURVE, as every client
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(broker.endpoint)
    try:
        sock.send(frame)
        wait_until(
            lambda: sock.poll(20) or broker.proc.poll() is not None, 10, "a reply or an exit"
        )
        return protocol.decode_reply(sock.recv()) if sock.poll(0) else None
    finally:
        sock.close(0)


@pytest.mark.slow
def test_broker_survives_a_request_whose_head_is_a_list(quiet_broker: BrokerProcess) -> None:
    reply = raw_request(quiet_broker, b"\x91\x91\x01")  # [[1]]: three bytes
    assert reply is not None, "no answer (the broker died)"
    assert reply[0] == "err", reply
    assert quiet_broker.answers()


@pytest.mark.slow
def test_broker_survives_array16_envelope_with_int_keys(quiet_broker: BrokerProcess) -> None:
    """Such an envelope is re-encoded by ``envelope.stamp``; it must be refused before that."""
    env = b"\xdc\x00\x04" + msgpack.packb("obs.x") + msgpack.packb("a16") + b"\xa4fuzz\x81\x01\x02"
    reply = raw_request(quiet_broker, protocol.encode_publish(1, [env]))
    assert reply is not None, "no answer (the broker died)"
    assert reply[0] == "err" or isinstance(reply[2][0], str), reply
    assert quiet_broker.answers()
    assert client.ping(quiet_broker.endpoint)["seq"] == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "env",
    [
        wire("obs.x", "int-keys", "fuzz", {1: 2}),
        wire("obs.x", "nested-int-keys", "fuzz", {"k": {1: 2}}),
        b"\x94\xa5obs.x\xa4utf8\xa4fuzz\x81\xa1k\xa2\xff\xfe",  # invalid UTF-8 in the payload
    ],
    ids=["int-keys", "nested-int-keys", "invalid-utf8"],
)
def test_a_payload_readers_cannot_decode_is_refused(
    quiet_broker: BrokerProcess, env: bytes
) -> None:
    reply = raw_request(quiet_broker, protocol.encode_publish(1, [env]))
    assert reply is not None, "no answer (the broker died)"
    assert reply[0] == "err" or isinstance(reply[2][0], str), f"stored: {reply}"
    assert client.ping(quiet_broker.endpoint)["seq"] == 0


# -- decode_request in-process -------------------------------------------------------------

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from(["pub", "fetch", "seek", "ping", "obs.x", "", "a" * 201])
)
structures = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "topic", ""]), children, max_size=3)
    ),
    max_leaves=10,
)
requests = st.builds(
    lambda head, rest: [head, *rest],
    st.sampled_from(["pub", "fetch", "seek", "ping", "ack"]),
    st.lists(structures, max_size=6),
)
frames = (
    st.binary(max_size=512)
    | st.builds(lambda tail: b"\x93\xa3pub" + tail, st.binary(max_size=200))
    | st.builds(lambda tail: b"\xdc\x00\x03\xa3pub" + tail, st.binary(max_size=200))
)


def decode_or_refuse(frame: bytes) -> protocol.Publish | tuple | None:
    try:
        request = protocol.decode_request(frame)
    except protocol.ProtocolError:
        return None
    assert isinstance(request, protocol.Publish | tuple)
    return request


@FUZZ
@given(frames)
def test_decode_request_refuses_bytes_with_protocol_error_only(frame: bytes) -> None:
    decode_or_refuse(frame)


@FUZZ
@given(st.one_of(structures, requests))
def test_decode_request_refuses_structures_with_protocol_error_only(request: object) -> None:
    frame = msgpack.packb(request, use_bin_type=True)
    decode_or_refuse(frame)


@FUZZ
@given(st.one_of(structures, requests).map(lambda r: msgpack.packb(r, use_bin_type=True)))
@example(b"\x91\x90")
def test_decode_request_raises_protocol_error_only_including_unhashable_heads(
    frame: bytes,
) -> None:
    decode_or_refuse(frame)


payload_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=3) | st.binary(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(FUZZ, max_examples=300)
@given(
    st.lists(
        st.builds(
            lambda payload: wire("obs.x", "id", "src", payload),
            st.dictionaries(
                st.text(max_size=5) | st.integers(-9, 9) | st.binary(max_size=3),
                payload_values,
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
@example([wire("obs.x", "id", "src", {1: 2})])
@example([wire("obs.x", "id", "src", {"a": {"k": 1, b"k": 2}})])
@example([wire("obs.x", "id", "src", {"a": [float("nan")]})])
def test_every_accepted_envelope_can_be_read_back_and_rendered_as_json(wires: list[bytes]) -> None:
    """What replay --json, tap and the UI do with a stored record: strict JSON, keys sorted."""
    request = decode_or_refuse(protocol.encode_publish(1, wires))
    for item in request.items if request is not None else ():
        if isinstance(item, protocol.Envelope):
            message = envelope.decode_body(envelope.stamp(item.wire, 1, 0.0))
            json.dumps(message.to_json_dict(), allow_nan=False, sort_keys=True)


@pytest.mark.slow
def test_rejections_are_still_logged_with_stats_off(quiet_broker: BrokerProcess) -> None:
    endpoint, log_path = quiet_broker.endpoint, quiet_broker.root / "logs" / "broker.log"
    sock = zmq.Context.instance().socket(zmq.DEALER)
    keys.secure(sock)  # CURVE, as every client
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        for _ in range(25):  # more than the 20 lines a tick may log
            sock.send(b"\xc1")  # never valid msgpack
        wait_until(lambda: client.ping(endpoint)["rejected"] == 25, 10, "25 rejections")
        since = client.ping(endpoint)["uptime_s"]
        wait_until(lambda: client.ping(endpoint)["uptime_s"] >= since + 1, 5, "a few ticks")
        sock.send(b"\xc1")
        wait_until(lambda: client.ping(endpoint)["rejected"] == 26, 10, "the 26th rejection")
    finally:
        sock.close(0)
    wait_until(
        lambda: (
            "more rejected messages" in log_path.read_text()
            or log_path.read_text().count("rejected from") > 20
        ),
        3,
        "rejections after the first 20 to be logged or summed up",
    )
