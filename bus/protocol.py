"""Request and reply frames between clients (DEALER) and the broker (ROUTER).

Every frame is one msgpack array whose first element names it. A publish frame carries its
envelopes inline, ``["pub", batch, env1, env2, ...]``; the broker decodes it with a streaming
unpacker so it never builds the payloads, only checks that each is a well-formed map.
See ``docs/protocol.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgpack
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from bus import envelope

MAX_FRAME_BYTES = 8 * 1024 * 1024
MAX_FETCH = 5000
_MAP_MARKERS = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_STRICT = ConfigDict(strict=True)


class ProtocolError(ValueError):
    """A frame that is not a valid request or reply."""


@dataclasses.dataclass(frozen=True, slots=True)
class Envelope:
    """One accepted wire envelope from a publish frame (its bytes kept as they came)."""

    wire: bytes
    topic: str
    id: str
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class Publish:
    batch: int
    items: list[Envelope | str]  # a reason string for each envelope that was refused


Prefixes = Annotated[
    list[Annotated[str, Field(max_length=envelope.MAX_TOPIC_CHARS)]], Field(max_length=64)
]
_requests = {
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
    if not isinstance(request, list) or not request or request[0] not in _requests:
        raise ProtocolError("unknown request")
    try:
        return _requests[request[0]].validate_python(tuple(request))
    except ValidationError as err:
        raise ProtocolError(f"bad {request[0]} request: {err.errors()[0]['msg']}") from None


def _is_publish(frame: bytes) -> bool:
    if not frame:
        return False
    first = frame[0]
    header = 1 if 0x90 <= first <= 0x9F else 3 if first == 0xDC else 5 if first == 0xDD else 0
    return header > 0 and frame[header : header + 4] == b"\xa3pub"


def _decode_publish(frame: bytes, max_message_bytes: int) -> Publish:
    """One streaming pass: heads are read, payloads only skipped (checked, never built)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_FRAME_BYTES)
    unpacker.feed(frame)
    spans, heads = [], []
    try:
        count = unpacker.read_array_header() - 2
        unpacker.skip()  # "pub"
        batch = unpacker.unpack()
        for _ in range(count):
            start = unpacker.tell()
            if unpacker.read_array_header() != 4:
                raise ValueError("an envelope must be [topic, id, source, payload]")
            heads.append((unpacker.unpack(), unpacker.unpack(), unpacker.unpack()))
            payload_at = unpacker.tell()
            unpacker.skip()
            spans.append((start, payload_at, unpacker.tell()))
    except Exception as err:
        raise ProtocolError(f"bad publish frame: {err}") from None
    if not isinstance(batch, int) or count < 1:
        raise ProtocolError("bad publish frame: needs a batch number and one envelope or more")
    if unpacker.tell() != len(frame):
        raise ProtocolError("bad publish frame: trailing bytes")
    items: list[Envelope | str] = []
    for (start, payload_at, end), head, reason in zip(
        spans, heads, envelope.validate_heads(heads), strict=True
    ):
        if reason is None and end - start > max_message_bytes:
            reason = f"message of {end - start} bytes exceeds the limit of {max_message_bytes}"
        if reason is None and frame[payload_at] not in _MAP_MARKERS:
            reason = "payload: must be a map"
        items.append(reason or Envelope(frame[start:end], *head))
    return Publish(batch, items)


def encode_publish(batch: int, wires: Sequence[bytes]) -> bytes:
    packer = msgpack.Packer()
    return (
        packer.pack_array_header(len(wires) + 2) + b"\xa3pub" + packer.pack(batch) + b"".join(wires)
    )


def encode(*fields: Any) -> bytes:
    return msgpack.packb(list(fields), use_bin_type=True)


# -- replies ---------------------------------------------------------------------------------

_replies = {
    "ack": TypeAdapter(tuple[Literal["ack"], int, list[int | str]], config=_STRICT),
    "batch": TypeAdapter(tuple[Literal["batch"], int, int, int, list[bytes]], config=_STRICT),
    "seek": TypeAdapter(tuple[Literal["seek"], int, int], config=_STRICT),
    "pong": TypeAdapter(tuple[Literal["pong"], int, dict[str, Any]], config=_STRICT),
    "err": TypeAdapter(tuple[Literal["err"], int | None, str], config=_STRICT),
}


def decode_reply(frame: bytes) -> tuple:
    try:
        reply = msgpack.unpackb(frame, raw=False)
        return _replies[reply[0]].validate_python(tuple(reply))
    except (ValidationError, KeyError, IndexError, TypeError) as err:
        raise ProtocolError(f"bad reply from broker: {err}") from None
    except Exception as err:
        raise ProtocolError(f"undecodable reply from broker: {err}") from None
