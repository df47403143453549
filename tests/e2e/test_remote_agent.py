"""An agent on another machine, with no checkout of the repository: enrolled with `homelab
keys add agent far`, given the two files it prints, it connects to the broker on another
address (127.0.0.2 stands for the tailnet: this machine cannot make network namespaces
without root), follows its node's slice of the desired state, and its node appears in the
world with the checks the repository declares; stopped, the node turns unknown; started
again (from the slice it kept on disk), it is back."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from remote import (
    CHECK,
    HEALTHY,
    declare_remote_node,
    enroll,
    node_health,
    start_remote_agent,
    stop,
)

from actors.readmodel import world
from plant import Plant, free_port_pair, wait_until

pytestmark = pytest.mark.slow

NODE, OTHER = "far", "farther"  # each test its own: the session shares one key folder


def test_a_remote_agent_without_a_repository_reports_goes_unknown_and_comes_back(tmp_path):
    plant = Plant(tmp_path, run=("broker", "observer", "supervisor"))
    remote = f"tcp://127.0.0.2:{free_port_pair()}"
    plant.env["HOMELAB_LISTEN"] = f"{plant.bus},{remote}"
    declare_remote_node(plant, NODE)
    machine = tmp_path / "far-machine"
    machine.mkdir()
    with plant:
        command = enroll(plant, machine, NODE)
        assert "--repo" not in command
        agent = start_remote_agent(command, machine, remote)
        try:
            wait_until(
                lambda: node_health(plant, NODE) == HEALTHY,
                60,
                "the remote node in the world with its check",
            )
            stop(agent)
            silent = time.monotonic()
            wait_until(lambda: (node_health(plant, NODE) or ("",))[0] == "unknown", 30, "unknown")
            assert time.monotonic() - silent < 15
            kept = json.loads(
                (machine / "state" / "state" / "agent" / f"desired-{NODE}.json").read_text()
            )
            assert kept["slice"]["definition"]["checks"] == [{**CHECK, "timeout": 10.0}]
            agent = start_remote_agent(command, machine, remote)
            wait_until(lambda: node_health(plant, NODE) == HEALTHY, 60, "back")
        finally:
            stop(agent)
    said = (machine / "agent.out").read_text(errors="replace")
    assert f"desired state of {NODE} from" in said  # the second start began from its slice
    assert not (machine / "state" / "events").exists()  # no data root on the node


def test_rotating_a_remote_agents_key_shuts_the_old_one_out_and_keeps_the_node(tmp_path):
    plant = Plant(tmp_path, run=("broker", "observer", "supervisor"))
    declare_remote_node(plant, OTHER)
    machine = tmp_path / "other-machine"
    machine.mkdir()
    with plant:
        command = enroll(plant, machine, OTHER)
        agent = start_remote_agent(command, machine, plant.bus)
        try:
            wait_until(lambda: node_health(plant, OTHER) == HEALTHY, 60, "the node")
            rotated = plant.homelab("keys", "rotate", f"agent:{OTHER}")
            assert rotated.returncode == 0, rotated.stderr
            wait_until(lambda: (node_health(plant, OTHER) or ("",))[0] == "unknown", 30, "shut out")
            assert agent.poll() is None  # it goes on trying, and says why in its log
            stop(agent)
            for line in rotated.stdout.splitlines():
                if line.startswith("  /"):
                    shutil.copy2(line.strip(), machine)  # the new secret key
            agent = start_remote_agent(command, machine, plant.bus)
            wait_until(lambda: node_health(plant, OTHER) == HEALTHY, 60, "back with the new key")
        finally:
            stop(agent)
    nodes = [n.name for n in world.read(plant.root).nodes]
    assert nodes.count(OTHER) == 1
