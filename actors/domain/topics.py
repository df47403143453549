"""Every topic of the control plane, named once: what its parts publish and follow.

A topic is a dotted name, and a reader follows prefixes (``action.`` takes every
``action.*``). Names with a part in them (a node, a service) are built by the functions
here. ``EVERY`` lists them all, the parts written ``<node>``, ``<service>``, ``<name>``:
``docs/topics.md`` documents each with its publisher, its consumers and its payload, and
``tests/actors/test_topics_doc.py`` checks that against this module and
``actors.domain.publishers`` (who may publish which). The broker's own (``bus.*``) come from
``bus.topics``: the bus knows nothing of the actors.

Pure: names only.
"""

from __future__ import annotations

from actors.domain import states
from bus import topics as bus_topics

# -- observations: the agents' (``obs.node.<node>.*``), and anyone's (``obs.*``) --------------

OBS = "obs."
NODE_OBS = "obs.node."


def observation(node: str, service: str) -> str:
    """A service's check, as the agent of its node saw it."""
    return f"{NODE_OBS}{node}.service.{service}"


def node_check(node: str) -> str:
    """A node's own checks (disk...)."""
    return f"{NODE_OBS}{node}.check"


def heartbeat(node: str) -> str:
    """The agent of ``node`` is alive, and what it found unchanged."""
    return f"{NODE_OBS}{node}.agent"


# -- the world: a change of health, from the observer ------------------------------------------

WORLD = "world."


def world(kind: str, name: str) -> str:
    """``kind``: ``node`` or ``service``."""
    return f"{WORLD}{kind}.{name}"


# -- the desired state and the drift, from the supervisor --------------------------------------

DESIRED = "desired."
DESIRED_REVISION = "desired.revision"
DESIRED_ERRORS = "desired.errors"
DESIRED_NODE = "desired.node."


def desired_node(node: str) -> str:
    """``node``'s slice of the inventory (``slices``)."""
    return DESIRED_NODE + node


DRIFT = "drift."
DRIFT_REPORT = "drift.report"
DRIFT_GAVE_UP = "drift.gave_up"

# -- actions: ``action.<state>`` from the queue and the executor, requests from operators -----

ACTION = "action."
OUTPUT = "output"  # the one ``action.*`` that is no state: a chunk of a run's output
ACTION_OUTPUT = ACTION + OUTPUT
ACTION_REQUEST = "action.request."
APPROVE, REJECT = "approve", "reject"  # what an operator may request
REQUEST_APPROVE = ACTION_REQUEST + APPROVE
REQUEST_REJECT = ACTION_REQUEST + REJECT


def action(kind: str) -> str:
    """``action.<kind>``: ``kind`` a state of ``states.ALL`` (the action is in it now) or
    ``OUTPUT``."""
    return ACTION + kind


def action_kind(topic: str) -> str:
    """What an ``action.*`` topic says: the state, ``output``, or ``request.<kind>``."""
    return topic.removeprefix(ACTION)


def request(kind: str) -> str:
    """``action.request.<kind>``, ``kind`` one of ``APPROVE``, ``REJECT``."""
    return ACTION_REQUEST + kind


ACTIONS = (*(action(state) for state in states.ALL), ACTION_OUTPUT)

# -- the broker's own ---------------------------------------------------------------------------

BUS = bus_topics.PREFIX
BUS_STATS = bus_topics.STATS
BUS_ALARM = bus_topics.ALARM
BUS_CLOCK = bus_topics.CLOCK
BUS_RETENTION = bus_topics.RETENTION
BUS_RECOVERED = bus_topics.RECOVERED

OWNED = (NODE_OBS, WORLD, DESIRED, DRIFT, ACTION, BUS)  # the control plane's own prefixes

EVERY = (
    observation("<node>", "<service>"),
    node_check("<node>"),
    heartbeat("<node>"),
    world("node", "<name>"),
    world("service", "<name>"),
    DESIRED_REVISION,
    DESIRED_ERRORS,
    desired_node("<node>"),
    DRIFT_REPORT,
    DRIFT_GAVE_UP,
    *ACTIONS,
    REQUEST_APPROVE,
    REQUEST_REJECT,
    BUS_STATS,
    BUS_ALARM,
    BUS_CLOCK,
    BUS_RETENTION,
    BUS_RECOVERED,
)
