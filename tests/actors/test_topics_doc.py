"""``docs/topics.md`` cannot drift from the code: the topics it lists are ``topics.EVERY``,
its publishers are who ``publishers.may_publish`` lets through, the actor processes it names
as consumers follow those topics, and each payload's fields are what the code builds (the
models, the functions that build a payload, and the dict literals at every place that
publishes one)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from actors import decisions, executor, observer, supervisor
from actors.domain import action_queue, evaluation, plan, publishers, slices, states, topics
from actors.domain import world as world_fold
from actors.domain.observations import Heartbeat, Observation
from bus import broker, retention, space, wallclock
from bus import topics as bus_topics
from homelab import broker_service

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "topics.md"
NODE, SERVICE, OPERATOR = "web1", "nginx", "oskar"
# Everyone who could try to publish a topic: the doc's publishers may, all others may not.
SOURCES = (
    f"agent:{NODE}",
    "agent:web2",
    "observer",
    "supervisor",
    "executor",
    "broker",
    f"cli:{OPERATOR}",
    f"ui:{OPERATOR}",
    "emit",
    "inbox",
)
FOLLOWERS = {  # the actor processes and what they follow on the bus
    "observer": world_fold.PREFIXES,
    "supervisor": supervisor.PREFIXES,
    "executor": executor.PREFIXES,
}
assert observer.PREFIXES is world_fold.PREFIXES  # the observer follows what the world folds
# Where code publishes: modules whose dict literals are payloads (calls to send/publish, and
# the (topic, payload, id) triples the pure queue returns).
PUBLISHING = (executor, supervisor, action_queue, decisions, broker_service)
# A topic a publishing place builds at run time, and the topics it can be.
BUILT_AT_RUN_TIME = {
    # the executor's end of a run: the action runner's outcome
    "topics.action(outcome)": [
        topics.action(s) for s in (states.SUCCEEDED, states.FAILED, states.TIMED_OUT)
    ],
    "topics.request(kind)": [topics.REQUEST_APPROVE, topics.REQUEST_REJECT],
}


@dataclasses.dataclass(frozen=True)
class Row:
    topic: str
    publishers: tuple[str, ...]
    consumers: str
    fields: tuple[str, ...]


def rows() -> list[Row]:
    found = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 4, (
            f"a row of docs/topics.md is not topic|publisher|consumers|payload: {line}"
        )
        ticked = [re.findall(r"`([^`]+)`", c) for c in cells]
        found.append(Row(ticked[0][0], tuple(ticked[1]), cells[2], tuple(ticked[3])))
    return found


ROWS = rows()
BY_TOPIC = {row.topic: row for row in ROWS}


def concrete(name: str) -> str:
    """A documented name with its parts filled in: ``obs.node.<node>.agent`` -> ``obs.node.web1.agent``."""
    for part, value in (("<node>", NODE), ("<service>", SERVICE), ("<name>", SERVICE)):
        name = name.replace(part, value)
    return name.replace("NAME", OPERATOR)


# -- the topics -----------------------------------------------------------------------------------


def test_the_doc_lists_every_topic_of_the_code_and_no_other():
    documented = [row.topic for row in ROWS]
    assert len(documented) == len(set(documented)), "a topic is listed twice"
    assert set(documented) == set(topics.EVERY)


def test_every_topic_the_vocabulary_names_is_in_every():
    """A constant added to the vocabulary but not to ``EVERY`` would escape the doc."""
    for module in (topics, bus_topics):
        names = {
            value
            for name, value in vars(module).items()
            if name.isupper() and isinstance(value, str) and not value.endswith(".")
        }
        names -= {topics.OUTPUT, topics.APPROVE, topics.REJECT}  # parts of names, no topics
        assert names <= set(topics.EVERY), module.__name__


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.topic)
def test_the_publishers_are_who_may_publish_it(row):
    topic = concrete(row.topic)
    listed = {concrete(source) for source in row.publishers}
    assert listed <= set(SOURCES), f"unknown publisher in {row.publishers}"
    allowed = {source for source in SOURCES if publishers.may_publish(source, topic)}
    assert listed == allowed


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.topic)
def test_the_actor_processes_named_as_consumers_follow_it(row):
    named = set(re.findall(r"`(\w+)`", row.consumers))
    for actor, prefixes in FOLLOWERS.items():
        follows = concrete(row.topic).startswith(prefixes)
        if actor in named:
            assert follows, f"{row.topic}: the {actor} does not follow it"
        elif follows and not row.topic.startswith(topics.ACTION):
            pytest.fail(f"{row.topic}: the {actor} follows it, the doc does not say so")


# -- the payloads ---------------------------------------------------------------------------------


def returned_keys(function) -> set[str]:
    """The keys of the dict literal ``function`` returns."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    returns = [n.value for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value]
    dicts = [n for r in returns for n in ast.walk(r) if isinstance(n, ast.Dict)]
    assert dicts, f"{function.__qualname__} returns no dict literal"
    return {k.value for k in dicts[0].keys if isinstance(k, ast.Constant)}


def published_keys(module: ModuleType) -> dict[str, set[str]]:
    """topic -> payload keys, from every place in ``module`` that publishes a dict literal
    (or a name given one in the same function, with keys set on it later)."""
    found: dict[str, set[str]] = {}
    tree = ast.parse(inspect.getsource(module))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            pair = _topic_and_payload(node)
            if pair is None:
                continue
            names = _topics_of(pair[0], module)
            keys = _keys(pair[1], function, module)
            if names and keys is not None:
                for name in names:
                    found.setdefault(name, set()).update(keys)
    return found


def _topic_and_payload(node: ast.AST) -> tuple[ast.expr, ast.expr] | None:
    calls = ("send", "publish", "_publish", "publish_own")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and len(node.args) >= 2:
        if node.func.attr in calls:
            return node.args[0], node.args[1]
    if isinstance(node, ast.Tuple) and len(node.elts) == 3:
        return node.elts[0], node.elts[1]
    return None


def _topics_of(expr: ast.expr, module: ModuleType) -> list[str]:
    text = ast.unparse(expr)
    if text in BUILT_AT_RUN_TIME:
        return BUILT_AT_RUN_TIME[text]
    try:
        value = eval(text, vars(module))  # our own source: names of the vocabulary
    except Exception:  # not a topic (a triple of something else, a variable)
        return []
    return (
        [TOPIC_OF_CONCRETE[value]] if isinstance(value, str) and value in TOPIC_OF_CONCRETE else []
    )


def _keys(expr: ast.expr, function: ast.AST, module: ModuleType) -> set[str] | None:
    if isinstance(expr, ast.Dict):
        return {k.value for k in expr.keys if isinstance(k, ast.Constant)}
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        left, right = _keys(expr.left, function, module), _keys(expr.right, function, module)
        return (left or set()) | (right or set())
    if isinstance(expr, ast.Name):
        assigns = [n for n in ast.walk(function) if isinstance(n, ast.Assign)]
        given = [
            a.value
            for a in assigns
            if any(isinstance(t, ast.Name) and t.id == expr.id for t in a.targets)
        ]
        if len(given) != 1:
            return None
        value = given[0]
        if isinstance(value, ast.Tuple) and len(value.elts) == 3:
            value = value.elts[1]  # a (topic, payload, id) triple: its payload
        keys = _keys(value, function, module)
        for a in assigns:  # name["key"] = ..., name[1]["key"] = ...
            target = a.targets[0]
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                inside = {n.id for n in ast.walk(target.value) if isinstance(n, ast.Name)}
                if expr.id in inside and keys is not None:
                    keys.add(target.slice.value)
        return keys
    if isinstance(expr, ast.Call):
        called = ast.unparse(expr.func)
        try:
            function_ = eval(called, vars(module))  # our own source
        except Exception:  # a method of an object: not resolved here
            return None
        try:
            return returned_keys(function_)
        except (AssertionError, TypeError, OSError):
            return None
    return None


TOPIC_OF_CONCRETE = {concrete(topic): topic for topic in topics.EVERY}


def built() -> dict[str, set[str]]:
    """Documented topic -> the payload fields the code builds for it."""
    found: dict[str, set[str]] = {}

    def add(topic: str, keys) -> None:
        found.setdefault(topic, set()).update(keys)

    for module in PUBLISHING:
        for topic, keys in published_keys(module).items():
            add(topic, keys)
    for topic in (topics.observation("<node>", "<service>"), topics.node_check("<node>")):
        add(topic, Observation.model_fields)
    add(topics.heartbeat("<node>"), Heartbeat.model_fields)
    for kind in ("node", "service"):
        add(topics.world(kind, "<name>"), returned_keys(world_fold.Change.payload))
    add(topics.desired_node("<node>"), returned_keys(slices.payload))
    add(topics.DRIFT_REPORT, returned_keys(evaluation.report))
    add(topics.DRIFT_GAVE_UP, returned_keys(evaluation.gave_up))
    add(
        topics.action(states.RECOMMENDED), [f.name for f in dataclasses.fields(plan.Recommendation)]
    )
    for topic in (topics.REQUEST_APPROVE, topics.REQUEST_REJECT):
        add(topic, returned_keys(decisions.request))
    add(topics.BUS_STATS, returned_keys(broker.Broker.status))
    add(topics.BUS_ALARM, returned_keys(space.Guard.alarm))
    add(topics.BUS_CLOCK, returned_keys(wallclock.payload))
    add(topics.BUS_RETENTION, returned_keys(retention.Done.payload))
    return found


BUILT = built()


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.topic)
def test_the_payload_fields_are_what_the_code_builds(row):
    assert row.topic in BUILT, f"{row.topic}: no place that builds its payload was found"
    assert set(row.fields) == BUILT[row.topic]


def test_the_payload_scan_reads_the_queue_and_the_executor():
    """The scan is not vacuous: it finds what the queue and the executor build, by name."""
    assert BUILT[topics.action(states.PENDING)] == {"id"}
    assert BUILT[topics.action(states.REFUSED)] >= {"request", "reason"}  # set after the fact
    assert BUILT[topics.action(states.FAILED)] >= {"exit_code", "log", "seconds"}
    assert "chunk" in BUILT[topics.ACTION_OUTPUT]
