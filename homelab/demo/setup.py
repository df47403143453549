"""Preparing the demo: a git repository with the demo inventory, and its first services."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from bus.dataroot import DataRoot

log = logging.getLogger("homelab.demo")
TEMPLATE = Path(__file__).with_name("inventory.yml")
GIT_TIMEOUT = 20


FIRST_RUN = ("demo-web", "demo-cache")  # demo-api stays stopped: the drift the demo is about
MARKER = "homelab.demo.service"  # in the start command of each of the demo's own services


def prepare(root: Path) -> Path:
    """The demo repository under ``root`` (made once, kept after) and the demo's services
    running: on the first run demo-web and demo-cache; after that, those the repository's
    inventory wants running (the operator may have changed it)."""
    repo = DataRoot(root).demo_repo
    inventory = repo / "inventory.yml"
    if not inventory.exists():
        repo.mkdir(parents=True, exist_ok=True)
        inventory.write_text(render(root))
        _git_commit(repo, "demo inventory")
        wanted = list(FIRST_RUN)
    else:
        wanted = wanted_running(repo)
    for name in wanted:
        _start(repo, name)
    return repo


def wanted_running(repo: Path) -> list[str]:
    """The demo's own services that the inventory in ``repo`` wants running."""
    from actors.domain import inventory_files

    found, problems = inventory_files.check(repo)
    if found is None:
        log.warning(
            "demo: the inventory has %d problem(s): starting no demo service", len(problems)
        )
        return []
    return sorted(
        name
        for name, service in found.services.items()
        if service.kind == "command" and MARKER in service.start and service.desired == "running"
    )


def demo_operator(root: Path, name: str, keys_folder: Path | None = None) -> str | None:
    """Make UI operator ``name`` with a random password (and a bus key allowlisted in
    ``keys_folder``, None: CURVE is off) when the UI has no operator yet, and return that
    password (None: operators exist, the demo's or the user's own)."""
    import secrets

    from gui import auth, operator_keys

    operators = auth.Operators(DataRoot(root).operators)
    if operators.names():
        return None
    password = secrets.token_urlsafe(12)
    operator_keys.enroll(operators, keys_folder, name, password)
    return password


def login_hint(root: Path, name: str) -> str:
    """What a later start of the demo says about the login, whose password it showed once:
    how to log in and how to set a new password."""
    from gui import auth

    try:
        names = auth.Operators(DataRoot(root).operators).names()
    except auth.AuthError:
        names = []
    if name in names:
        return (
            f"login: {name}, with the password shown at the first start (to set a new one: "
            f"`homelab ui add-user {name}`)"
        )
    return "login: an operator of `homelab ui users` (to add one: `homelab ui add-user NAME`)"


def stop_services(root: Path) -> list[int]:
    """Stop every demo service of ``root``, whoever started it (``up`` or an action)."""
    from homelab.demo import service

    return service.stop_all(DataRoot(root).demo_services)


def render(root: Path) -> str:
    ports = _ports(root)
    text = TEMPLATE.read_text()
    values = {"python": sys.executable, "dir": str(DataRoot(root).demo_services), **ports}
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def _ports(root: Path) -> dict[str, int]:
    saved = DataRoot(root).demo_ports
    if saved.exists():
        return json.loads(saved.read_text())
    ports = {}
    for key in ("web_port", "api_port", "cache_port"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports[key] = s.getsockname()[1]
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(ports))
    return ports


def _start(repo: Path, name: str) -> None:
    from actors.domain import inventory_files
    from actors.domain.inventory import CommandService

    service = inventory_files.load(repo).services[name]
    assert isinstance(service, CommandService)  # the demo's services are all of this kind
    result = subprocess.run(list(service.start), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        log.warning("demo: could not start %s: %s", name, result.stderr.strip())


def _git_commit(repo: Path, message: str) -> None:
    git = shutil.which("git")
    if git is None:
        log.info("demo: git not found; the demo repository is a plain folder")
        return
    identity = ["-c", "user.name=homelab demo", "-c", "user.email=demo@localhost"]
    for argv in (
        ["init", "-q"],
        ["add", "inventory.yml"],
        [*identity, "commit", "-q", "-m", message],
    ):
        subprocess.run([git, *argv], cwd=repo, capture_output=True, timeout=GIT_TIMEOUT, check=True)
