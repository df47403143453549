"""Which keys this process speaks to the bus with, made on the control plane when missing.

``homelab init`` and ``up`` make the broker's key pair and one for each local service and
for the CLI (``tool:cli``), without a question; each service, and each CLI command that
talks to the broker, calls ``use`` with its role first. ``HOMELAB_CURVE=off`` turns CURVE
off: every process that would use it says so, at every start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bus import keys
from bus.dataroot import DataRoot
from homelab.settings import Settings

log = logging.getLogger("homelab.keys")
LOCAL_SERVICES = ("observer", "supervisor", "executor", "ui")
CLI = "tool:cli"
OFF_WARNING = (
    "CURVE is off (HOMELAB_CURVE=off): the bus neither authenticates nor encrypts, and "
    "anyone who reaches its ports may publish as anyone"
)


def folder(settings: Settings) -> Path:
    return settings.keys or DataRoot(settings.root).keys


def folder_if_on(settings: Settings) -> Path | None:
    """The key folder, where new keys are allowlisted; None when CURVE is off (none made)."""
    return None if settings.curve == "off" else folder(settings)


def local_roles(node: str | None = None) -> list[str]:
    """The roles of what ``homelab up`` runs here (and the CLI's)."""
    roles = [f"service:{name}" for name in LOCAL_SERVICES] + [CLI]
    return roles + ([f"agent:{node}"] if node else [])


def prepare(settings: Settings, node: str | None = None) -> list[str]:
    """Make the control plane's keys that are missing; what was made. Nothing when off."""
    if settings.curve == "off":
        return []
    made = keys.ensure(folder(settings), local_roles(node))
    if made:
        log.info("bus keys made in %s: %s", folder(settings), ", ".join(made))
    return made


def use(settings: Settings, role: str) -> keys.Credentials | None:
    """Connect this process's bus clients as ``role`` from now on; made if missing and
    this is the control plane (its keys folder holds the broker's secret key). KeyProblem
    (one line) when they cannot be had; None (and the warning) when CURVE is off."""
    if settings.curve == "off":
        log.warning("%s", OFF_WARNING)
        keys.use(None)
        return None
    where = folder(settings)
    try:
        keys.check_role(role)
    except ValueError as err:
        raise keys.KeyProblem(str(err)) from None
    if settings.key is not None or settings.broker_key is not None:
        credentials = _from_files(settings, role)
        keys.use(credentials)
        return credentials
    try:
        credentials = keys.client(where, role)
    except keys.KeyProblem:
        if not _control_plane(where):
            raise
        keys.ensure(where, [role])
        credentials = keys.client(where, role)
    keys.use(credentials)
    return credentials


def _from_files(settings: Settings, role: str) -> keys.Credentials:
    """A machine without the key folder: the two files ``homelab keys add`` said to copy."""
    if settings.key is None or settings.broker_key is None:
        given, missing = ("key", "broker key") if settings.key else ("broker key", "key")
        raise keys.KeyProblem(
            f"a {given} file without a {missing} file: give both (--key and --broker-key, "
            "or HOMELAB_KEY and HOMELAB_BROKER_KEY)"
        )
    return keys.from_files(settings.key, settings.broker_key, role)


def server(settings: Settings) -> keys.Server | None:
    """The broker's keys and allowlist (made if missing); None when CURVE is off."""
    if settings.curve == "off":
        log.warning("%s", OFF_WARNING)
        return None
    where = folder(settings)
    keys.ensure(where)
    return keys.Server.load(where)


def _control_plane(where: Path) -> bool:
    """A folder this process may add keys to: the control plane's, once the broker's key
    pair is there (only the broker, ``init`` and ``up`` make that: a service that starts
    first waits for it, as it waits for the broker)."""
    return keys.KeyDir(where).broker_secret.exists()
