"""The inventory: what is valid, and for what is not, one message with file and line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from actors.domain import inventory, inventory_files
from homelab.demo import setup as demo_setup

REPO = Path(__file__).resolve().parents[2]
GOOD = """\
nodes:
  web1:
    address: 100.64.0.5
    ssh: {user: homelab}
    checks:
      - type: disk
        max_used_percent: 85
services:
  nginx:
    node: web1
    kind: compose
    project: web
    image: nginx:1.27
    checks:
      - type: http
        url: http://100.64.0.5/
  postgres:
    node: web1
    kind: systemd
    unit: postgresql.service
    policy: auto
"""


def problems(tmp_path: Path, text: str, name: str = "inventory.yml") -> list[str]:
    (tmp_path / name).write_text(textwrap.dedent(text))
    _, found = inventory_files.check(tmp_path)
    return [str(p) for p in found]


def test_a_good_inventory_loads_with_defaults(tmp_path: Path):
    (tmp_path / "inventory.yml").write_text(GOOD)
    loaded = inventory_files.load(tmp_path)
    assert loaded.nodes["web1"].interval == 30.0
    assert loaded.services["nginx"].desired == "running"
    assert loaded.services["postgres"].policy == "auto"
    assert [inventory.check_id(c) for c in loaded.services["nginx"].checks] == ["http"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nodes:\n  web1:\n    address: [unclosed\n", "inventory.yml:3: YAML syntax"),
        (
            "nodes:\n  web1:\n    address: a\n    adress: b\n",
            "inventory.yml:4: nodes.web1.adress: unknown key",
        ),
        (
            "nodes:\n  web1: {address: a}\n  web1: {address: b}\n",
            "inventory.yml:3: duplicate key 'web1'",
        ),
        (
            "nodes:\n  web1:\n    address: a\n    interval: often\n",
            "inventory.yml:4: nodes.web1.interval: Input should be a valid number",
        ),
        (
            "nodes:\n  Web_1:\n    address: a\n",
            "inventory.yml:2: nodes.Web_1: 'Web_1': names use a-z",
        ),
        (
            "services:\n  x:\n    node: n\n    kind: kubernetes\n",
            "inventory.yml:2: services.x: Input tag 'kubernetes'",
        ),
        (
            "nodes:\n  n: {address: a}\nservices:\n  x:\n    node: n\n    kind: systemd\n",
            "inventory.yml:4: services.x: missing required key `unit`",
        ),
        (
            "nodes:\n  n: {address: a}\nservices:\n  x:\n    node: m\n    kind: systemd\n    unit: a.service\n",
            "inventory.yml:5: services.x.node: node 'm' is not declared",
        ),
        (
            "nodes:\n  n: {address: a}\nservices:\n  x:\n    node: n\n    kind: container\n    container: -rm\n",
            "inventory.yml:7: services.x.container: '-rm' is not allowed here",
        ),
        (
            "nodes:\n  n: {address: a}\nservices:\n  x:\n    node: n\n    kind: command\n    start: [a]\n    stop: [b]\n",
            "inventory.yml:4: services.x: a command service needs `status`",
        ),
        ("nodes: [a, b]\n", "inventory.yml:1: `nodes` must be a mapping of names"),
        (
            "nodes:\n  n:\n    address: a\n    checks:\n      - {type: disk}\n      - {type: disk}\n",
            "inventory.yml:4: nodes.n.checks: two checks would be called 'disk'",
        ),
        ("hosts: {}\n", "inventory.yml:1: unknown key 'hosts' (allowed: nodes, services)"),
    ],
)
def test_each_bad_inventory_gets_one_clear_message_with_file_and_line(tmp_path, text, expected):
    found = problems(tmp_path, text)
    assert any(p.startswith(expected) for p in found), found


def test_a_name_declared_in_two_files_is_a_duplicate_naming_both(tmp_path: Path):
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "a.yml").write_text("nodes:\n  web1: {address: a}\n")
    (tmp_path / "inventory" / "b.yml").write_text("\nnodes:\n  web1: {address: b}\n")
    _, found = inventory_files.check(tmp_path)
    assert [str(p) for p in found] == [
        "inventory/b.yml:3: duplicate node name 'web1' (first at inventory/a.yml:2)"
    ]


def test_no_inventory_at_all_is_a_problem(tmp_path: Path):
    _, found = inventory_files.check(tmp_path)
    assert "no inventory here" in str(found[0])


def test_the_committed_json_schema_is_the_one_the_models_make():
    committed = json.loads((REPO / "docs" / "inventory.schema.json").read_text())
    assert committed == inventory.json_schema(), (
        "run: homelab check-inventory --schema > docs/inventory.schema.json"
    )


def test_the_demo_inventory_is_valid(tmp_path: Path):
    (tmp_path / "state").mkdir()
    (tmp_path / "inventory.yml").write_text(demo_setup.render(tmp_path))
    loaded = inventory_files.load(tmp_path)
    assert set(loaded.services) == {"demo-web", "demo-api", "demo-cache"}
    assert all(s.kind == "command" for s in loaded.services.values())
