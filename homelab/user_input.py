"""Checks of what an operator types, done before any file or bus is touched.

Each failure is an ``InputError`` with one line that says what is wrong and what would be
right; the CLI prints it and exits 2, like a usage error.
"""

from __future__ import annotations

import json
import math
from typing import Any

from bus import client, envelope, errors

MAX_DEPTH = 32  # nesting of objects and arrays in a payload
MAX_DATA_CHARS = client.BATCH_BYTES  # no longer payload fits in a message anyway
INT_RANGE = (-(2**63), 2**64 - 1)  # what msgpack encodes


class InputError(errors.HomelabError, ValueError):
    """The operator's input is not usable: exit 2, as a usage mistake."""

    exit_code = errors.BAD_INPUT


def payload(text: str) -> dict[str, Any]:
    """``--data``: a JSON object that msgpack can carry exactly and the broker can accept."""
    if len(text) > MAX_DATA_CHARS:
        raise InputError(f"--data: {len(text)} characters, more than a message holds")
    if _depth(text) > MAX_DEPTH:
        raise InputError(f"--data: nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_int64
        )
    except InputError:
        raise
    except ValueError as err:  # JSONDecodeError, or a bad escape
        raise InputError(f"--data: not JSON: {err}") from None
    if not isinstance(value, dict):
        raise InputError("--data: must be a JSON object, e.g. '{\"up\": true}'")
    return value


def envelope_heads(topic: str, msg_id: str | None, source: str) -> None:
    """TOPIC, --id and --source as the broker will check them, plus the reserved sources."""
    try:
        envelope.check_topic(topic)
    except envelope.DecodeError as err:
        raise InputError(f"TOPIC: {err}") from None
    if envelope.is_reserved_source(source):
        raise InputError(
            f"--source: {source!r} is reserved for the control plane's own services "
            "(pick another name, e.g. the tool that sends it)"
        )
    reason = envelope.validate_heads([(topic, msg_id or "x", source)])[0]
    if reason is not None:
        name, _, why = reason.partition(": ")
        flag = {"topic": "TOPIC", "id": "--id", "source": "--source"}.get(name, name)
        raise InputError(f"{flag}: {why}")


def encoded_size(topic: str, msg_id: str | None, source: str, data: dict[str, Any]) -> None:
    """Refuse a message larger than any broker accepts, before connecting to one."""
    try:
        wire = envelope.encode_wire(topic, msg_id or "x" * envelope.MAX_ID_CHARS, source, data)
    except envelope.DecodeError as err:
        raise InputError(f"--data: {err}") from None
    if len(wire) > client.BATCH_BYTES:
        raise InputError(f"--data: {len(wire)} bytes encoded, more than a message holds")


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings: checked before parsing, since
    ``json.loads`` recurses once per level and a deep enough document crashes it."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> float:
    raise InputError(f"--data: {name} is not a JSON number (use null or a string)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"--data: {text[:24]} is too large for a number")
    return value


def _int64(text: str) -> int:
    low, high = INT_RANGE
    value = int(text) if len(text) <= 21 else high + 1  # int() of 4301 digits raises
    if not low <= value <= high:
        raise InputError(f"--data: {text[:24]} does not fit in 64 bits")
    return value
