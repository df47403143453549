"""The bootstrap script as an operator runs it, with recording stand-ins for ``docker``,
``curl`` and ``tailscale`` on PATH (no Docker engine). PATH holds the stand-ins and links to
the few system tools the script uses, nothing else, so "docker is not installed" is real."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from standins import StandIn, recorded

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bootstrap" / "vps-control-plane.sh"
SYSTEM_TOOLS = ("dirname", "cat", "id", "stat", "install", "date", "sleep")
SUMMARY = ["-fsS", "--max-time", "5", "-o", "/dev/null", "http://localhost:8080/summary"]
SUBNETS = "{{range .IPAM.Config}}{{.Subnet}},{{end}}"
FOLDERS = ("events", "world", "state", "logs", "logs/actions", "actions", "inbox/done")


@dataclasses.dataclass
class Host:
    """One machine as the script sees it: stand-ins, a settings file, a homelab repository."""

    tmp: Path
    bin: Path
    docker: StandIn
    curl: StandIn
    tailscale: StandIn
    env_file: Path
    inventory: Path
    root: Path
    ssh: Path
    timeout: str = "0"

    @property
    def compose(self) -> list[str]:
        return [
            "compose",
            "--project-directory",
            str(REPO),
            "--env-file",
            str(self.env_file),
            "-f",
            str(REPO / "docker-compose.yml"),
        ]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("HOMELAB_", "NPM_")) and k != "BOOTSTRAP_TIMEOUT"
        }
        env.update(
            PATH=f"{self.bin}{os.pathsep}{self.tmp / 'system'}",
            HOMELAB_ENV_FILE=str(self.env_file),
            HOMELAB_ROOT=str(self.root),
            HOMELAB_SSH_DIR=str(self.ssh),
            HOMELAB_UID=str(os.getuid()),
            HOMELAB_GID=str(os.getgid()),
            BOOTSTRAP_TIMEOUT=self.timeout,
        )
        bash = shutil.which("bash")
        assert bash is not None
        return subprocess.run(
            [bash, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
        )

    def calls(self) -> list[list[str]]:
        """Every stand-in call in order, as ``[tool, *argv]``."""
        return [[call["tool"], *call["argv"]] for call in recorded(self.bin)]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    system = tmp_path / "system"
    system.mkdir()
    for name in SYSTEM_TOOLS:
        found = shutil.which(name)
        assert found, f"{name} is needed by the script"
        (system / name).symlink_to(found)
    if os.getuid() != 0:  # the script runs `sudo install ...` when it is not root
        sudo = system / "sudo"
        sudo.write_text('#!/bin/sh\nexec "$@"\n')
        sudo.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = StandIn(bin_dir, "docker")  # every call succeeds unless a test says otherwise
    docker.on("network", "inspect", stdout="172.20.0.0/16,")
    inventory = tmp_path / "homelab-repo"
    inventory.mkdir()
    subprocess.run(["git", "init", "-q", str(inventory)], check=True, timeout=30)
    env_file = tmp_path / ".env"
    env_file.write_text(f"# settings\nHOMELAB_REPO_DIR={inventory}\nNPM_NETWORK=npm_default\n")
    return Host(
        tmp=tmp_path,
        bin=bin_dir,
        docker=docker,
        curl=StandIn(bin_dir, "curl"),
        tailscale=StandIn(bin_dir, "tailscale"),
        env_file=env_file,
        inventory=inventory,
        root=tmp_path / "opt-homelab",
        ssh=tmp_path / "homelab-ssh",
    )


def checks(host: Host) -> list[list[str]]:
    return [
        ["docker", "compose", "version"],
        ["docker", "info"],
        ["docker", "network", "inspect", "-f", SUBNETS, "npm_default"],
        ["tailscale", "status"],
    ]


@pytest.mark.slow
def test_first_run_checks_prepares_the_root_builds_starts_waits_and_says_what_next(host: Host):
    result = host.run()

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert host.calls() == [
        *checks(host),
        ["docker", *host.compose, "up", "-d", "--build", "--remove-orphans"],
        ["curl", *SUMMARY],
    ]
    for folder in ("", *FOLDERS):
        path = host.root / folder
        assert path.is_dir(), folder
        assert path.stat().st_uid == os.getuid() and path.stat().st_gid == os.getgid()
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert stat.S_IMODE(host.ssh.stat().st_mode) == 0o700
    out = result.stdout
    assert "the UI believes forwarded addresses from 172.20.0.0/16" in out
    assert "UI on this host:  http://localhost:8080" in out
    assert f"cd {REPO} && docker compose exec ui homelab ui add-user NAME" in out
    for field in (
        "Forward Hostname / IP:  control-plane-ui",
        "Forward Port:           8080",
        "Scheme:                 http",
        "Websockets Support:     on",
        "Block Common Exploits:  on",
    ):
        assert field in out


@pytest.mark.slow
def test_second_run_upgrades_the_same_way_and_leaves_the_data_as_it_was(host: Host):
    assert host.run().returncode == 0
    data = {
        "events/2026-11-28/00000000000000000001.log": b"\x00record bytes\xff",
        "world/nodes.json": b'{"vps": {"health": "healthy"}}\n',
        "actions/a-1c9e000000000000.json": b'{"state": "succeeded"}\n',
        "ui/operators.json": b'{"oskar": "$argon2id$..."}\n',
        "state/observer_checkpoint.json": b"{}\n",
    }
    for name, content in data.items():
        (host.root / name).parent.mkdir(parents=True, exist_ok=True)
        (host.root / name).write_bytes(content)
    (host.root / "ui").chmod(0o700)
    (host.root / "ui/operators.json").chmod(0o600)
    before = {p: (p.stat().st_mode, p.stat().st_mtime_ns) for p in host.root.rglob("*")}
    (host.bin / "calls.jsonl").unlink()

    result = host.run()

    assert result.returncode == 0, result.stderr
    assert "upgrading: rebuilding the images and recreating what changed" in result.stdout
    assert host.calls() == [
        *checks(host),
        ["docker", *host.compose, "up", "-d", "--build", "--remove-orphans"],
        ["curl", *SUMMARY],
    ]
    for name, content in data.items():
        assert (host.root / name).read_bytes() == content, name
    assert {p: (p.stat().st_mode, p.stat().st_mtime_ns) for p in host.root.rglob("*")} == before


def _no_docker(host: Host) -> None:
    for name in ("docker", "docker.plan.json"):
        (host.bin / name).unlink()


def _no_setting(host: Host) -> None:
    host.env_file.write_text("NPM_NETWORK=npm_default\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("breaks", "says"),
    [
        (_no_docker, "docker is not installed"),
        (
            lambda h: h.docker.on("compose", "version", exit=1),
            "the Docker Compose plugin is missing",
        ),
        (lambda h: h.docker.on("info", exit=1), "cannot reach the Docker daemon"),
        (lambda h: h.env_file.unlink(), "no settings file"),
        (_no_setting, "HOMELAB_REPO_DIR is not set in"),
        (
            lambda h: h.env_file.write_text(f"HOMELAB_REPO_DIR={h.tmp / 'nowhere'}\n"),
            "is not a directory",
        ),
        (lambda h: shutil.rmtree(h.inventory / ".git"), "is not a git repository"),
        (
            lambda h: h.docker.on("network", "inspect", exit=1, first=True),
            "the Docker network npm_default (NPM_NETWORK) does not exist",
        ),
    ],
    ids=["docker", "compose", "daemon", "env-file", "repo-unset", "repo-missing", "not-git", "npm"],
)
def test_each_missing_prerequisite_is_one_line_and_nothing_is_changed(host: Host, breaks, says):
    breaks(host)

    result = host.run()

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bootstrap: error: ") and says in lines[0]
    assert not host.root.exists() and not host.ssh.exists()
    assert not [call for call in host.calls() if "up" in call or call[0] == "curl"]


@pytest.mark.slow
@pytest.mark.parametrize("tailscale", ["down", "absent"])
def test_tailscale_not_up_is_a_warning_and_the_stack_still_starts(host: Host, tailscale: str):
    if tailscale == "down":
        host.tailscale.plan(stderr="Tailscale is stopped.\n", exit=1)
    else:
        for name in ("tailscale", "tailscale.plan.json"):
            (host.bin / name).unlink()

    result = host.run()

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bootstrap: warning: ")
    assert "tailscale" in lines[0].lower()
    assert ["docker", *host.compose, "up", "-d", "--build", "--remove-orphans"] in host.calls()


@pytest.mark.slow
def test_a_stack_that_never_answers_ends_with_the_failing_services_last_log_lines(host: Host):
    host.curl.plan(stderr="curl: (7) Failed to connect to localhost port 8080\n", exit=7)
    host.docker.on(
        "ps",
        "--all",
        "--format",
        stdout="broker running healthy\nui restarting \nagent running healthy\n",
    )
    host.docker.on(
        "ps", "--all", stdout="NAME  SERVICE  STATUS\ncontrol-plane-ui  ui  Restarting\n"
    )
    host.docker.on("logs", stdout="ui-1  | homelab: error: no data root at /opt/homelab\n")
    host.timeout = "2"

    started = time.monotonic()
    result = host.run()

    assert result.returncode == 1
    assert time.monotonic() - started < 20
    lines = result.stderr.splitlines()
    assert lines[-1] == (
        "bootstrap: error: the UI did not answer http://localhost:8080/summary within 2s;"
        " not healthy: ui (docker compose logs ui)"
    )
    assert "control-plane-ui  ui  Restarting" in result.stderr
    assert "--- the last lines of ui:" in lines
    assert "ui-1  | homelab: error: no data root at /opt/homelab" in lines
    calls = host.calls()
    assert calls.count(["curl", *SUMMARY]) >= 2  # it kept trying until the deadline
    logs = [call for call in calls if "logs" in call]
    assert logs == [["docker", *host.compose, "logs", "--no-color", "--tail", "40", "ui"]]


@pytest.mark.slow
def test_dry_run_says_what_it_would_do_and_changes_nothing(host: Host):
    result = host.run("--dry-run")

    assert result.returncode == 0, result.stderr
    assert not host.root.exists() and not host.ssh.exists()
    assert host.calls() == checks(host)  # the read-only checks, no `up`, no waiting
    assert f"would run: install -d -m 0755 -o {os.getuid()}" in result.stdout
    assert "would run: docker compose" in result.stdout
    assert "up -d --build --remove-orphans" in result.stdout
    assert result.stdout.rstrip().endswith("bootstrap: dry run: nothing was changed")


@pytest.mark.slow
def test_help_and_an_unknown_option(host: Host):
    help_text = host.run("--help")
    assert help_text.returncode == 0 and help_text.stdout.startswith("Usage: ")
    assert "--dry-run" in help_text.stdout and host.calls() == []
    wrong = host.run("--upgrade")
    assert wrong.returncode == 2
    assert wrong.stderr == "bootstrap: error: unknown option --upgrade (see --help)\n"


@pytest.mark.slow
def test_a_relative_repository_path_is_read_from_the_checkout_as_compose_reads_it(host: Host):
    host.env_file.write_text(f"HOMELAB_REPO_DIR={os.path.relpath(host.inventory, REPO)}\n")
    result = host.run()
    assert result.returncode == 0, result.stderr
    host.env_file.write_text("HOMELAB_REPO_DIR=homelab-repo\n")  # beside .env is not enough
    result = host.run()
    assert result.returncode == 1 and f"HOMELAB_REPO_DIR={REPO}/homelab-repo" in result.stderr
