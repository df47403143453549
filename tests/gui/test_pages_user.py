"""The UI's pages with NiceGUI's simulated user (no browser) over a real plant: a broker,
agent, observer and supervisor as processes on loopback, eight services that should run and
do not, so the queue holds eight real pending actions (each test that decides takes its
own). The app is ``gui.app.serve`` itself (``ui_main.py``) in the test's event loop: the
test's side of the bus is asyncio too."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from nicegui import context, storage, ui
from nicegui.testing import User, user_simulation
from nicegui.testing.user_notify import UserNotify

from actors import atomic, decisions
from bus import aio, client
from bus.envelope import Message
from gui import session
from gui.tap_log import TapLog
from plant import OPERATOR, PASSWORD, Plant, add_operator, wait_until

pytestmark = pytest.mark.slow
MAIN = Path(__file__).with_name("ui_main.py")
SERVICES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
LOGIN = '<input type="hidden" name="redirect_to"'  # the login form's mark
WAIT = 15.0  # seconds for anything the page or the bus should show


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[Plant]:
    run = ("broker", "agent", "observer", "supervisor")
    with Plant(tmp_path_factory.mktemp("plant"), SERVICES, run=run, interval=1.0) as plant:
        add_operator(plant.root, OPERATOR, PASSWORD)
        wait_until(
            lambda: len(pending_actions(plant)) == len(SERVICES), 60, "a pending action each"
        )
        wait_until(lambda: world_services(plant.root), WAIT, "the observer's world file")
        yield plant


def pending_actions(plant: Plant) -> dict[str, dict]:
    """The pending actions as their files say, by service."""
    found = {}
    for path in (plant.root / "actions").glob("*.json"):
        record = json.loads(path.read_text())
        if record["state"] == "pending":
            found[record["service"]] = record
    return found


def action_record(plant: Plant, action_id: str) -> dict:
    return json.loads((plant.root / "actions" / f"{action_id}.json").read_text())


def world_services(root: Path) -> dict:
    path = root / "world" / "services.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
async def user(plant: Plant, tmp_path: Path, monkeypatch, caplog) -> AsyncIterator[User]:
    monkeypatch.setenv("HOMELAB_TEST_UI_ROOT", str(plant.root))
    monkeypatch.setenv("HOMELAB_TEST_UI_BUS", plant.bus)
    monkeypatch.setattr(storage.Storage, "path", tmp_path / "sessions")  # not ./.nicegui
    async with user_simulation(main_file=MAIN) as simulated:
        simulated.notify = ClientNotify()
        yield simulated
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelname == "ERROR"]
    # A page sent to the login page: the simulated user cannot open it (plain HTML).
    errors = [e for e in errors if not (e.startswith("Expected a page response") and LOGIN in e)]
    assert not errors, errors


class ClientNotify(UserNotify):
    """The simulation's ``ui.notify`` records every call; the real one needs the client of
    the slot it is called in, and raises once that slot's element has been deleted."""

    def __call__(self, message: str, **kwargs) -> None:
        assert context.client  # raises as ui.notify would
        super().__call__(message, **kwargs)


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
    assert label_texts(user, "pending-count") == [f"{len(pending_actions(plant))} pending"]
    assert label_texts(user, "drift-count") == [f"{len(SERVICES)} drifted"]


async def test_the_queue_shows_pending_actions_and_follows_decisions_on_the_bus(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    pending = pending_actions(plant)
    for record in pending.values():
        shown = " && ".join(" ".join(argv) for argv in record["commands"])
        assert label_texts(user, f"command-{record['id']}") == [shown]
        await user.should_see(marker=f"approve-{record['id']}")
    decided = next(iter(pending.values()))["id"]
    # decided elsewhere (the shell's command path): the page drops it without a reload
    said = await decisions.decide_async(
        plant.root, plant.bus, decided, "approve", "tester", channel="cli"
    )
    assert said == f"{decided} approved by tester"
    await eventually(lambda: not user._sees(marker=f"pending-{decided}"), "the card to go")  # noqa: SLF001
    # approved and waiting for the executor: under Running, with who approved it
    await eventually(lambda: user._sees(marker=f"running-{decided}"), "the Running card")  # noqa: SLF001
    with user.scope(marker=f"running-{decided}"):
        await user.should_see(content=f"({decided}) approved by tester")


async def test_a_decision_on_the_bus_moves_its_card_without_a_file_being_read(
    user: User, plant: Plant, monkeypatch
):
    await log_in(user, "/actions")
    record = next(iter(pending_actions(plant).values()))
    read: list[Path] = []
    real = atomic.read_json_object
    monkeypatch.setattr(atomic, "read_json_object", lambda path: real(read.append(path) or path))
    request = {"id": record["id"], "by": "tester", "hash": record["hash"]}
    publish(plant, "cli:tester", "action.request.approve", request)
    await eventually(lambda: user._sees(marker=f"running-{record['id']}"), "the Running card")  # noqa: SLF001
    assert not user._sees(marker=f"pending-{record['id']}")  # noqa: SLF001
    with user.scope(marker=f"running-{record['id']}"):
        await user.should_see(content=f"({record['id']}) approved by tester")
    assert not [path for path in read if "actions" in Path(path).parts]  # the message did it


async def test_approve_goes_through_the_command_path_with_the_operators_name(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    action_id = next(iter(pending_actions(plant).values()))["id"]
    since = await bus_seq(plant)
    user.find(marker=f"approve-{action_id}").click()
    approved = await bus_message(
        plant, since, lambda m: m.topic == "action.approved" and m.payload["id"] == action_id
    )
    assert approved.payload["by"] == "oskar"
    await eventually(lambda: f"{action_id} approved by oskar" in user.notify.messages, "the note")
    await eventually(lambda: action_record(plant, action_id)["state"] == "approved", "the file")
    assert action_record(plant, action_id)["approved_by"] == "oskar"


async def test_after_a_logout_elsewhere_approve_is_refused_and_nothing_is_sent(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    action_id = next(iter(pending_actions(plant).values()))["id"]
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
    assert action_record(plant, action_id)["state"] == "pending"


async def test_after_a_new_password_the_open_events_page_reads_nothing_from_disk(
    user: User, plant: Plant
):
    await log_in(user, "/events")
    await user.should_see(marker="replay")
    add_operator(plant.root, "oskar", "correct horse")  # a new hash (and bus key)
    await eventually(lambda: not session.client_valid(user.client), "the session to end")
    user.find(marker="replay").click()
    await eventually(
        lambda: "Your session has ended: log in again." in user.notify.messages, "the refusal"
    )
    assert label_texts(user, "replayed-count") == [""]  # nothing was read


async def bus_seq(plant: Plant) -> int:
    """The next sequence number the bus will give."""
    publisher = aio.AsyncPublisher(plant.bus, "test", timeout=WAIT)
    try:
        return await publisher.publish("test.mark", {}) + 1
    finally:
        publisher.close()


def publish(plant: Plant, source: str, topic: str, payload: dict) -> int:
    """One message as ``source``, durable when this returns (the broker is another process:
    blocking here does not stop it)."""
    publisher = client.Publisher(plant.bus, source, timeout=WAIT)
    try:
        return publisher.publish(topic, payload)
    finally:
        publisher.close()


def forge(plant: Plant, source: str, topic: str, payload: dict) -> None:
    """What a tool that claims another's topic sends: the broker refuses it (CURVE), and
    the page would ignore it anyway if it slipped in (an old log, CURVE off)."""
    with pytest.raises(client.PublishRejected, match="identity: "):
        publish(plant, source, topic, payload)


def observation(detail: str) -> dict:
    return {"check": "test-probe", "outcome": "ok", "detail": detail, "observed_at": time.time()}


async def test_a_services_page_shows_observations_from_its_agent_only(user: User, plant: Plant):
    service = SERVICES[-1]
    await log_in(user, f"/world/{service}")
    table = user.find(marker="observations").elements.pop()
    topic = f"obs.node.here.service.{service}"
    forge(plant, "emit", topic, observation("forged by emit"))
    publish(plant, "agent:here", topic, observation("said by the agent"))
    details = lambda: [row["detail"] for row in table.rows]  # noqa: E731
    await eventually(lambda: "said by the agent" in details(), "the agent's observation")
    assert "forged by emit" not in details()


async def test_the_world_shows_a_change_of_health_from_its_message_alone(
    user: User, plant: Plant, monkeypatch
):
    await log_in(user, "/world")
    table = user.find(marker="world").elements.pop()
    read: list[Path] = []
    real = atomic.read_json_object
    monkeypatch.setattr(atomic, "read_json_object", lambda path: real(read.append(path) or path))
    change = {"name": "zulu", "health": "down", "previous": "unknown", "reason": "said so"}
    change |= {"since": time.time(), "cause_seq": await bus_seq(plant), "node": "here"}
    forge(plant, "emit", "world.service.zulu", change | {"reason": "forged by emit"})
    publish(plant, "observer", "world.service.zulu", change)
    rows = lambda: {row["name"]: row for row in table.rows}  # noqa: E731
    await eventually(lambda: "zulu" in rows(), "the new service's row")
    assert (rows()["zulu"]["health"], rows()["zulu"]["node"]) == ("down", "here")
    assert rows()["zulu"]["reason"] == "said so"
    assert not [path for path in read if "world" in Path(path).parts]  # the message did it


async def test_the_dashboard_announces_a_rollback_from_the_supervisor_only(
    user: User, plant: Plant
):
    await log_in(user, "/")
    shown = user.find(marker="revision").elements.pop()
    revision = shown.text.removeprefix("Desired state: revision ")
    forge(
        plant, "emit", "desired.revision", {"revision": revision, "rollback": True, "previous": "X"}
    )
    said = {"revision": revision, "rollback": False, "previous": None}
    publish(plant, "supervisor", "desired.revision", said)  # after it: the page redraws
    await eventually(lambda: user.find(marker="revision").elements.pop() is not shown, "a redraw")
    assert label_texts(user, "revision") == [f"Desired state: revision {revision}"]


def services_of_health(user: User, health: str) -> int:
    """The dashboard's count of services of this health (no label: none)."""
    if not user._sees(marker=f"services-{health}"):  # noqa: SLF001
        return 0
    [text] = label_texts(user, f"services-{health}")
    return int(text.split()[0])


async def test_the_dashboard_counts_a_change_of_health_from_its_message_alone(
    user: User, plant: Plant, monkeypatch
):
    await log_in(user, "/")
    before = services_of_health(user, "degraded")
    read: list[Path] = []
    real = atomic.read_json_object
    monkeypatch.setattr(atomic, "read_json_object", lambda path: real(read.append(path) or path))
    change = {"name": "yankee", "health": "degraded", "previous": "unknown", "reason": "said so"}
    change |= {"since": time.time(), "cause_seq": await bus_seq(plant), "node": "here"}
    publish(plant, "observer", "world.service.yankee", change)
    await eventually(lambda: services_of_health(user, "degraded") == before + 1, "one more")
    assert not [path for path in read if "world" in Path(path).parts]  # the message did it


async def test_a_running_actions_output_comes_from_the_executor_only(
    user: User, plant: Plant, monkeypatch
):
    pushed: list[str] = []
    push = TapLog.push
    monkeypatch.setattr(TapLog, "push", lambda log, text: (pushed.append(text), push(log, text)))
    action_id = next(iter(pending_actions(plant).values()))["id"]
    await decisions.decide_async(
        plant.root, plant.bus, action_id, "approve", "tester", channel="cli"
    )
    await log_in(user, "/actions")
    await eventually(lambda: user._sees(marker=f"running-{action_id}"), "the Running card")  # noqa: SLF001
    await eventually(lambda: pushed, "the output so far (none yet)")
    forge(plant, "emit", "action.output", {"id": action_id, "chunk": "forged by emit\n"})
    publish(
        plant, "executor", "action.output", {"id": action_id, "chunk": "said by the executor\n"}
    )
    await eventually(
        lambda: any("said by the executor" in t for t in pushed), "the executor's line"
    )
    assert not any("forged by emit" in t for t in pushed)


async def test_the_events_tap_shows_every_message_with_who_sent_it(
    user: User, plant: Plant, monkeypatch
):
    pushed: list[str] = []
    push = TapLog.push
    monkeypatch.setattr(TapLog, "push", lambda log, text: (pushed.append(text), push(log, text)))
    await log_in(user, "/events")
    publish(plant, "emit", "backup.done", {"chunk": "said by emit"})
    await eventually(
        lambda: [t for t in pushed if "backup.done" in t and "emit" in t], "the line from emit"
    )


async def test_a_decision_answers_though_the_list_redrew_and_its_card_went_first(
    user: User, plant: Plant, monkeypatch
):
    """The answer comes after another decision redrew the list and after this card went:
    the operator still reads it."""
    await log_in(user, "/actions")
    mine, theirs = [record["id"] for record in pending_actions(plant).values()][:2]
    asked, answer = asyncio.Event(), asyncio.Event()
    decide = decisions.decide_async

    async def late(*args, **kwargs) -> str:
        asked.set()
        await answer.wait()
        said = await decide(*args, **kwargs)
        await eventually(lambda: not user._sees(marker=f"pending-{mine}"), "my card to go")  # noqa: SLF001
        gc.collect()  # a server collects at any time: what was deleted is gone
        return said

    monkeypatch.setattr(decisions, "decide_async", late)
    user.find(marker=f"approve-{mine}").click()
    await asyncio.wait_for(asked.wait(), WAIT)
    await decide(plant.root, plant.bus, theirs, "approve", "tester", channel="cli")
    await eventually(lambda: not user._sees(marker=f"pending-{theirs}"), "the list to redraw")  # noqa: SLF001
    answer.set()
    await eventually(lambda: f"{mine} approved by oskar" in user.notify.messages, "the answer")


async def test_reject_asks_for_a_reason_and_sends_it_trimmed(user: User, plant: Plant):
    await log_in(user, "/actions")
    action_id = next(iter(pending_actions(plant).values()))["id"]
    since = await bus_seq(plant)
    reason = user.find(marker="reject-reason").elements.pop()
    user.find(marker=f"reject-{action_id}").click()
    assert asked(reason)
    user.find(marker="reject-cancel").click()
    assert not asked(reason)
    user.find(marker=f"reject-{action_id}").click()
    for typed in ("", "   ", "x" * 501):  # refused in place, the dialog stays
        user.find(marker="reject-reason").clear().type(typed)
        reason.error = None
        user.find(marker="reject-confirm").click()
        await eventually(lambda: reason.error, f"the refusal of {typed[:5]!r}")
        assert asked(reason)
    assert action_record(plant, action_id)["state"] == "pending"
    user.find(marker="reject-reason").clear().type("  not during the backup  ")
    user.find(marker="reject-confirm").click()
    rejected = await bus_message(
        plant, since, lambda m: m.topic == "action.rejected" and m.payload["id"] == action_id
    )
    assert (rejected.payload["by"], rejected.payload["reason"]) == (
        "oskar",
        "not during the backup",
    )
    await eventually(lambda: f"{action_id} rejected by oskar" in user.notify.messages, "the answer")
    assert not asked(reason)


def asked(element) -> bool:
    """Whether the dialog around ``element`` is open (the simulation shows closed ones)."""
    return any(isinstance(e, ui.dialog) and e.value for e in element.ancestors())


async def test_a_decision_on_an_action_decided_meanwhile_says_why_it_was_refused(
    user: User, plant: Plant
):
    await log_in(user, "/actions")
    action_id = next(iter(pending_actions(plant).values()))["id"]
    user.find(marker=f"reject-{action_id}").click()
    assert asked(user.find(marker="reject-reason").elements.pop())
    await decisions.decide_async(
        plant.root, plant.bus, action_id, "approve", "tester", channel="cli"
    )
    await eventually(lambda: not user._sees(marker=f"pending-{action_id}"), "its card to go")  # noqa: SLF001
    user.find(marker="reject-reason").type("too late")  # the dialog stayed open
    user.find(marker="reject-confirm").click()
    await eventually(
        lambda: any("already approved" in m for m in user.notify.messages), "the refusal"
    )


async def test_the_drift_page_shows_the_inventorys_problems_from_the_messages(
    user: User, plant: Plant
):
    await log_in(user, "/drift")
    await user.should_see(marker="drift-revision")
    problem = {"file": "inventory.yaml", "line": 7, "message": "said by the message"}
    forge(plant, "emit", "desired.errors", {"problems": [problem | {"message": "forged"}]})
    publish(plant, "supervisor", "desired.errors", {"problems": [problem]})
    shown = lambda: user._sees(marker="drift-problem")  # noqa: E731, SLF001
    await eventually(shown, "the problem")
    assert label_texts(user, "drift-problem") == ["inventory.yaml:7: said by the message"]
    revision = json.loads((plant.root / "state" / "desired.json").read_text())["revision"]
    publish(plant, "supervisor", "desired.revision", {"revision": revision, "rollback": False})
    await eventually(lambda: not shown(), "the problems to go with a loaded revision")
