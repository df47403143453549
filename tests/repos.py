"""Inventory repositories for tests: a real git repository with a command service that
the demo's service script starts, stops and reports on (no Docker, no root)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
    result = subprocess.run(
        ["git", *identity, *args], cwd=repo, capture_output=True, text=True, timeout=20, check=True
    )
    return result.stdout.strip()


def inventory(port: int, folder: Path, desired: str = "running", broken: bool = False) -> str:
    svc = [sys.executable, "-m", "homelab.demo.service"]
    args = ["--name", "svc", "--port", str(port), "--dir", str(folder)]
    return textwrap.dedent(f"""\
        nodes:
          here: {{address: 127.0.0.1, interval: 0.5}}
        services:
          svc:
            node: here
            kind: command
            desired: {desired}
            {"bogus_key: 1" if broken else ""}
            start: {json.dumps([*svc, "start", *args])}
            stop: {json.dumps([*svc, "stop", *args])}
            status: {json.dumps([*svc, "status", *args])}
    """)


def commit(repo: Path, text: str, message: str) -> str:
    (repo / "inventory.yml").write_text(text)
    git(repo, "add", "inventory.yml")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")[:12]
