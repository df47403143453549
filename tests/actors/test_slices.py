"""The desired state node by node (``desired.node.<node>``): what the supervisor sends, when,
and under which id. Tables, no sockets."""

from __future__ import annotations

import pytest

from actors.domain import slices
from actors.domain.inventory import Inventory
from bus import envelope

INVENTORY = {
    "nodes": {
        "vps": {"address": "127.0.0.1", "checks": [{"type": "disk", "max_used_percent": 95}]},
        "nas": {"address": "nas.tail", "ssh": {"user": "ops"}},
    },
    "services": {
        "db": {"node": "vps", "kind": "systemd", "unit": "postgresql.service"},
        "api": {
            "node": "vps",
            "kind": "command",
            "desired": "stopped",
            "start": ["api", "start"],
            "stop": ["api", "stop"],
            "status": ["api", "status"],
            "checks": [{"type": "http", "url": "http://127.0.0.1/health", "timeout": 2.5}],
        },
        "backup": {"node": "nas", "kind": "container", "image": "restic:0.16"},
    },
}


def inventory(**services: dict | None) -> Inventory:
    """INVENTORY with services changed (a dict) or removed (None)."""
    data = {"nodes": dict(INVENTORY["nodes"]), "services": dict(INVENTORY["services"])}
    for name, entry in services.items():
        if entry is None:
            data["services"].pop(name)
        else:
            data["services"][name] = entry
    return Inventory.model_validate(data)


def test_a_slice_is_the_nodes_definition_and_its_services_as_json_values():
    desired = inventory()
    payload = slices.payload(desired, "vps", "rev1")
    assert payload == {
        "node": "vps",
        "revision": "rev1",
        "definition": desired.nodes["vps"].model_dump(mode="json"),
        "services": {
            "api": desired.services["api"].model_dump(mode="json"),
            "db": desired.services["db"].model_dump(mode="json"),
        },
    }
    assert payload["services"]["api"]["desired"] == "stopped"
    assert payload["definition"]["checks"][0]["max_used_percent"] == 95
    for node in ("vps", "nas", "gone"):
        assert envelope.payload_problem(slices.payload(desired, node, "rev1")) is None


def test_every_node_is_sent_the_first_time_and_an_unchanged_slice_never_again():
    out, published = slices.changes(inventory(), "rev1", {}, epoch=1)
    assert [topic for topic, _, _ in out] == ["desired.node.nas", "desired.node.vps"]
    assert sorted(published) == ["nas", "vps"]
    again, same = slices.changes(inventory(), "rev2", published, epoch=2)  # another revision
    assert again == [] and same == published


def test_a_change_to_one_service_sends_only_its_nodes_slice():
    _, published = slices.changes(inventory(), "rev1", {}, epoch=1)
    moved = {**INVENTORY["services"]["db"], "desired": "stopped"}
    out, _ = slices.changes(inventory(db=moved), "rev2", published, epoch=2)
    [(topic, payload, _)] = out
    assert topic == "desired.node.vps" and payload["revision"] == "rev2"
    assert payload["services"]["db"]["desired"] == "stopped"


def test_a_node_that_left_gets_an_empty_slice_once():
    _, published = slices.changes(inventory(), "rev1", {}, epoch=1)
    data = {"nodes": {"vps": INVENTORY["nodes"]["vps"]}, "services": {}}
    data["services"] = {k: v for k, v in INVENTORY["services"].items() if v["node"] == "vps"}
    without_nas = Inventory.model_validate(data)
    out, after = slices.changes(without_nas, "rev2", published, epoch=2)
    assert out[0][:2] == (
        "desired.node.nas",
        {"node": "nas", "revision": "rev2", "definition": None, "services": {}},
    )
    assert len(out) == 1 and sorted(after) == ["vps"]
    assert slices.changes(without_nas, "rev3", after, epoch=3)[0] == []


def test_ids_are_the_same_when_derived_again_and_new_when_content_comes_back():
    first, published = slices.changes(inventory(), "rev1", {}, epoch=1)
    assert slices.changes(inventory(), "rev1", {}, epoch=1)[0] == first  # a restart: same ids
    stopped = {**INVENTORY["services"]["db"], "desired": "stopped"}
    _, changed = slices.changes(inventory(db=stopped), "rev2", published, epoch=2)
    [(_, _, reverted_id)] = slices.changes(inventory(), "rev3", changed, epoch=3)[0]
    vps_first_id = [i for t, _, i in first if t == "desired.node.vps"][0]
    assert reverted_id != vps_first_id  # stored again, not taken for the first one
    assert all(len(i) <= 64 for _, _, i in first)


def test_a_remote_agent_probes_by_its_nodes_slice_and_by_nothing_once_the_node_left():
    sent = slices.payload(inventory(), "vps", "rev1")
    held = slices.inventory_of(sent, "vps")
    assert held is not None
    assert list(held.nodes) == ["vps"] and sorted(held.services) == ["api", "db"]
    assert held.services["api"].status == ["api", "status"]
    assert slices.inventory_of(slices.payload(inventory(), "gone", "rev1"), "gone") is None


def test_a_slice_that_is_not_a_valid_slice_of_this_node_is_refused_in_one_line():
    sent = slices.payload(inventory(), "vps", "rev1")
    broken = {**sent, "services": {"db": {**sent["services"]["db"], "kind": "rocket"}}}
    backup = slices.payload(inventory(), "nas", "r")["services"]["backup"]
    for bad, why in (
        (slices.payload(inventory(), "nas", "rev1"), "node does not match"),
        (broken, "services.db"),
        ({**sent, "services": {"backup": backup}}, "not a service of node vps"),
        ({**sent, "definition": {"address": "x", "shell": "rm -rf /"}}, "shell"),
        ("not a map", "node does not match"),
    ):
        with pytest.raises(ValueError, match=why) as refused:
            slices.inventory_of(bad, "vps")
        assert "\n" not in str(refused.value)
