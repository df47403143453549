"""A data root that cannot be written at start: one line from every service, the UI included,
and a non-zero exit (never a traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plant import child_env, free_port_pair, homelab
from smallfs import read_only

pytestmark = pytest.mark.slow

SERVICES = {
    "broker": [],
    "observer": [],
    "supervisor": ["--repo", "{repo}"],
    "executor": ["--repo", "{repo}"],
    "agent": ["--node", "here", "--repo", "{repo}"],
    "ui": ["--port", "{ui_port}"],
    "up": ["--no-ui", "--repo", "{repo}"],
}


@pytest.fixture(scope="module")
def locked(tmp_path_factory) -> tuple[Path, Path, str]:
    base = tmp_path_factory.mktemp("readonly")
    root, repo = base / "root", base / "repo"
    repo.mkdir()
    made = homelab("init", "--root", str(root))
    assert made.returncode == 0, made.stderr
    with read_only(root) as how:
        yield root, repo, how


@pytest.mark.parametrize("service", SERVICES)
def test_a_read_only_root_is_one_line_from_every_service(locked, service):
    root, repo, how = locked
    args = [a.format(repo=repo, ui_port=free_port_pair()) for a in SERVICES[service]]
    argv = [sys.executable, "-m", "homelab", service, *args, "--root", str(root)]
    argv += ["--bus", f"tcp://127.0.0.1:{free_port_pair()}"]
    ran = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=child_env())
    lines = [line for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
    assert ran.returncode != 0, lines
    assert len(lines) == 1, f"{how}: {lines}"
    error = "Read-only file system" if how != "chmod -w" else "Permission denied"
    assert lines[0].startswith("homelab: error: ") and error in lines[0], lines[0]
