"""The world: the health of every node and service, as a deterministic fold of the bus.

``apply(world, message)`` reads nothing but the world and the message: no clock (time is the
broker's stamp on each message), no I/O, no sockets. So the world rebuilt from the event log
is the world that was built live, and ``world_codec.to_dict`` of both gives equal JSON,
byte for byte.

Stored times (``since``, ``last_seen``) are the stamps: the broker's wall clock as it was.
Durations are measured on the world's ``clock``: the latest stamp less the steps of that
wall clock announced so far (``bus.clock``), never going back. So a clock set back or
forward neither holds nor hastens a node's silence.

What is folded (``PREFIXES``):

- ``obs.node.<n>.agent``: an agent's heartbeat (``Heartbeat``). The node is seen: healthy,
  or degraded while one of its own checks fails. The checks it names as ``unchanged`` (they
  ran again and found what they last reported) are seen again: ``last_seen`` is the
  heartbeat's time, ``last_seq`` its ``since`` (a seq stored before they ran), never lower
  than before; their results stay as they are.
- ``obs.node.<n>.check``: a node's own check, such as disk (``Observation``, no service).
- ``obs.node.<n>.service.<s>``: a service's check (``Observation``); check id ``state`` is the
  service's own state probe (container, unit, process).
- ``desired.node.<n>``: node n's slice of the desired state (``actors.domain.slices``), from
  the supervisor only (``publishers.may_publish``): what each of its services should be,
  ``running`` or ``stopped``. It replaces what the last slice of that node said.
- ``bus.clock``: a step of the broker's wall clock, taken off the stamps that follow.
- anything else, ``bus.stats`` above all (the broker sends one every second): only moves the
  world's clock. A node whose last heartbeat is more than ``interval * missed_intervals``
  seconds older than that clock turns ``unknown``, and so do its services.

Health of a service is judged against its desired state (that of its name on the node it is
observed on; ``running`` when no slice declares it). No observation → unknown; its node
unknown → unknown. Declared stopped: its ``state`` check failing (not running, not found) →
healthy, "stopped, as desired"; ok → degraded, "running, declared stopped"; not observed,
or an error or a timeout → unknown; its other checks do not count. Otherwise: its ``state``
check not ok (fail, error or timeout) → down; every check ok → healthy; every check failing
→ down; some → degraded. A node with no heartbeat yet is unknown (and so are its services);
a node whose agent reports is healthy, or degraded while one of its own checks fails (a
heartbeat means the machine is up, so a node is never "down"). The reason is one line: the
first failing check (the state probe first, then by id) and how many more fail. A service
seen on another node than before has moved: its old checks are dropped.

``apply`` returns the real changes of health, at most one per node or service per message,
nodes first, then services, each in name order. ``since`` moves only with them.

A payload that does not validate is skipped and counted (``world.rejected``), never raised;
nor are NaN and infinity accepted (pydantic lets them through; JSON has no such numbers).
Messages at or below ``world.seq`` are ignored, so resuming from a checkpoint is idempotent.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from actors.domain import publishers, slices, states, topics
from actors.domain.observations import NODE_CHECKS, Heartbeat, Observation
from bus import wallclock
from bus.envelope import Message

PREFIXES = (topics.OBS, topics.BUS_STATS, topics.BUS_CLOCK, topics.DESIRED_NODE)
"""The topics the observer folds: observations, the broker's clock ticks and steps, and the
desired state node by node."""

STATE_CHECK = "state"
NO_HEARTBEAT = "no heartbeat from its agent yet"
NO_OBSERVATION = "no observation yet"
STOPPED_AS_DESIRED = "stopped, as desired"
RUNNING_NOT_DESIRED = "running, declared stopped"
_NONE_DECLARED: dict[str, str] = {}

# Validators built once, called directly: 2.5 µs an observation here, where
# ``Observation.model_validate`` takes 3.2 µs and ``TypeAdapter.validate_python`` 2.8 µs.
_validate_observation = TypeAdapter(Observation).validator.validate_python
_validate_heartbeat = TypeAdapter(Heartbeat).validator.validate_python


# -- the state --------------------------------------------------------------------------------
# Plain slotted dataclasses, not pydantic models: a rebuild folds a million messages in about
# ten seconds, and creating or changing a pydantic model costs several times more. Payloads are
# validated with pydantic on the way in; what is stored here is already checked.


@dataclass(slots=True)
class CheckState:
    """The latest result of one check. Times are the broker's, except ``observed_at``
    (the agent's clock, as reported)."""

    outcome: str  # ok | fail | error | timeout
    detail: str
    facts: dict[str, Any]
    latency_ms: float | None
    observed_at: float
    since: float  # when ``outcome`` last changed
    since_seq: int  # the message that changed it
    # When it was last observed: the time of the message that said so (its result, or a
    # heartbeat naming it unchanged), and a seq stored before it ran (the result's own, or
    # that heartbeat's ``since``): "observed after seq X" is ``last_seq > X``.
    last_seen: float
    last_seq: int


@dataclass(slots=True)
class ServiceState:
    node: str
    health: str = states.UNKNOWN
    reason: str = NO_OBSERVATION  # one human line
    since: float = 0.0  # when ``health`` last changed
    since_seq: int = 0
    checks: dict[str, CheckState] = field(default_factory=dict)
    last_seen: float = 0.0  # the last observation of any of its checks
    last_seq: int = 0


@dataclass(slots=True)
class NodeState:
    health: str = states.UNKNOWN
    reason: str = NO_HEARTBEAT
    since: float = 0.0
    since_seq: int = 0
    last_seen: float | None = None  # the last heartbeat (broker time); None: never
    last_seq: int = 0  # the last heartbeat's seq
    last_clock: float | None = None  # the world's clock at the last heartbeat
    interval: float | None = None  # seconds between heartbeats, as the agent announced
    missed_intervals: int | None = None  # heartbeats missed before the node is unknown
    version: str = ""  # the agent's
    checks: dict[str, CheckState] = field(default_factory=dict)  # the node's own (disk...)


@dataclass(slots=True)
class World:
    seq: int = 0  # the last message applied
    time: float = 0.0  # its broker time (the wall clock: it goes back when that does)
    clock: float = 0.0  # the world's clock: max(time - steps) so far; durations are on it
    steps: float = 0.0  # the steps of the broker's wall clock announced so far (bus.clock)
    nodes: dict[str, NodeState] = field(default_factory=dict)
    services: dict[str, ServiceState] = field(default_factory=dict)
    # node -> service -> "running" | "stopped": the last desired.node.<node> slice of each
    desired: dict[str, dict[str, str]] = field(default_factory=dict)
    rejected: int = 0  # payloads that did not validate
    last_rejected: str = ""  # why the last one did not
    # Derived, not saved: no node that still reports goes silent before this time, so most
    # messages need no look at the nodes at all. Never above the true earliest deadline.
    deadline: float = field(default=math.inf, repr=False, compare=False)


class Change(NamedTuple):
    """A real change of a node's or a service's health (not every observation)."""

    kind: str  # 'node' | 'service'
    name: str
    health: str
    previous: str  # 'unknown' when the node or service is new
    reason: str
    since: float
    cause_seq: int  # the message that caused it

    @property
    def topic(self) -> str:
        return topics.world(self.kind, self.name)

    @property
    def message_id(self) -> str:
        """The same change derived again (after a crash) gets the same id: stored once."""
        return f"world-{self.cause_seq}-{self.kind}-{self.name}"

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "health": self.health,
            "previous": self.previous,
            "reason": self.reason,
            "since": self.since,
            "cause_seq": self.cause_seq,
        }


# -- the fold ---------------------------------------------------------------------------------


def apply(world: World, message: Message) -> list[Change]:
    """Fold one message into ``world``, in place; return the changes of health it caused.

    In place because a copy per message would not fit the rebuild budget (a million
    messages in under 10 s): callers that need the old world keep ``world_codec.to_dict`` of it.

    Two steps: record what the message says (and which nodes the clock made silent), then
    settle the health of what it touched, nodes first, then services, each once. So a
    service always sees its node's health as of this message, and nothing flips twice.
    """
    seq, time, topic, _, _, payload, _ = message  # (the last: who sent it)
    if seq <= world.seq:
        return []
    world.seq = seq
    world.time = time
    if topic == wallclock.TOPIC:  # before the clock moves: this stamp is after the step
        _on_step(world, message)
    clock = time - world.steps
    if clock > world.clock:
        world.clock = clock
    node = service = None  # what the message touched, to settle
    if topic.startswith(topics.NODE_OBS):
        parts = topic.split(".")
        if len(parts) == 5:
            if parts[3] == "service":
                service = _on_service_check(world, message, parts[2], parts[4])
        elif len(parts) == 4:
            if parts[3] == "agent":
                node = _on_heartbeat(world, message, parts[2])
            elif parts[3] == "check":
                node = _on_node_check(world, message, parts[2])
    elif topic.startswith(topics.DESIRED_NODE):  # rare: not on the path of every observation
        touched = _on_slice(world, message, topic[len(topics.DESIRED_NODE) :])
        silent = _expire(world) if world.clock > world.deadline else ()
        return _settle(world, None, None, silent, touched) if touched or silent else []
    silent = _expire(world) if world.clock > world.deadline else ()
    if node is None and service is None and not silent:
        return []
    return _settle(world, node, service, silent)


def _settle(
    world: World,
    node: str | None,
    service: str | None,
    silent: Sequence[str],
    touched: Sequence[str] = (),
) -> list[Change]:
    """``touched``: services whose desired state changed (none with ``service``)."""
    # In name order, not dict order: a world loaded from disk has its dicts sorted, a world
    # built live in the order things appeared, and both must report the same changes.
    changes: list[Change] = []
    nodes = [node] if node is not None else []
    nodes += sorted(name for name in silent if name != node)
    moved = set()
    for name in nodes:
        change = _settle_node(world, name, world.nodes[name])
        if change is not None:
            changes.append(change)
            moved.add(name)
    services = [service] if service is not None else []
    if moved:
        services += sorted(n for n, s in world.services.items() if s.node in moved and n != service)
    if touched:
        services = sorted(set(services).union(touched))
    for name in services:
        change = _settle_service(world, name, world.services[name])
        if change is not None:
            changes.append(change)
    return changes


def _on_service_check(world: World, message: Message, node: str, service: str) -> str | None:
    """Record a service's check; the service's name if its health or reason may move."""
    observation = _validate(world, message, node, service)
    if observation is None:
        return None
    state = world.services.get(service)
    if state is None or state.node != node:
        state = _arriving(world, service, node)
    state.last_seen = world.time
    state.last_seq = world.seq
    return service if _record(state.checks, observation, world) else None


def _arriving(world: World, service: str, node: str) -> ServiceState:
    """A service seen for the first time, or on another node than before."""
    _node(world, node)
    state = world.services.get(service)
    if state is None:
        state = world.services[service] = ServiceState(node, since=world.time, since_seq=world.seq)
    else:  # moved: the old node's results are moot
        state.node = node
        state.checks = {}
    return state


def _on_slice(world: World, message: Message, node: str) -> list[str]:
    """Take a node's slice of the desired state; the services whose desired state moved."""
    if not publishers.may_publish(message.source, message.topic):
        _reject(
            world,
            message,
            f"only the supervisor declares the desired state, not {message.source!r}",
        )
        return []
    try:
        wanted = slices.desired_states(message.payload, node)
    except ValueError as err:
        _reject(world, message, str(err))
        return []
    before = world.desired.pop(node, _NONE_DECLARED)
    if wanted:
        world.desired[node] = wanted
    return [
        name
        for name, state in world.services.items()
        if state.node == node and before.get(name) != wanted.get(name)
    ]


def _on_heartbeat(world: World, message: Message, node: str) -> str | None:
    """Record a heartbeat; the node's name if its health or reason may move."""
    try:
        beat = _validate_heartbeat(message.payload)
    except ValidationError as err:
        _reject(world, message, _first_error(err))
        return None
    if beat.node != node:
        _reject(world, message, "node does not match the topic")
        return None
    if beat.interval - beat.interval != 0.0:
        _reject(world, message, "interval: not a finite number")
        return None
    state = _node(world, node)
    same = state.interval == beat.interval and state.missed_intervals == beat.missed_intervals
    state.last_seen = world.time
    state.last_seq = world.seq
    state.last_clock = world.clock
    state.interval = beat.interval
    state.missed_intervals = beat.missed_intervals
    state.version = beat.version
    deadline = deadline_of(state)
    if deadline < world.deadline:
        world.deadline = deadline
    if beat.unchanged and beat.since is not None and beat.since < world.seq:
        _seen_again(world, node, state, beat.unchanged, beat.since)
    # A node that reports and reported before, at the same pace: nothing can move.
    return None if same and state.health != states.UNKNOWN else node


def _seen_again(
    world: World, node: str, state: NodeState, unchanged: dict[str, list[str]], since: int
) -> None:
    """The checks a heartbeat names as run again with the same result: seen, results kept.
    Only what the world already has of this node counts (a check never reported in full,
    or a service seen on another node since, is skipped)."""
    for service_name, check_ids in unchanged.items():
        if service_name == NODE_CHECKS:
            owner, checks = None, state.checks
        else:
            owner = world.services.get(service_name)
            if owner is None or owner.node != node:
                continue
            checks = owner.checks
        for check_id in check_ids:
            check = checks.get(check_id)
            if check is None:
                continue
            check.last_seen = world.time
            if since > check.last_seq:
                check.last_seq = since
            if owner is not None:
                owner.last_seen = world.time
                if since > owner.last_seq:
                    owner.last_seq = since


def _on_step(world: World, message: Message) -> None:
    step = wallclock.step_of(message.payload)
    if not publishers.may_publish(message.source, message.topic) or step is None:
        _reject(world, message, "not a step of the broker's clock")
    else:
        world.steps += step


def _on_node_check(world: World, message: Message, node: str) -> str | None:
    observation = _validate(world, message, node, None)
    if observation is None:
        return None
    return node if _record(_node(world, node).checks, observation, world) else None


def _validate(world: World, message: Message, node: str, service: str | None) -> Observation | None:
    try:
        observation = _validate_observation(message.payload)
    except ValidationError as err:
        _reject(world, message, _first_error(err))
        return None
    if observation.node != node or observation.service != service:
        where = "node" if observation.node != node else "service"
        _reject(world, message, f"{where} does not match the topic")
        return None
    # Pydantic lets NaN and infinity through; they would break equality and JSON. x - x is
    # 0.0 for a finite float, NaN otherwise (and cheaper than math.isfinite per field).
    latency = observation.latency_ms
    if (observation.observed_at - observation.observed_at) + (
        observation.interval - observation.interval
    ) or (latency is not None and latency - latency):
        _reject(world, message, "a number is not finite (NaN or infinity)")
        return None
    for value in observation.facts.values():
        if type(value) is float and value - value:
            _reject(world, message, "facts: a number is not finite (NaN or infinity)")
            return None
    return observation


def _record(checks: dict[str, CheckState], observation: Observation, world: World) -> bool:
    """Store an observation (made at ``world.time``); True if that may change the health or
    reason of its owner: the check is new, its outcome changed, or it fails differently."""
    check = checks.get(observation.check)
    if check is None:
        checks[observation.check] = CheckState(
            observation.outcome,
            observation.detail,
            observation.facts,
            observation.latency_ms,
            observation.observed_at,
            world.time,
            world.seq,
            world.time,
            world.seq,
        )
        return True
    outcome, detail, facts = observation.outcome, observation.detail, observation.facts
    if check.outcome != outcome:
        check.outcome = outcome
        check.since = world.time
        check.since_seq = world.seq
        relevant = True
    else:
        relevant = outcome != "ok" and (
            check.detail != detail or check.facts.get("state") != facts.get("state")
        )
    check.detail = detail
    check.facts = facts
    check.latency_ms = observation.latency_ms
    check.observed_at = observation.observed_at
    check.last_seen = world.time
    check.last_seq = world.seq
    return relevant


def _node(world: World, name: str) -> NodeState:
    state = world.nodes.get(name)
    if state is None:
        state = world.nodes[name] = NodeState(since=world.time, since_seq=world.seq)
    return state


def deadline_of(state: NodeState) -> float:
    """The one formula for silence: the node is silent once the clock is past this."""
    assert state.last_clock is not None and state.interval is not None
    return state.last_clock + state.interval * (state.missed_intervals or 1)


def _expire(world: World) -> list[str]:
    """The clock passed some node's deadline: the nodes that just went silent (still
    marked otherwise); and the next deadline."""
    earliest = math.inf
    silent = []
    for name, state in world.nodes.items():
        if state.last_clock is None:
            continue
        deadline = deadline_of(state)
        if world.clock > deadline:
            if state.health != states.UNKNOWN:
                silent.append(name)
        elif deadline < earliest:
            earliest = deadline
    world.deadline = earliest
    return silent


def _node_health(world: World, state: NodeState) -> tuple[str, str]:
    if state.last_clock is None or state.last_seen is None:  # (set together)
        return states.UNKNOWN, NO_HEARTBEAT
    if world.clock > deadline_of(state):
        return states.UNKNOWN, f"agent silent since {iso(state.last_seen)}"
    failing = _failing(state.checks)
    if failing:
        return states.DEGRADED, failing
    every = f"heartbeat every {state.interval:g} s"
    if state.checks:
        return states.HEALTHY, f"{every}, {_all_ok(len(state.checks))}"
    return states.HEALTHY, every


def _service_health(world: World, name: str, state: ServiceState) -> tuple[str, str]:
    node = world.nodes.get(state.node)
    if node is None or node.health == states.UNKNOWN:
        return states.UNKNOWN, f"node {state.node}: {node.reason if node else NO_HEARTBEAT}"
    checks = state.checks
    if not checks:
        return states.UNKNOWN, NO_OBSERVATION
    if desired_of(world, name, state) == "stopped":
        return _stopped_health(checks.get(STATE_CHECK))
    own = checks.get(STATE_CHECK)
    if own is not None and own.outcome != "ok":
        return states.DOWN, _failing(checks)
    failing = _failing(checks)
    if not failing:
        return states.HEALTHY, _all_ok(len(checks))
    if all(c.outcome != "ok" for c in checks.values()):
        return states.DOWN, failing
    return states.DEGRADED, failing


def desired_of(world: World, name: str, state: ServiceState) -> str | None:
    """What the service should be on the node it is observed on; None if undeclared."""
    return world.desired.get(state.node, _NONE_DECLARED).get(name)


def _stopped_health(own: CheckState | None) -> tuple[str, str]:
    """A service declared stopped: only its state probe counts."""
    if own is None:
        return states.UNKNOWN, "declared stopped; its state not observed yet"
    if own.outcome == "fail":
        return states.HEALTHY, STOPPED_AS_DESIRED
    if own.outcome == "ok":
        return states.DEGRADED, RUNNING_NOT_DESIRED
    return states.UNKNOWN, f"declared stopped; {_failing({STATE_CHECK: own})}"


def _failing(checks: dict[str, CheckState]) -> str:
    """The reason line for the failing checks ('' if none): the state probe first, then by
    check id, and how many more fail."""
    ids = sorted(cid for cid, c in checks.items() if c.outcome != "ok")
    if not ids:
        return ""
    if STATE_CHECK in ids:
        ids.remove(STATE_CHECK)
        ids.insert(0, STATE_CHECK)
    first = ids[0]
    line = f"{first}: {_what(first, checks[first])}"
    if len(ids) > 1:
        line += f" (and {len(ids) - 1} more failing)"
    return line


def _what(check_id: str, check: CheckState) -> str:
    if check_id == STATE_CHECK:
        state = check.facts.get("state")
        if isinstance(state, str) and state:
            return state
    text = check.detail or check.outcome
    return " ".join(text.split()) if "\n" in text or "\r" in text else text


def _all_ok(count: int) -> str:
    return "1 check ok" if count == 1 else f"all {count} checks ok"


def _settle_node(world: World, name: str, state: NodeState) -> Change | None:
    health, reason = _node_health(world, state)
    state.reason = reason
    if health == state.health:
        return None
    previous = state.health
    state.health, state.since, state.since_seq = health, world.time, world.seq
    return Change("node", name, health, previous, reason, world.time, world.seq)


def _settle_service(world: World, name: str, state: ServiceState) -> Change | None:
    health, reason = _service_health(world, name, state)
    state.reason = reason
    if health == state.health:
        return None
    previous = state.health
    state.health, state.since, state.since_seq = health, world.time, world.seq
    return Change("service", name, health, previous, reason, world.time, world.seq)


def _reject(world: World, message: Message, reason: str) -> None:
    """Count a payload that does not validate, and remember why (returns None)."""
    world.rejected += 1
    world.last_rejected = f"seq {message.seq} {message.topic}: {reason}"


def _first_error(err: ValidationError) -> str:
    first = err.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"{where}: {first['msg']}"


def iso(timestamp: float) -> str:
    """A broker time as UTC ISO 8601, to the second (for reasons people read)."""
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # not a date this machine can show
        return f"{timestamp!r} (epoch seconds)"
