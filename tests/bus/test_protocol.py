"""Request and reply frames: valid ones decode, every bad one is one ProtocolError."""

from __future__ import annotations

import msgpack
import pytest

from bus import envelope, protocol
from bus.protocol import Envelope, ProtocolError, Publish


def wire(topic="obs.a", msg_id="i1", source="s", payload=None) -> bytes:
    return envelope.encode_wire(topic, msg_id, source, payload if payload is not None else {"a": 1})


def test_a_publish_frame_keeps_each_envelopes_bytes_as_sent():
    wires = [wire(msg_id="i1"), wire(msg_id="i2", topic="world.b")]
    decoded = protocol.decode_request(protocol.encode_publish(9, wires))
    assert decoded == Publish(
        9, [Envelope(wires[0], "obs.a", "i1", "s"), Envelope(wires[1], "world.b", "i2", "s")]
    )


@pytest.mark.parametrize(
    ("bad_wire", "reason"),
    [
        (wire(topic="Obs.a"), "topic: use dot-separated words"),
        (wire(topic="obs..a"), "topic: use dot-separated words"),
        (wire(topic="o" * 201), "topic:"),
        (wire(msg_id=""), "id:"),
        (wire(source="s" * 129), "source:"),
        (msgpack.packb(["obs.a", "i", "s", [1, 2]]), "payload: must be a map"),
        (msgpack.packb(["obs.a", 5, "s", {}]), "id:"),
        (wire(payload={"x": "y" * (300 * 1024)}), "exceeds the limit"),
        (msgpack.packb(["obs.a", "i", "s", {}, "extra"]), "envelope: must be"),
        (msgpack.packb(["obs.a", "i", "s", {b"k": "x"}]), "keys must be strings"),
        (wire(topic="bus.stats"), "reserved for the broker"),
    ],
)
def test_a_bad_envelope_is_refused_alone_with_a_reason(bad_wire, reason):
    decoded = protocol.decode_request(protocol.encode_publish(1, [wire(), bad_wire, wire()]))
    assert isinstance(decoded.items[0], Envelope) and isinstance(decoded.items[2], Envelope)
    assert isinstance(decoded.items[1], str) and reason in decoded.items[1]


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xc1",
        msgpack.packb(5),
        msgpack.packb({"pub": 1}),
        msgpack.packb(["pub"]),
        msgpack.packb(["pub", "x", ["obs.a", "i", "s", {}]]),
        msgpack.packb(["pub", 1]),
        msgpack.packb(["pub", True, ["obs.a", "i", "s", {}]]),
        msgpack.packb(["pub", 1, ["obs.a", "i", "s", {"k": {1: "int keys do not decode"}}]]),
        b"\x93\xa3pub\x01\x94\xa5obs.a\xa1i\xa1s\x81\xa1k\xa2\xff\xfe",  # invalid UTF-8
        protocol.encode_publish(1, [wire()]) + b"\x00",
        protocol.encode_publish(1, [wire()])[:-3],
        msgpack.packb(["fetch", 1, -1, 10, []]),
        msgpack.packb(["fetch", 1, 0, 10**6, []]),
        msgpack.packb(["fetch", 1, 0, 10, "obs."]),
        msgpack.packb(["seek", 1, "yesterday"]),
        msgpack.packb(["launch", 1]),
    ],
)
def test_a_malformed_frame_is_one_protocol_error(frame):
    with pytest.raises(ProtocolError):
        protocol.decode_request(frame)


def test_an_error_names_the_batch_or_request_when_it_can_be_read():
    with pytest.raises(ProtocolError) as caught:
        protocol.decode_request(protocol.encode_publish(7, [wire()])[:-3])
    assert caught.value.number == 7
    with pytest.raises(ProtocolError) as caught:
        protocol.decode_request(msgpack.packb(["fetch", 12, -1, 10, []]))
    assert caught.value.number == 12


def test_queries_decode_to_validated_tuples():
    assert protocol.decode_request(protocol.encode("fetch", 3, 10, 100, ["obs."])) == (
        "fetch",
        3,
        10,
        100,
        ["obs."],
    )
    assert protocol.decode_request(protocol.encode("seek", 4, 12.5)) == ("seek", 4, 12.5)
    assert protocol.decode_request(protocol.encode("ping", 5)) == ("ping", 5)


def test_replies_are_validated_too():
    assert protocol.decode_reply(protocol.encode("ack", 1, [5, "bad topic"])) == (
        "ack",
        1,
        [5, "bad topic"],
    )
    with pytest.raises(ProtocolError):
        protocol.decode_reply(protocol.encode("ack", "one", [5]))
    with pytest.raises(ProtocolError):
        protocol.decode_reply(b"\xc1")


def test_a_publish_frame_shows_its_batch_and_size_without_being_decoded():
    wire = envelope.encode_wire("obs.a", "1", "t", {})
    assert protocol.peek_publish(protocol.encode_publish(7, [wire] * 3)) == (7, 3)
    assert protocol.peek_publish(protocol.encode_publish(2**40, [wire] * 20)) == (2**40, 20)
    assert protocol.peek_publish(protocol.encode("ping", 1)) is None
    assert protocol.peek_publish(b"\x93\xa3pub\xc1") is None  # no readable batch: decode says why
    assert protocol.peek_publish(b"") is None


def test_a_retry_reply_carries_the_reason_and_how_long_to_wait():
    reply = protocol.decode_reply(protocol.encode("retry", 4, "disk full at /x: 0 bytes free", 1.0))
    assert reply == ("retry", 4, "disk full at /x: 0 bytes free", 1.0)
    with pytest.raises(ProtocolError):
        protocol.decode_reply(protocol.encode("retry", 4, "x", -1.0))
