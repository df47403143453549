"""The one message shape on the bus and its byte encodings.

A publisher sends a *wire envelope*, the msgpack array ``[topic, id, source, payload]``.
The broker stamps it into a *body*, ``[seq, time, topic, id, source, payload, identity]``,
by prepending two fixed-width fields to the publisher's own bytes (``seq`` as msgpack
uint64, ``time`` as msgpack float64) and appending who sent it (the role of the key its
connection proved), so the payload is never re-encoded. The same body is written to the
log and published, so every reader sees exactly the bytes that are on disk. Bodies stored
before the broker knew who spoke have no ``identity`` (6 elements): they read as None.

``docs/protocol.md`` describes these layouts for clients in other languages.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Annotated, Any, NamedTuple

import msgpack
from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError

from bus import errors

TOPIC_PATTERN = r"^[a-z][a-z0-9_-]*(\.[A-Za-z0-9_:@+-]+)*$"
MAX_TOPIC_CHARS = 200
MAX_ID_CHARS = 64
MAX_SOURCE_CHARS = 128
MAX_MESSAGE_BYTES = 256 * 1024

Topic = Annotated[str, StringConstraints(max_length=MAX_TOPIC_CHARS, pattern=TOPIC_PATTERN)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
Source = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SOURCE_CHARS)]

_STAMP = struct.Struct(">BBQBd")  # fixarray(6), uint64 marker, seq, float64 marker, time
_SEQ_AT = struct.Struct(">Q")
_TIME_AT = struct.Struct(">d")
STAMP_SIZE = _STAMP.size  # 19: seq lives at body[2:10], time at body[11:19]
_WIRE_ARRAY = 0x94  # fixarray of 4
_BODY_ARRAY = 0x97  # fixarray of 7: the body since the broker stores who sent it
_OLD_BODY_ARRAY = 0x96  # fixarray of 6: a body stored before, without an identity
BODY_ARRAYS = (_OLD_BODY_ARRAY, _BODY_ARRAY)  # what a body starts with
ANONYMOUS = "anonymous"  # the identity of what a client sent without CURVE (HOMELAB_CURVE=off)
BROKER = "service:broker"  # the identity of the broker's own messages (bus.*)


class DecodeError(errors.HomelabError, ValueError):
    """Bytes that are not a valid envelope or body, whatever the underlying reason."""


class Message(NamedTuple):
    """One sequenced bus message, as every subscriber and reader sees it.

    A named tuple rather than a pydantic model: subscribers make one per message, and this
    costs a tenth. Messages from
    outside are validated at the boundary they cross (``validate_heads``, ``inbox``).
    """

    seq: int
    time: float
    topic: str
    id: str
    source: str
    payload: dict[str, Any]
    # Who sent it, as the broker proved it: the role of the client's key (``agent:web1``),
    # ``service:broker``, ``tool:inbox``, ``anonymous`` without CURVE; None in a record
    # stored before the broker stored it. ``source`` is only what the message claims.
    identity: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self._asdict()


_wire_heads = TypeAdapter(list[tuple[Topic, MessageId, Source]], config=ConfigDict(strict=True))
_topic = TypeAdapter(Topic)


TOPIC_RULE = (
    f"use dot-separated words, the first lowercase (e.g. obs.node.web1), "
    f"at most {MAX_TOPIC_CHARS} characters"
)


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is valid, else raise DecodeError with a readable reason."""
    try:
        return _topic.validate_python(topic)
    except ValidationError:
        raise DecodeError(f"bad topic {topic[:80]!r}: {TOPIC_RULE}") from None


_known_good: set[tuple[str, str]] = set()  # (topic, source) pairs pydantic has accepted


def validate_heads(heads: list[tuple[Any, Any, Any]]) -> list[str | None]:
    """Check (topic, id, source) of many envelopes; one reason or None each.

    Topics and sources repeat, ids do not: a batch whose (topic, source) pairs were all
    accepted before only needs its ids checked. Anything else goes through pydantic, in one
    call for the whole batch.
    """
    if all(
        type(t) is str
        and type(s) is str
        and (t, s) in _known_good
        and type(i) is str
        and 0 < len(i) <= MAX_ID_CHARS
        for t, i, s in heads
    ):
        return [None] * len(heads)
    reasons = _validate_heads(heads)
    if len(_known_good) > 10_000:
        _known_good.clear()
    _known_good.update((t, s) for (t, _, s), r in zip(heads, reasons, strict=True) if r is None)
    return reasons


def _validate_heads(heads: list[tuple[Any, Any, Any]]) -> list[str | None]:
    try:
        _wire_heads.validate_python(heads)
        return [None] * len(heads)
    except ValidationError as err:
        reasons: list[str | None] = [None] * len(heads)
        for problem in err.errors(include_url=False, include_input=False):
            # A location in a list of 3-tuples: the head's index, then the field's.
            index, *field = (int(part) for part in problem["loc"])
            if reasons[index] is None:
                name = ("topic", "id", "source")[field[0]] if field else "envelope"
                message = (
                    TOPIC_RULE if problem["type"] == "string_pattern_mismatch" else problem["msg"]
                )
                reasons[index] = f"{name}: {message}"
        return reasons


def encode_wire(
    topic: str,
    msg_id: str,
    source: str,
    payload: dict[str, Any],
    packer: msgpack.Packer | None = None,
) -> bytes:
    """The publisher's bytes for one message (validated again by the broker). A publisher
    passes its own ``packer``: making one per call would cost more than the packing."""
    try:
        return (packer or msgpack.Packer()).pack([topic, msg_id, source, payload])
    except (TypeError, ValueError, OverflowError) as err:
        raise DecodeError(f"payload cannot be encoded: {err}") from None


def stamp(wire: bytes, seq: int, time: float, identity: str | None = None) -> bytes:
    """Turn a validated wire envelope into a body: seq and time before it, ``identity``
    (who sent it) after it. ``identity`` None: the 6-element body of a broker that did not
    store it (what old logs hold; tests write such logs)."""
    if wire[0] != _WIRE_ARRAY:  # a foreign client used a wider array header: normalise it
        wire = msgpack.packb(msgpack.unpackb(wire, raw=False), use_bin_type=True)
    if identity is None:
        return _STAMP.pack(_OLD_BODY_ARRAY, 0xCF, seq, 0xCB, time) + wire[1:]
    return b"".join(
        (_STAMP.pack(_BODY_ARRAY, 0xCF, seq, 0xCB, time), memoryview(wire)[1:], packed(identity))
    )


_packed: dict[str, bytes] = {}  # identity -> its msgpack bytes: a few roles, packed once


def packed(identity: str) -> bytes:
    """``identity`` as msgpack (what ends a body), packed once per identity."""
    found = _packed.get(identity)
    if found is None:
        if len(_packed) > 10_000:  # keys come and go: never more than this many
            _packed.clear()
        found = _packed[identity] = msgpack.packb(identity)
    return found


def body_seq(body: bytes | memoryview) -> int:
    return _SEQ_AT.unpack_from(body, 2)[0]


def body_time(body: bytes | memoryview) -> float:
    return _TIME_AT.unpack_from(body, 11)[0]


def decode_body(body: bytes | memoryview) -> Message:
    """Decode a body written by the broker (trusted: checksummed, validated on the way in)."""
    try:
        return message(msgpack.unpackb(body, raw=False))
    except Exception as err:  # msgpack raises many types; callers need one
        raise DecodeError(f"undecodable body: {err}") from None


_new_message = tuple.__new__


def message(fields: list) -> Message:
    """The Message of a decoded body's fields (trusted: CRC-checked, validated on the way
    in); a body stored before identities (6 fields) reads with identity None, and fields a
    later broker appends after the seventh are left out, so a client on another machine
    need not be upgraded in the same minute as the broker."""
    if len(fields) == 6:
        fields.append(None)
    elif len(fields) > 7:
        del fields[7:]
    elif len(fields) != 7:
        raise ValueError(f"a body has at least 6 fields, not {len(fields)}")
    return _new_message(Message, fields)


def body_topic(body: bytes | memoryview) -> str:
    """The topic of a body without decoding anything else (it is ASCII, at most 200 bytes)."""
    marker = body[STAMP_SIZE]
    if 0xA0 <= marker <= 0xBF:  # fixstr
        start, length = STAMP_SIZE + 1, marker - 0xA0
    elif marker == 0xD9:  # str 8
        start, length = STAMP_SIZE + 2, body[STAMP_SIZE + 1]
    else:
        return _body_fields(body, 1)[0]
    return str(body[start : start + length], "ascii")


def body_key(body: bytes | memoryview) -> tuple[str, str]:
    """(source, id) of a body without decoding its payload: what de-duplication keys on."""
    _, msg_id, source = _body_fields(body, 3)
    return source, msg_id


def _body_fields(body: bytes | memoryview, count: int) -> list[str]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(
        body[STAMP_SIZE : STAMP_SIZE + 8 * (MAX_TOPIC_CHARS + MAX_ID_CHARS + MAX_SOURCE_CHARS)]
    )
    return [unpacker.unpack() for _ in range(count)]


RESERVED_SOURCES = frozenset({"broker", "bus", "observer", "supervisor", "executor", "ui"})
RESERVED_SOURCE_PREFIXES = ("agent:", "policy:", "cli:", "ui:")


def is_reserved_source(name: str) -> bool:
    """Sources that only the control plane's own services may use (not the inbox, not emit)."""
    return name in RESERVED_SOURCES or name.startswith(RESERVED_SOURCE_PREFIXES)


MAX_PAYLOAD_DEPTH = 32  # maps and lists inside one another, the payload itself included


def payload_problem(payload: Any) -> str | None:
    """Why a payload is not what a message may carry, or None (docs/protocol.md, "Payload"):
    a map with string keys whose values are maps, lists, strings, integers, finite floats,
    booleans or nil, nested at most ``MAX_PAYLOAD_DEPTH`` deep, so that every stored record
    renders as JSON. One pass with no recursion: about a microsecond for a typical payload."""
    if type(payload) is not dict:
        return "payload: must be a map"
    stack = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            return f"payload: nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        items: Iterable[Any]
        if type(value) is dict:
            for key in value:
                if type(key) is not str:
                    return "payload: keys must be strings"
            items = value.values()
        else:
            items = value
        for item in items:
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                continue
            if kind is float:
                if item - item != 0.0:  # inf - inf and nan - nan are nan
                    return "payload: numbers must be finite"
            elif kind is dict or kind is list:
                stack.append((item, depth + 1))
            else:
                return f"payload: {kind.__name__} values are not allowed"
    return None
