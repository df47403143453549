"""What each action runs: argv lists from allowlisted drivers, built from validated names.

Pure: this module only builds command lines (``commands``); ``runner`` spawns them. A driver
declares the action types it accepts; anything else is refused before any process starts.
Remote nodes are reached with ``ssh -o BatchMode=yes``; ssh hands the remote side one string,
so each argument is quoted with ``shlex.quote`` (the names are validated already; quoting is
the second line of defence, not the first).
"""

from __future__ import annotations

import re
import shlex

from actors.domain.inventory import (
    CommandService,
    ComposeService,
    ContainerService,
    Node,
    Service,
    SystemdService,
)

SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=10")
ACTIONS: dict[str, tuple[str, ...]] = {
    "compose": ("start", "restart", "stop", "pull_up"),
    "container": ("start", "restart", "stop"),
    "systemd": ("start", "restart", "stop"),
    "command": ("start", "restart", "stop"),
}
_SAFE = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9_.:@/+=-]*$")


class NotAllowed(ValueError):
    """An action no driver accepts, or an argument that could be read as an option."""


def command_text(commands: list[list[str]] | tuple[tuple[str, ...], ...]) -> str:
    """The commands as a shell would need them typed (each argument quoted where it must
    be, ``&&`` between them): how every page and command shows what an action runs."""
    return " && ".join(shlex.join(argv) for argv in commands)


def accepts(service: Service, action: str) -> bool:
    return action in ACTIONS.get(service.kind, ())


def commands(name: str, service: Service, action: str, node: Node) -> list[list[str]]:
    """The argv lists that carry out ``action`` on ``service``, in order, on its node."""
    if not accepts(service, action):
        raise NotAllowed(f"no driver runs {action!r} for a {service.kind} service")
    local = _local(name, service, action)
    if any(not argv or argv[0].startswith("-") for argv in local):
        raise NotAllowed(f"refusing a command that starts with an option: {local!r}")
    return local if node.ssh is None else [_over_ssh(argv, node) for argv in local]


def _local(name: str, service: Service, action: str) -> list[list[str]]:
    match service:
        case ComposeService():
            base = ["docker", "compose", "--project-name", _value(service.project)]
            if service.directory:
                base += ["--project-directory", _value(service.directory)]
            return {
                "start": [[*base, "up", "--detach"]],
                "restart": [[*base, "restart"]],
                "stop": [[*base, "stop"]],
                "pull_up": [[*base, "pull"], [*base, "up", "--detach"]],
            }[action]
        case ContainerService():
            return [["docker", action, "--", _value(service.container or name)]]
        case SystemdService():
            return [["systemctl", action, "--", _value(service.unit)]]
        case CommandService():
            return {
                "start": [list(service.start)],
                "stop": [list(service.stop)],
                "restart": [list(service.stop), list(service.start)],
            }[action]
    raise NotAllowed(f"no driver for a {service.kind} service")


def _value(value: str) -> str:
    """A name from the inventory, placed in a driver's argv: a plain token, never an option.
    (The inventory's patterns already ensure this; a model built around them must not.)"""
    if not _SAFE.match(value):
        raise NotAllowed(f"refusing argument {value!r}")
    return value


def _over_ssh(argv: list[str], node: Node) -> list[str]:
    assert node.ssh is not None
    login = ["-l", node.ssh.user] if node.ssh.user else []
    return [
        "ssh",
        *SSH_OPTIONS,
        "-p",
        str(node.ssh.port),
        *login,
        "--",
        node.address,
        shlex.join(argv),
    ]


def target(name: str, service: Service) -> str:
    """What an action acts on, for people: ``compose:web``, ``unit:nginx.service``..."""
    match service:
        case ComposeService():
            return f"compose:{service.project}"
        case ContainerService():
            return f"container:{service.container or name}"
        case SystemdService():
            return f"unit:{service.unit}"
    return f"{service.kind}:{name}"
