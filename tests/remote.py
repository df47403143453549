"""A node at home for tests: declared in the plant's repository, enrolled with `homelab keys
add agent NODE`, its agent run as the printed command says, in a folder of its own (the other
machine) with none of the control plane's settings and no repository. Its address is
127.0.0.2, as a tailnet address would be (no network namespaces without root here)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from actors.readmodel import world
from plant import Plant

INTERVAL, MISSED = 0.5, 2  # unknown after about a second of silence
CHECK = {"type": "command", "name": "fine", "argv": ["true"]}
HEALTHY = ("healthy", ["fine"])


def declare_remote_node(plant: Plant, node_name: str) -> None:
    """The repository on the control plane declares the node (its agent never sees it)."""
    node = {"address": "127.0.0.2", "interval": INTERVAL, "missed_intervals": MISSED}
    text = plant.inventory.text().replace(
        "services:\n", f"  {node_name}: {json.dumps({**node, 'checks': [CHECK]})}\nservices:\n", 1
    )
    (plant.repo / "inventory.yml").write_text(text)
    plant.inventory.git("add", "inventory.yml")
    plant.inventory.git("commit", "-q", "-m", "a node at home")


def enroll(plant: Plant, machine: Path, node: str) -> list[str]:
    """`homelab keys add agent NODE` on the control plane; the files it names, copied to
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


def node_health(plant: Plant, name: str) -> tuple[str, list[str]] | None:
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
