"""The bootstrap script against a recording stand-in ``docker`` on PATH (no Docker engine)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from standins import StandIn, first_on_path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bootstrap" / "vps-control-plane.sh"
COMPOSE = ["compose", "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml")]


def run_script(tmp_path: Path, exec_status: int = 0, timeout: str = "120"):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = StandIn(bin_dir, "docker")
    docker.on("compose", "version", stdout="Docker Compose version v2.29.0\n")
    docker.on("exec", exit=exec_status)
    env = {
        **os.environ,
        "PATH": first_on_path(bin_dir),
        "HOMELAB_ROOT": str(tmp_path / "root"),
        "HOMELAB_UID": str(os.getuid()),
        "BOOTSTRAP_TIMEOUT": timeout,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    return result, docker.argv()


@pytest.mark.slow
def test_bootstrap_prepares_the_root_builds_starts_and_waits(tmp_path: Path):
    result, calls = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls[0] == ["compose", "version"]
    assert calls[1] == [*COMPOSE, "up", "-d", "--build", "--remove-orphans"]
    assert calls[2] == [
        *COMPOSE,
        "exec",
        "-T",
        "broker",
        "homelab",
        "status",
        "--bus",
        "tcp://127.0.0.1:7001",
    ]
    for folder in ("events", "world", "state", "logs/actions", "actions", "inbox/done"):
        assert (tmp_path / "root" / folder).is_dir()
    assert "ready" in result.stdout


@pytest.mark.slow
def test_bootstrap_gives_up_with_one_clear_line_when_the_stack_never_answers(tmp_path: Path):
    result, calls = run_script(tmp_path, exec_status=1, timeout="1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("bootstrap: error: the stack did not")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_bootstrap_without_docker_says_so(tmp_path: Path):
    env = {**os.environ, "PATH": "/usr/bin:/bin", "HOMELAB_ROOT": str(tmp_path / "r")}
    if Path("/usr/bin/docker").exists():
        pytest.skip("a real docker is installed in /usr/bin")
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "docker is not installed" in result.stderr
