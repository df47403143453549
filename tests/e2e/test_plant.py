"""The test plant itself (``tests/plant.py``): it runs what ``homelab up`` runs, each service
its own child, and leaves no process behind, not even a paused child or a started stand-in."""

from __future__ import annotations

import httpx
import psutil
import pytest

from homelab import up
from homelab.settings import Settings
from plant import OPERATOR, PASSWORD, Plant, wait_until

pytestmark = pytest.mark.slow


def test_the_plant_runs_ups_services_and_leaves_no_process(tmp_path):
    with Plant(tmp_path, ui=True) as plant:
        settings = Settings(root=plant.root, bus=plant.bus, ui_port=plant.ui_port)
        wanted = [spec.argv for spec in up.specs(settings, plant.repo, "here", ui=True)]
        children = {name: psutil.Process(proc.pid) for name, proc in plant.children.items()}
        assert [tuple(child.cmdline()) for child in children.values()] == wanted
        assert len({child.pid for child in children.values()}) == len(wanted) == 6
        login = {"operator": OPERATOR, "password": PASSWORD, "redirect_to": "/"}
        assert httpx.post(f"{plant.url}/login", data=login).status_code == 303
        assert plant.homelab("ui", "users").stdout.split() == [OPERATOR]
        svc = plant.services["svc"]  # started as an approved action would
        assert psutil.Popen(svc.argv("start")).wait(30) == 0 and svc.running()
        everything = [*children.values(), *(c for p in children.values() for c in p.children())]
        everything += [p for p in psutil.process_iter() if str(svc.folder) in _argv(p)]
        plant.pause("agent")
    wait_until(lambda: not [p for p in everything if _alive(p)], 10, "every process to end")
    assert not svc.running()


def _argv(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
