"""Inventory repositories for tests: a real git repository whose services are stand-ins
that the demo's service script (``homelab.demo.service``) starts, stops and reports on (no
Docker, no root), all on one node, ``here`` (127.0.0.1).

    inventory = Repository(tmp_path / "repo", [Service("svc", 18081, tmp_path / "services")])
    inventory.commit("svc should run")
    inventory.commit("svc may stop", svc={"desired": "stopped"})

Each entry is ``node``, ``kind: command``, ``desired``, then the keys a change adds, then the
three commands; a change names a service and the keys it sets (``start``, ``checks``, ...).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from homelab.demo import service as demo_service

NODE = "here"
VERBS = ("start", "stop", "status")


@dataclasses.dataclass(frozen=True)
class Service:
    """A stand-in: an HTTP server on ``port`` once started, its pid file in ``folder``."""

    name: str
    port: int
    folder: Path

    def argv(self, verb: str) -> list[str]:
        """The command that does ``verb`` (start, stop, status) to this service."""
        demo = [sys.executable, "-m", "homelab.demo.service", verb, "--name", self.name]
        return [*demo, "--port", str(self.port), "--dir", str(self.folder)]

    def running(self) -> bool:
        return subprocess.run(self.argv("status"), timeout=30).returncode == 0


class Repository:
    """The inventory repository at ``path``: ``inventory.yml`` with the stand-ins, in git."""

    def __init__(self, path: Path, services: Sequence[Service], interval: float = 0.5):
        """``interval``: seconds between the node's probes."""
        self.path, self.interval = path, interval
        self.services = {service.name: service for service in services}
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q")

    def text(self, **changes: Mapping[str, object]) -> str:
        """The inventory, each service's entry with ``changes[name]`` set in it."""
        lines = ["nodes:", f"  {NODE}: {{address: 127.0.0.1, interval: {self.interval}}}"]
        lines.append("services:")
        for name, service in self.services.items():
            entry = {"node": NODE, "kind": "command", "desired": "running"}
            entry |= changes.get(name, {})
            for verb in VERBS:
                entry.setdefault(verb, service.argv(verb))
            lines.append(f"  {name}:")
            lines += [f"    {key}: {json.dumps(value)}" for key, value in entry.items()]
        return "\n".join(lines) + "\n"

    def write(self, **changes: Mapping[str, object]) -> str:
        """Write the inventory (not committed); the text written."""
        text = self.text(**changes)
        (self.path / "inventory.yml").write_text(text)
        return text

    def commit(self, message: str, **changes: Mapping[str, object]) -> str:
        """Write and commit the inventory; the commit's revision (12 hex digits)."""
        self.write(**changes)
        self.git("add", "inventory.yml")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")[:12]

    def revision(self) -> str | None:
        """The last commit's revision (12 hex digits), None before the first."""
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=self.path,
            capture_output=True,
            text=True,
            timeout=20,
        )
        return found.stdout.strip()[:12] or None

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def stop_services(self) -> None:
        """Stop every stand-in that runs, whoever started it."""
        for folder in {service.folder for service in self.services.values()}:
            demo_service.stop_all(folder)


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
    result = subprocess.run(
        ["git", *identity, *args], cwd=repo, capture_output=True, text=True, timeout=20, check=True
    )
    return result.stdout.strip()
