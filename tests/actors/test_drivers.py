"""Driver command lines: exact argv per kind and action, ssh for remote nodes, refusals."""

from __future__ import annotations

import shlex

import pytest

from actors.domain import drivers
from actors.domain.inventory import Inventory

INVENTORY = Inventory.model_validate(
    {
        "nodes": {
            "vps": {"address": "127.0.0.1"},
            "nas": {"address": "nas.tail1234.ts.net", "ssh": {"user": "homelab", "port": 2222}},
        },
        "services": {
            "web": {"node": "vps", "kind": "compose", "project": "web", "directory": "/srv/web"},
            "db": {"node": "vps", "kind": "container", "container": "postgres"},
            "dns": {"node": "nas", "kind": "systemd", "unit": "unbound.service"},
            "demo": {
                "node": "vps",
                "kind": "command",
                "start": ["/opt/demo", "up"],
                "stop": ["/opt/demo", "down"],
                "status": ["/opt/demo", "status"],
            },
            "router": {
                "node": "vps",
                "kind": "http",
                "checks": [{"type": "http", "url": "http://192.0.2.1/"}],
            },
        },
    }
)


def cmds(name: str, action: str) -> list[list[str]]:
    service = INVENTORY.services[name]
    return drivers.commands(name, service, action, INVENTORY.nodes[service.node])


@pytest.mark.parametrize(
    ("name", "action", "expected"),
    [
        (
            "web",
            "start",
            [
                [
                    "docker",
                    "compose",
                    "--project-name",
                    "web",
                    "--project-directory",
                    "/srv/web",
                    "up",
                    "--detach",
                ]
            ],
        ),
        (
            "web",
            "pull_up",
            [
                [
                    "docker",
                    "compose",
                    "--project-name",
                    "web",
                    "--project-directory",
                    "/srv/web",
                    "pull",
                ],
                [
                    "docker",
                    "compose",
                    "--project-name",
                    "web",
                    "--project-directory",
                    "/srv/web",
                    "up",
                    "--detach",
                ],
            ],
        ),
        ("db", "restart", [["docker", "restart", "--", "postgres"]]),
        ("demo", "restart", [["/opt/demo", "down"], ["/opt/demo", "up"]]),
        (
            "dns",
            "start",
            [
                [
                    "ssh",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=10",
                    "-o",
                    "ServerAliveInterval=10",
                    "-p",
                    "2222",
                    "-l",
                    "homelab",
                    "--",
                    "nas.tail1234.ts.net",
                    "systemctl start -- unbound.service",
                ]
            ],
        ),
    ],
)
def test_each_driver_builds_the_exact_argv(name, action, expected):
    assert cmds(name, action) == expected


@pytest.mark.parametrize(
    ("name", "action"), [("router", "start"), ("db", "pull_up"), ("dns", "reboot"), ("web", "rm")]
)
def test_an_action_no_driver_accepts_is_refused(name, action):
    with pytest.raises(drivers.NotAllowed):
        cmds(name, action)


def test_an_argument_that_could_be_an_option_or_shell_is_refused():
    from actors.domain.inventory import ContainerService, Node

    sneaky = ContainerService.model_construct(
        kind="container",
        node="vps",
        container="x; rm -rf /",
        checks=[],
        policy="approve",
        actions={},
    )
    with pytest.raises(drivers.NotAllowed):
        drivers.commands("x", sneaky, "start", Node(address="127.0.0.1"))
    dash = ContainerService.model_construct(
        kind="container",
        node="vps",
        container="--privileged",
        checks=[],
        policy="approve",
        actions={},
    )
    with pytest.raises(drivers.NotAllowed):
        drivers.commands("x", dash, "start", Node(address="127.0.0.1"))


def test_the_inventory_refuses_names_that_could_be_options():
    with pytest.raises(ValueError):
        Inventory.model_validate({"nodes": {"n": {"address": "-oProxyCommand=x"}}})


def test_the_command_text_is_what_a_shell_would_need_typed():
    commands = [["/bin/sh", "-c", "echo cannot start demo-web: port in use >&2; exit 7"], ["true"]]
    text = drivers.command_text(commands)
    assert text == "/bin/sh -c 'echo cannot start demo-web: port in use >&2; exit 7' && true"
    assert [shlex.split(part) for part in text.split(" && ")] == commands
