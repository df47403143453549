"""What a probe returns (a Result), and how it becomes the Observation the agent sends.

A probe never raises for anything the probed world does; it says what happened in a Result,
with ``reason`` turning an exception into a few plain words.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable

from actors import process_group
from actors.domain.observations import FactValue, Observation, Outcome, cut

Facts = dict[str, FactValue]
Clock = Callable[[], float]


@dataclasses.dataclass
class Result:
    outcome: Outcome
    detail: str = ""
    facts: Facts = dataclasses.field(default_factory=dict)

    @property
    def measured(self) -> bool:
        """ok and fail carry a latency; an error or a timeout measured nothing."""
        return self.outcome in ("ok", "fail")


async def observe(
    probe: Awaitable[Result],
    *,
    node: str,
    service: str | None,
    check: str,
    interval: float,
    clock: Clock,
) -> Observation:
    """Awaits the probe, timing it, and returns what it found as an Observation (its facts
    and detail cut to what an Observation takes). A bug in a probe is an error Observation,
    not the agent's end."""
    started = time.monotonic()
    try:
        result = await probe
    except Exception as exc:
        result = Result("error", f"probe failed: {type(exc).__name__}: {exc}")
    facts: Facts = {}
    for key, value in list(result.facts.items())[:32]:
        if not isinstance(value, str | int | float | bool | None):
            value = str(value)
        facts[str(key)[:64]] = cut(value, 200) if isinstance(value, str) else value
    latency = round((time.monotonic() - started) * 1000, 1) if result.measured else None
    return Observation(
        node=node,
        service=service,
        check=check,
        outcome=result.outcome,
        detail=cut(" ".join(result.detail.split())),
        latency_ms=latency,
        facts=facts,
        interval=interval,
        observed_at=clock(),
    )


def reason(exc: BaseException) -> str:
    """A short reason: 'connection refused', not '[Errno 111] Connect call failed (...)'.
    Looks through the causes too (httpx wraps the OSError that says what happened)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate not trusted: {seen.verify_message or seen.reason}"
        if isinstance(seen, ssl.SSLError):  # its errno is OpenSSL's, not the system's
            return f"TLS: {seen.reason or process_group.first_line(str(seen))}"
        if isinstance(seen, socket.gaierror) and seen.strerror:
            return _lower_first(seen.strerror)
        if isinstance(seen, OSError) and seen.errno and seen.errno > 0:
            return _lower_first(os.strerror(seen.errno))
        seen = seen.__cause__ or seen.__context__
    text = process_group.first_line(str(exc))
    return text if text else type(exc).__name__


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
