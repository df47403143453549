"""An agent on another machine, with no checkout of the repository: enrolled with `homelab
keys add agent far`, given the two files it prints, it connects to the broker on another
address (127.0.0.2 stands for the tailnet: this machine cannot make network namespaces
without root), follows its node's slice of the desired state, and its node appears in the
world with the checks the repository declares; stopped, the node turns unknown; started
again (from the slice it kept on disk), it is back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actors.readmodel import world
from plant import Plant, free_port_pair, wait_until

pytestmark = pytest.mark.slow

NODE, OTHER = "far", "farther"  # each test its own: the session shares one key folder
INTERVAL, MISSED = 0.5, 2  # unknown after about a second of silence
CHECK = {"type": "command", "name": "fine", "argv": ["true"]}
HEALTHY = ("healthy", ["fine"])


def declare_remote_node(plant: Plant, node_name: str = NODE) -> None:
    """The repository on the control plane declares node ``far`` (the agent never sees it)."""
    node = {"address": "127.0.0.2", "interval": INTERVAL, "missed_intervals": MISSED}
    text = plant.inventory.text().replace(
        "services:\n", f"  {node_name}: {json.dumps({**node, 'checks': [CHECK]})}\nservices:\n", 1
    )
    (plant.repo / "inventory.yml").write_text(text)
    plant.inventory.git("add", "inventory.yml")
    plant.inventory.git("commit", "-q", "-m", "a node at home")


def enroll(plant: Plant, machine: Path, node: str = NODE) -> list[str]:
    """`homelab keys add agent far` on the control plane; the files it names, copied to
    the other machine (mode kept, as scp -p would); the command it says to run there."""
    added = plant.homelab("keys", "add", "agent", node)
    assert added.returncode == 0, added.stderr
    lines = added.stdout.splitlines()
    for line in lines:
        if line.startswith("  /"):
            shutil.copy2(line.strip(), machine)
    [command] = [line.split() for line in lines if line.strip().startswith("homelab agent")]
    return command


def start_remote_agent(command: list[str], machine: Path, bus: str) -> subprocess.Popen:
    """The command as printed, with the broker's address and a root filled in, run in the
    machine's folder with none of the control plane's settings."""
    argv = [a.replace("BROKER:7001", bus.removeprefix("tcp://")) for a in command]
    argv = [a if a != "DIR" else str(machine / "state") for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
    env["HOMELAB_STATS_INTERVAL"] = "0.5"
    return subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=machine,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=open(machine / "agent.out", "ab"),  # noqa: SIM115 (the child keeps it)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def node_health(plant: Plant, name: str = NODE) -> tuple[str, list[str]] | None:
    """The node's health as `homelab status --json` shows it, and its checks that passed."""
    shown = plant.homelab("status", "--json")
    nodes = json.loads(shown.stdout).get("nodes", {}) if shown.stdout.startswith("{") else {}
    if name not in nodes:
        return None
    [node] = [n for n in world.read(plant.root).nodes if n.name == name] or [None]
    passed = [cid for cid, c in node.checks.items() if c.outcome == "ok"] if node else []
    return nodes[name]["health"], passed


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_a_remote_agent_without_a_repository_reports_goes_unknown_and_comes_back(tmp_path):
    plant = Plant(tmp_path, run=("broker", "observer", "supervisor"))
    remote = f"tcp://127.0.0.2:{free_port_pair()}"
    plant.env["HOMELAB_LISTEN"] = f"{plant.bus},{remote}"
    declare_remote_node(plant)
    machine = tmp_path / "far-machine"
    machine.mkdir()
    with plant:
        command = enroll(plant, machine)
        assert "--repo" not in command
        agent = start_remote_agent(command, machine, remote)
        try:
            wait_until(
                lambda: node_health(plant) == HEALTHY,
                60,
                "the remote node in the world with its check",
            )
            stop(agent)
            silent = time.monotonic()
            wait_until(lambda: (node_health(plant) or ("",))[0] == "unknown", 30, "unknown")
            assert time.monotonic() - silent < 15
            kept = json.loads(
                (machine / "state" / "state" / "agent" / f"desired-{NODE}.json").read_text()
            )
            assert kept["slice"]["definition"]["checks"] == [{**CHECK, "timeout": 10.0}]
            agent = start_remote_agent(command, machine, remote)
            wait_until(lambda: node_health(plant) == HEALTHY, 60, "back")
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
