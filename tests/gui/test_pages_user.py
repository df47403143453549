"""The UI's pages with NiceGUI's simulated user (no browser) over a real plant: a broker,
agent, observer and supervisor as processes on loopback, three services that should run and
do not, so the queue holds three real pending actions. The app is ``gui.app.serve`` itself
(``ui_main.py``) in the test's event loop: the test's side of the bus is asyncio too."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from nicegui import storage
from nicegui.testing import User, user_simulation

from actors import commands
from bus import aio
from bus.envelope import Message
from conftest import BrokerProcess, child_env, free_port_pair, wait_until
from gui import session
from gui.auth import Operators
from repos import commit, git

pytestmark = pytest.mark.slow
MAIN = Path(__file__).with_name("ui_main.py")
SERVICES = ("alpha", "bravo", "charlie")
LOGIN = '<input type="hidden" name="redirect_to"'  # the login form's mark
WAIT = 15.0  # seconds for anything the page or the bus should show


def inventory(folder: Path) -> str:
    """Three command services on one node, all desired running (none is started)."""
    demo = [sys.executable, "-m", "homelab.demo.service"]
    lines = ["nodes:", "  here: {address: 127.0.0.1, interval: 0.5}", "services:"]
    for name in SERVICES:
        args = ["--name", name, "--port", str(free_port_pair()), "--dir", str(folder)]
        lines += [f"  {name}:", "    node: here", "    kind: command", "    desired: running"]
        lines += [
            f"    {verb}: {json.dumps([*demo, verb, *args])}"
            for verb in ("start", "stop", "status")
        ]
    return "\n".join(lines) + "\n"


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "homelab", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )


class Plant:
    def __init__(self, broker: BrokerProcess):
        self.broker, self.root, self.bus = broker, broker.root, broker.endpoint

    def pending(self) -> dict[str, dict]:
        """The pending actions as their files say, by service."""
        found = {}
        for path in (self.root / "actions").glob("*.json"):
            record = json.loads(path.read_text())
            if record["state"] == "pending":
                found[record["service"]] = record
        return found

    def record(self, action_id: str) -> dict:
        return json.loads((self.root / "actions" / f"{action_id}.json").read_text())


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Plant:
    base = tmp_path_factory.mktemp("plant")
    root, repo = base / "root", base / "repo"
    root.mkdir()
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, inventory(base / "services"), "three services should run")
    broker = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.5").start()
    common = ["--root", str(root), "--bus", broker.endpoint]
    procs = [
        start("agent", "--node", "here", "--repo", str(repo), *common),
        start("observer", *common),
        start("supervisor", "--repo", str(repo), *common),
    ]
    Operators(root / "ui" / "operators.json").add("oskar", "correct horse")
    p = Plant(broker)
    try:
        wait_until(lambda: len(p.pending()) == len(SERVICES), 60, "three pending actions")
        wait_until(lambda: world_services(root), WAIT, "the observer's world file")
        yield p
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.stop()


def world_services(root: Path) -> dict:
    path = root / "world" / "services.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
async def user(plant: Plant, tmp_path: Path, monkeypatch, caplog) -> AsyncIterator[User]:
    monkeypatch.setenv("HOMELAB_TEST_UI_ROOT", str(plant.root))
    monkeypatch.setenv("HOMELAB_TEST_UI_BUS", plant.bus)
    monkeypatch.setattr(storage.Storage, "path", tmp_path / "sessions")  # not ./.nicegui
    async with user_simulation(main_file=MAIN) as simulated:
        yield simulated
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelname == "ERROR"]
    # A page sent to the login page: the simulated user cannot open it (plain HTML).
    errors = [e for e in errors if not (e.startswith("Expected a page response") and LOGIN in e)]
    assert not errors, errors


async def post_login(user: User, password: str, redirect_to: str = "/"):
    """Send the login form (a plain HTML form, not a NiceGUI page)."""
    return await user.http_client.post(
        "/login",
        data={"operator": "oskar", "password": password, "redirect_to": redirect_to},
    )


async def log_in(user: User, path: str) -> None:
    answer = await post_login(user, "correct horse", path)
    assert answer.status_code == 303 and answer.headers["location"] == path
    await user.open(path)
    await eventually(lambda: user._sees(marker="operator"), "the page after the login")  # noqa: SLF001


async def eventually(condition: Callable[[], object], what: str, timeout: float = WAIT):
    """``wait_until`` for the event loop the app shares with the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def bus_message(plant: Plant, since: int, test: Callable[[Message], bool]) -> Message:
    async def first() -> Message:
        async for message in aio.AsyncSubscriber(plant.bus, "action.", since=since):
            if test(message):
                return message
        raise AssertionError("the subscription ended")

    return await asyncio.wait_for(first(), WAIT)


def label_texts(user: User, marker: str) -> list[str]:
    return [e.text for e in user.find(marker=marker).elements]


async def test_a_page_needs_a_login_and_the_login_leads_back_to_it(user: User, plant: Plant):
    away = await user.http_client.get("/actions?x=1")
    assert away.status_code == 303 and away.headers["location"] == (
        "/login?redirect_to=%2Factions%3Fx%3D1"
    )
    wrong = await post_login(user, "wrong horse", "/actions")
    assert wrong.status_code == 401 and "Wrong operator name or password" in wrong.text
    assert (await user.http_client.get("/actions")).status_code == 303
    await log_in(user, "/actions")
    await eventually(lambda: user._sees(marker="no-running"), "the Action Queue")  # noqa: SLF001
    assert label_texts(user, "operator") == ["oskar"]


async def test_the_dashboard_shows_the_counts_of_the_world_file(user: User, plant: Plant):
    await log_in(user, "/")
    services = world_services(plant.root)
    by_health: dict[str, int] = {}
    for service in services.values():
        by_health[service["health"]] = by_health.get(service["health"], 0) + 1
    assert sum(by_health.values()) == len(SERVICES)
    for health, count in by_health.items():
        assert label_texts(user, f"services-{health}") == [f"{count} {health}"]
    assert label_texts(user, "pending-count") == [f"{len(plant.pending())} pending"]
    assert label_texts(user, "drift-count") == [f"{len(SERVICES)} drifted"]


async def test_the_queue_shows_pending_actions_and_follows_decisions_on_the_bus(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    pending = plant.pending()
    for record in pending.values():
        shown = " && ".join(" ".join(argv) for argv in record["commands"])
        assert label_texts(user, f"command-{record['id']}") == [shown]
        await user.should_see(marker=f"approve-{record['id']}")
    decided = next(iter(pending.values()))["id"]
    # decided elsewhere (the shell's command path): the page drops it without a reload
    said = await commands.decide_async(
        plant.root, plant.bus, decided, "approve", "tester", channel="cli"
    )
    assert said == f"{decided} approved by tester"
    await eventually(lambda: not user._sees(marker=f"pending-{decided}"), "the card to go")  # noqa: SLF001
    # approved and waiting for the executor: under Running, with who approved it
    await eventually(lambda: user._sees(marker=f"running-{decided}"), "the Running card")  # noqa: SLF001
    with user.scope(marker=f"running-{decided}"):
        await user.should_see(content=f"({decided}) approved by tester")


async def test_approve_goes_through_the_command_path_with_the_operators_name(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    action_id = next(iter(plant.pending().values()))["id"]
    since = await bus_seq(plant)
    user.find(marker=f"approve-{action_id}").click()
    approved = await bus_message(
        plant, since, lambda m: m.topic == "action.approved" and m.payload["id"] == action_id
    )
    assert approved.payload["by"] == "oskar"
    await eventually(lambda: f"{action_id} approved by oskar" in user.notify.messages, "the note")
    await eventually(lambda: plant.record(action_id)["state"] == "approved", "the file")
    assert plant.record(action_id)["approved_by"] == "oskar"


async def test_after_a_logout_elsewhere_approve_is_refused_and_nothing_is_sent(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    action_id = next(iter(plant.pending().values()))["id"]
    since = await bus_seq(plant)
    with user:
        session.log_out()  # what "Log out" in another tab of this browser does
    user.find(marker=f"approve-{action_id}").click()
    await eventually(
        lambda: "Your session has ended: log in again." in user.notify.messages, "the refusal"
    )
    with pytest.raises(TimeoutError):  # no request, no decision
        await asyncio.wait_for(
            bus_message(plant, since, lambda m: m.payload.get("id") == action_id), 2.0
        )
    assert plant.record(action_id)["state"] == "pending"


async def bus_seq(plant: Plant) -> int:
    """The next sequence number the bus will give."""
    publisher = aio.AsyncPublisher(plant.bus, "test", timeout=WAIT)
    try:
        return await publisher.publish("test.mark", {}) + 1
    finally:
        publisher.close()
