"""Each service makes sure the broker it is about to use serves its own data root.

A second control plane (another `homelab up`, a test, an old container) may hold the bus
port: a service that published into it, or read its log, would mix two control planes. The
broker tells the root it serves in every ping reply (``root``, ``root_id``); the services
wait for the broker, compare, and refuse in one line if it is another root's.

The agent is the exception: on a remote node its data root is its own (it keeps only its log
there), so it checks only when the broker is on this machine (a loopback endpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus import broker, client
from homelab import layout

log = logging.getLogger("homelab.rootcheck")
LOOPBACK = ("127.", "localhost", "::1", "[::1]")


class WrongBroker(layout.RootError):
    """The broker at the endpoint serves another data root."""


def check(root: Path, endpoint: str, pong: dict[str, Any]) -> None:
    """Raise WrongBroker unless the ping reply ``pong`` is from this root's broker."""
    own = layout.root_id(root)
    if pong.get("root_id") == own:
        return
    theirs = pong.get("root") or "a data root it does not name (an older broker?)"
    mine = str(Path(root).resolve())
    if theirs == mine:  # the same path on another machine or in another container
        theirs = f"{theirs} with root-id {pong.get('root_id')} (this one's is {own})"
    raise WrongBroker(f"the broker at {endpoint} serves {theirs}, not {mine}")


def wait_for_own_broker(
    root: Path, endpoint: str, should_stop: Callable[[], bool], *, agent: bool = False
) -> bool:
    """Wait until the broker at ``endpoint`` answers and check it serves ``root``. Returns
    False if ``should_stop`` turned true first; raises WrongBroker if it is another root's.
    ``agent``: check only a broker on this machine (see the module's docstring)."""
    if agent and not is_loopback(endpoint):
        return True
    waiting = False
    while not should_stop():
        try:
            pong = client.ping(endpoint, timeout=1.0)
        except client.BusUnavailable:
            if not waiting:
                log.info("waiting for the broker at %s", endpoint)
                waiting = True
            continue
        check(root, endpoint, pong)
        return True
    return False


def is_loopback(endpoint: str) -> bool:
    try:
        host, _ = broker.split_endpoint(endpoint)
    except broker.BrokerError:
        return False
    return host.startswith(LOOPBACK)
