"""Probes: one check, or one service's own state, observed once and returned as an Observation.

``run_check`` runs an inventory check (http, tcp, tls, disk, command); ``probe_state`` asks
the service's manager (docker, docker compose, systemctl, a status command) for its state,
under the check id ``state``. Neither raises for anything the probed world does: a refused
connection, a missing CLI, garbage output or a hang each become an Observation with outcome
``fail``, ``error`` or ``timeout`` and a one-line detail. Every network call and subprocess
is bounded in time, every subprocess runs in its own process group that is killed on timeout,
and everything read is capped at 64 KiB. Cancellation is not swallowed.

One module per kind of probe (``http``, ``tcp``, ``tls``, ``disk``, ``command``,
``container``, ``compose``, ``systemd``); each keeps its parsing (``parse_*``) pure and apart
from its I/O, so it is tested without processes. ``result`` turns what a probe found into
the Observation. Probes import ``actors.domain.inventory`` and ``actors.domain.observations``, never an
actor process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from actors.domain.inventory import (
    Check,
    CommandCheck,
    CommandService,
    ComposeService,
    ContainerService,
    DiskCheck,
    HttpCheck,
    Service,
    SystemdService,
    TcpCheck,
    TlsCheck,
    check_id,
)
from actors.domain.observations import Observation
from actors.probes import command, compose, container, disk, http, systemd, tcp, tls
from actors.probes.result import Clock, Result, observe

STATE_TIMEOUT = 10.0  # seconds, for state probes (the services have no timeout of their own)
STATE_CHECK = "state"


async def run_check(
    check: Check,
    *,
    node_name: str,
    node_address: str,
    service: str | None,
    interval: float,
    clock: Clock = time.time,
) -> Observation:
    """Runs one check once. ``service`` is None for a node's own checks."""
    return await observe(
        _check(check, node_address, clock),
        node=node_name,
        service=service,
        check=check_id(check),
        interval=interval,
        clock=clock,
    )


async def probe_state(
    name: str,
    service: Service,
    *,
    node_name: str,
    interval: float,
    clock: Clock = time.time,
    timeout: float | None = None,
) -> Observation | None:
    """The service's own state (check id ``state``); None for kinds that have none (http and
    tcp endpoints, a command service without ``status``). ``timeout`` defaults to
    ``STATE_TIMEOUT``."""
    limit = STATE_TIMEOUT if timeout is None else timeout
    probe: Awaitable[Result]
    match service:
        case ContainerService():
            probe = container.probe(service.container or name, limit)
        case ComposeService():
            probe = compose.probe(service, limit)
        case SystemdService():
            probe = systemd.probe(service.unit, limit)
        case CommandService() if service.status:
            probe = command.state(service.status, limit)
        case _:
            return None
    return await observe(
        probe, node=node_name, service=name, check=STATE_CHECK, interval=interval, clock=clock
    )


async def _check(check: Check, address: str, clock: Clock) -> Result:
    match check:
        case HttpCheck():
            return await http.probe(check)
        case TcpCheck():
            return await tcp.probe(check, address)
        case TlsCheck():
            return await tls.probe(check, address, clock)
        case DiskCheck():
            return await disk.probe(check)
        case CommandCheck():
            return await command.check(check)
    return Result("error", f"unknown check type {type(check).__name__}")
