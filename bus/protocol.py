"""Request and reply frames between clients (DEALER) and the broker (ROUTER).

Every frame is one msgpack array whose first element names it. A publish frame carries its
envelopes inline, ``["pub", batch, env1, env2, ...]``; the broker decodes it with a streaming
unpacker so it never builds the payloads, only checks that each is a well-formed map.
See ``docs/protocol.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, NamedTuple

import msgpack
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from bus import envelope, topics

MAX_FRAME_BYTES = 8 * 1024 * 1024
MAX_FETCH = 5000
_STRICT = ConfigDict(strict=True)


class ProtocolError(ValueError):
    """A frame that is not a valid request or reply; ``number`` is its batch or request
    number when that much could be read, so the error reply can name it."""

    def __init__(self, message: str, number: int | None = None):
        super().__init__(message)
        self.number = number


class Envelope(NamedTuple):
    """One accepted wire envelope from a publish frame (its bytes kept as they came)."""

    wire: bytes
    topic: str
    id: str
    source: str


class Publish(NamedTuple):
    batch: int
    items: list[Envelope | str]  # a reason string for each envelope that was refused
    identity: str = envelope.ANONYMOUS  # who sent it, as the broker stores it (it sets it)


Prefixes = Annotated[
    list[Annotated[str, Field(max_length=envelope.MAX_TOPIC_CHARS)]], Field(max_length=64)
]
_requests: dict[str, TypeAdapter[Any]] = {
    "fetch": TypeAdapter(
        tuple[
            Literal["fetch"],
            int,
            Annotated[int, Field(ge=0)],
            Annotated[int, Field(ge=1, le=MAX_FETCH)],
            Prefixes,
        ],
        config=_STRICT,
    ),
    "seek": TypeAdapter(tuple[Literal["seek"], int, float], config=_STRICT),
    "ping": TypeAdapter(tuple[Literal["ping"], int], config=_STRICT),
}


def decode_request(
    frame: bytes, max_message_bytes: int = envelope.MAX_MESSAGE_BYTES
) -> Publish | tuple:
    """A ``Publish`` for publish frames, the validated tuple for the others."""
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    if _is_publish(frame):
        return _decode_publish(frame, max_message_bytes)
    try:
        request = msgpack.unpackb(frame, raw=False)
    except Exception as err:
        raise ProtocolError(f"undecodable frame: {err}") from None
    number = (
        request[1]
        if type(request) is list and len(request) > 1 and type(request[1]) is int
        else None
    )
    if (
        type(request) is not list
        or not request
        or type(request[0]) is not str
        or (request[0] not in _requests)
    ):
        raise ProtocolError("unknown request", number)
    try:
        return _requests[request[0]].validate_python(tuple(request))
    except ValidationError as err:
        raise ProtocolError(f"bad {request[0]} request: {err.errors()[0]['msg']}", number) from None


def _is_publish(frame: bytes) -> bool:
    header = _array_header(frame)[0]
    return header > 0 and frame[header : header + 4] == b"\xa3pub"


def _array_header(frame: bytes) -> tuple[int, int]:
    """(header size, element count) of the msgpack array ``frame`` starts with; (0, 0) if
    it does not start with one."""
    first = frame[0] if frame else 0
    if 0x90 <= first <= 0x9F:
        return 1, first - 0x90
    if first in (0xDC, 0xDD) and len(frame) >= (3 if first == 0xDC else 5):
        size = 3 if first == 0xDC else 5
        return size, int.from_bytes(frame[1:size], "big")
    return 0, 0


def peek_publish(frame: bytes) -> tuple[int, int] | None:
    """(batch, number of envelopes) of a publish frame, read without decoding the
    envelopes (what a per-client limit needs); None when it is not a readable one (the
    full decoder then says why)."""
    header, count = _array_header(frame)
    if header == 0 or frame[header : header + 4] != b"\xa3pub" or count < 3:
        return None
    unpacker = msgpack.Unpacker()
    unpacker.feed(frame[header + 4 : header + 13])
    try:
        batch = unpacker.unpack()
    except Exception:
        return None
    return (batch, count - 2) if type(batch) is int else None


def _decode_publish(frame: bytes, max_message_bytes: int) -> Publish:
    """One streaming pass that decodes every envelope (so every stored body is known to
    decode for readers) and remembers each one's bytes, which become the stored body."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME_BYTES)
    unpacker.feed(frame)
    batch = None
    spans, decoded = [], []
    try:
        count = unpacker.read_array_header() - 2
        unpacker.skip()  # "pub"
        batch = unpacker.unpack()
        if type(batch) is not int or count < 1:
            raise ValueError("needs a batch number and one envelope or more")
        for _ in range(count):
            start = unpacker.tell()
            decoded.append(unpacker.unpack())
            spans.append((start, unpacker.tell()))
    except Exception as err:
        raise ProtocolError(
            f"bad publish frame: {err}", batch if type(batch) is int else None
        ) from None
    if unpacker.tell() != len(frame):
        raise ProtocolError("bad publish frame: trailing bytes", batch)
    heads = [tuple(e[:3]) if type(e) is list and len(e) == 4 else ("", "", "") for e in decoded]
    reasons = envelope.validate_heads(heads)
    items: list[Envelope | str] = []
    for (start, end), item, head, reason in zip(spans, decoded, heads, reasons, strict=True):
        if type(item) is not list or len(item) != 4:
            reason = "envelope: must be [topic, id, source, payload]"
        elif reason is None:
            reason = refusal(item, end - start, max_message_bytes)
        items.append(reason or Envelope(frame[start:end], *head))
    return Publish(batch, items)


def refusal(item: Any, size: int, max_message_bytes: int) -> str | None:
    """Why an envelope of the right shape with a valid head is refused, or None."""
    if size > max_message_bytes:
        return f"message of {size} bytes exceeds the limit of {max_message_bytes}"
    if item[0].startswith(topics.PREFIX):
        return "topic: bus.* is reserved for the broker"
    return envelope.payload_problem(item[3])


def encode_publish(batch: int, wires: Sequence[bytes]) -> bytes:
    packer = msgpack.Packer()
    return (
        packer.pack_array_header(len(wires) + 2) + b"\xa3pub" + packer.pack(batch) + b"".join(wires)
    )


def encode(*fields: Any) -> bytes:
    return msgpack.packb(list(fields), use_bin_type=True)


# -- replies ---------------------------------------------------------------------------------

_replies: dict[str, TypeAdapter[Any]] = {
    "ack": TypeAdapter(tuple[Literal["ack"], int, list[int | str]], config=_STRICT),
    "batch": TypeAdapter(tuple[Literal["batch"], int, int, int, list[bytes]], config=_STRICT),
    "seek": TypeAdapter(tuple[Literal["seek"], int, int], config=_STRICT),
    "pong": TypeAdapter(tuple[Literal["pong"], int, dict[str, Any]], config=_STRICT),
    "err": TypeAdapter(tuple[Literal["err"], int | None, str], config=_STRICT),
    "retry": TypeAdapter(
        tuple[Literal["retry"], int, str, Annotated[float, Field(ge=0)]], config=_STRICT
    ),
}


def decode_reply(frame: bytes) -> tuple:
    try:
        reply = msgpack.unpackb(frame, raw=False)
        return _replies[reply[0]].validate_python(tuple(reply))
    except (ValidationError, KeyError, IndexError, TypeError) as err:
        raise ProtocolError(f"bad reply from broker: {err}") from None
    except Exception as err:
        raise ProtocolError(f"undecodable reply from broker: {err}") from None
