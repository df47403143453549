"""One vocabulary: every state an action can reach is named once, in ``actors.domain.states``,
sits in exactly one group, and nobody else spells a state, a group or a topic out.

A new state added to the lifecycle and nowhere else fails here, and says where it is missing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from actors.domain import action_queue, lifecycle, publishers, states, topics
from actors.readmodel.models import Counts
from gui import theme
from homelab import render

ROOT = Path(__file__).resolve().parents[2]
VOCABULARY = {"actors/domain/states.py", "actors/domain/topics.py"}
# What became of an action: each state is in exactly one of these.
PARTITION = {
    "open": states.OPEN,
    "succeeded": (states.SUCCEEDED,),
    "failures": states.FAILURES,
    "not run": states.NOT_RUN,
    "rejected": (states.REJECTED,),
}


def reachable() -> set[str]:
    """The states the lifecycle leads to from a recommendation."""
    seen, todo = set(), [states.RECOMMENDED]
    while todo:
        state = todo.pop()
        if state not in seen:
            seen.add(state)
            todo.extend(lifecycle.TRANSITIONS.get(state, {}).values())
    return seen


def test_the_vocabulary_names_every_state_the_lifecycle_reaches_and_no_other():
    assert reachable() == set(states.ALL)
    assert len(states.ALL) == len(set(states.ALL))


def test_open_states_are_those_with_a_way_out_and_final_ones_have_none():
    assert set(lifecycle.TRANSITIONS) == set(states.OPEN)
    assert not set(states.OPEN) & set(states.FINAL)


@pytest.mark.parametrize("state", states.ALL)
def test_every_state_is_in_exactly_one_group(state):
    groups = [name for name, members in PARTITION.items() if state in members]
    assert len(groups) == 1, f"{state!r} is in {groups or 'no group'}"


def test_the_finer_groups_stay_inside_open_or_final():
    assert set(states.WAITING) <= set(states.OPEN)
    assert set(states.UNDER_WAY) <= set(states.OPEN)
    assert set(states.RAN) == {states.SUCCEEDED, *states.FAILURES}
    assert set(states.RAN) | set(states.NOT_RUN) | {states.REJECTED} == set(states.FINAL)


def test_only_what_expires_is_waiting():
    """The approval's time to live ages a pending and an approved action: the lifecycle
    lets exactly those expire."""
    expire = {s for s, events in lifecycle.TRANSITIONS.items() if "expire" in events}
    assert expire == set(states.WAITING)


def test_every_state_is_a_topic_someone_may_publish():
    assert set(publishers.ACTION_PUBLISHERS) == {*states.ALL, topics.OUTPUT}
    assert {topics.action_kind(t) for t in topics.ACTIONS} == set(publishers.ACTION_PUBLISHERS)


@pytest.mark.parametrize("topic, event", action_queue.RECORDED.items())
def test_the_queue_records_each_fact_as_the_state_its_topic_names(topic, event):
    leads_to = {moves[event] for moves in lifecycle.TRANSITIONS.values() if event in moves}
    assert leads_to == {topics.action_kind(topic)}


def test_health_names_are_the_vocabularys_everywhere_they_are_keys():
    assert tuple(Counts.model_fields) == states.HEALTHS
    assert tuple(theme.HEALTH_COLOURS) == states.HEALTHS
    assert tuple(render._HEALTH_STYLES) == states.HEALTHS


# -- nobody spells them out ---------------------------------------------------------------------


def sources() -> list[Path]:
    found = []
    for package in ("actors", "gui", "homelab"):
        found += sorted((ROOT / package).rglob("*.py"))
    return [p for p in found if p.relative_to(ROOT).as_posix() not in VOCABULARY]


def docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def spelled_out(path: Path, prefixes: tuple[str, ...] = (*topics.OWNED, topics.OBS)) -> list[str]:
    """Topic names (starting with one of ``prefixes``), groups of states and states compared
    with a ``state`` or ``health``, written as string literals in ``path``."""
    names = {*states.ALL, *states.HEALTHS}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstrings(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{_shown(path)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value.startswith(prefixes):
                found.append(f"{where}: topic {node.value!r}")
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) > 1:
            if all(isinstance(e, ast.Constant) and e.value in names for e in node.elts):
                found.append(f"{where}: group {ast.unparse(node)}")
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_state(s) for s in sides) and any(
                isinstance(s, ast.Constant) and s.value in names for s in sides
            ):
                found.append(f"{where}: {ast.unparse(node)}")
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _is_state(node: ast.AST) -> bool:
    """``x.state``, ``x.health``, ``x.get("state")``, ``x.get("health")``."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("state", "health")
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in ("state", "health")
    )


def test_no_module_spells_out_a_topic_a_group_or_a_state_of_the_vocabulary():
    found = [line for path in sources() for line in spelled_out(path)]
    assert not found, "import them from actors.domain.states / topics:\n" + "\n".join(found)


def test_the_bus_names_its_own_topics_in_bus_topics_only():
    """The bus cannot import the vocabulary: it has its own, which the vocabulary takes."""
    own = ROOT / "bus" / "topics.py"
    paths = [p for p in sorted((ROOT / "bus").rglob("*.py")) if p != own]
    found = [line for path in paths for line in spelled_out(path, (topics.BUS,))]
    assert not found, "name them in bus/topics.py:\n" + "\n".join(found)


def test_the_scan_would_see_a_copy(tmp_path):
    """The scan above is not vacuous: each kind of copy it looks for is caught."""
    copy = tmp_path / "copy.py"
    copy.write_text(
        'ENDS = ("succeeded", "failed")\n'
        'def f(a, m):\n    return a.state == "running" or m.topic == "action.output"\n'
    )
    assert len(spelled_out(copy)) == 3
