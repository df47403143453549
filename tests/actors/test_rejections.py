"""A rejection holds its drift until that drift or the service's desired state changes:
plan as tables, and rejections rebuilt from the queue's own records."""

from __future__ import annotations

import dataclasses

import pytest

from actors.domain import rejections
from actors.domain.action_queue import Queue
from actors.domain.drift import Drift
from actors.domain.evaluation import recommendation_payload
from actors.domain.inventory import Inventory
from actors.domain.plan import plan
from bus.envelope import Message
from samples import DESIRED

HELD = "rejected by oskar: not now; held until the drift or the service's desired state changes"


def stopped(began: int = 40) -> Drift:
    return Drift("web", "vps", "stopped", "exited (0)", 100.0, (began, began + 3))


def changed(service: str | None = None, node: bool = False) -> Inventory:
    """DESIRED with one service's entry, or the node, changed."""
    data = DESIRED.model_dump(mode="json", exclude_defaults=True)
    if service is not None:
        data["services"][service]["description"] = "changed"
    if node:
        data["nodes"]["vps"]["interval"] = 10
    return Inventory.model_validate(data)


def rejection(began: int = 40, definition: str | None = None) -> rejections.Rejection:
    if definition is None:
        definition = rejections.fingerprint(DESIRED, "web")
    return rejections.Rejection("a-0000000000000001", began, definition, "oskar", "not now", 5.0)


@pytest.mark.parametrize(
    ("desired", "drift", "rejected", "held"),
    [
        (DESIRED, stopped(), rejection(), True),  # nothing changed
        (changed("db"), stopped(), rejection(), True),  # a commit to another service
        (changed("web"), stopped(), rejection(), False),  # a commit to this service
        (changed(node=True), stopped(), rejection(), False),  # ... or to its node
        (DESIRED, stopped(began=90), rejection(), False),  # the drift ended and came back
        (DESIRED, stopped(), rejection(definition=""), False),  # rejected before fingerprints
    ],
)
def test_a_rejection_holds_while_the_drift_and_the_desired_definition_are_the_same(
    desired, drift, rejected, held
):
    recs, holds = plan([drift], desired, "rev2", {}, now=1.0, rejected={drift.key: rejected})
    assert [h.why for h in holds] == ([HELD] if held else [])
    assert len(recs) == (0 if held else 1)


def test_a_rejection_without_a_reason_says_who():
    bare = dataclasses.replace(rejection(), reason="")
    _, [held] = plan([stopped()], DESIRED, "r", {}, now=1.0, rejected={"web/stopped": bare})
    assert held.why.startswith("rejected by oskar; held until")


def test_the_fingerprint_is_of_the_service_and_its_node_only():
    web = rejections.fingerprint(DESIRED, "web")
    assert web == rejections.fingerprint(changed("db"), "web")
    assert web != rejections.fingerprint(changed("web"), "web")
    assert web != rejections.fingerprint(changed(node=True), "web")


def queue_with_rejection(*reasons: str) -> Queue:
    """The real queue: the fix recommended, then rejected by oskar (again for each reason)."""
    queue = Queue()
    [rec], _ = plan([stopped()], DESIRED, "rev1", {}, now=1.0)
    for n, reason in enumerate(reasons):
        payload = recommendation_payload(rec) | {"id": f"a-000000000000000{n}"}
        queue.apply(Message(10 * n + 1, 10.0 * n, "action.recommended", "r", "supervisor", payload))
        request = {"id": payload["id"], "by": "oskar", "reason": reason}
        queue.apply(
            Message(10 * n + 2, 10.0 * n + 1, "action.request.reject", "q", "cli:oskar", request)
        )
    return queue


def test_rejections_are_rebuilt_from_the_queues_records_latest_first():
    queue = queue_with_rejection("first", "not now")
    found = rejections.from_records(r.to_dict() for r in queue.records.values())
    assert list(found) == ["web/stopped"]
    rebuilt = found["web/stopped"]
    assert (rebuilt.action, rebuilt.began, rebuilt.by, rebuilt.reason) == (
        "a-0000000000000001",
        40,
        "oskar",
        "not now",
    )
    assert rebuilt.definition == rejections.fingerprint(DESIRED, "web")
    assert rejections.from_json(rejections.to_json(found)) == found


def test_only_a_rejected_action_holds_a_rejection():
    queue = queue_with_rejection("not now")
    record = queue.records["a-0000000000000000"].to_dict()
    assert rejections.of_record(record | {"state": "expired"}) is None
    assert rejections.of_record(record | {"drift": {}}) is None
    assert rejections.from_json({"web/stopped": {"bogus": 1}, "x": [1]}) == {}
