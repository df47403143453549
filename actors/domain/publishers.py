"""Who may say what on the bus: the one table every reader applies to what it receives.

The control plane owns some topics: only the agent of node N reports ``obs.node.N.*``, only
the observer ``world.*``, only the supervisor (which hosts the action queue) ``desired.*``,
``drift.*`` (``drift.report``, ``drift.gave_up``) and the queue's ``action.*``, only the
executor the run's ``action.*``, only an operator's channel (``cli:NAME``, ``ui:NAME``)
``action.request.*``, only the broker ``bus.*``. Any other topic is anyone's (``homelab emit``, the inbox, scripts), and a reader
shows it as what it is: a message from that source, never as the control plane's own.

Pure: a message that slipped past the broker (an old log, a forged source) is ignored by
whoever reads it, with ``may_publish`` as the test.
"""

from __future__ import annotations

from actors.domain import states, topics

QUEUE = "supervisor"  # hosts the action queue, recommends, and says what the drift is
RUNNER = "executor"
OPERATOR_CHANNELS = ("cli:", "ui:")

# action.<kind> -> the sources that may publish it
ACTION_PUBLISHERS: dict[str, tuple[str, ...]] = {
    states.RECOMMENDED: (QUEUE,),
    states.PENDING: (QUEUE,),
    states.APPROVED: (QUEUE,),
    states.REJECTED: (QUEUE,),
    states.EXPIRED: (QUEUE,),
    states.REFUSED: (QUEUE, RUNNER),  # the queue refuses a request, the executor an approval
    states.OBSOLETE: (QUEUE, RUNNER),
    states.RUNNING: (RUNNER,),
    topics.OUTPUT: (RUNNER,),
    states.SUCCEEDED: (RUNNER,),
    states.FAILED: (RUNNER,),
    states.TIMED_OUT: (RUNNER,),
    # the executor, of a run it finds at start; the queue, of a run it heard no end of
    states.INTERRUPTED: (RUNNER, QUEUE),
}
OWNED_PREFIXES = topics.OWNED


def may_publish(source: str, topic: str) -> bool:
    """True if ``source`` may publish ``topic``: the control plane's topics only from the
    part of it that owns them, any other topic from anyone."""
    if topic.startswith(topics.NODE_OBS):
        node = topic.split(".", 3)[2]
        return bool(node) and source == f"agent:{node}"
    if topic.startswith(topics.WORLD):
        return source == "observer"
    if topic.startswith((topics.DESIRED, topics.DRIFT)):
        return source == QUEUE
    if topic.startswith(topics.BUS):
        return source == "broker"
    if topic.startswith(topics.ACTION_REQUEST):
        return is_operator_channel(source)
    if topic.startswith(topics.ACTION):
        return source in ACTION_PUBLISHERS.get(topics.action_kind(topic), ())
    return True


def is_operator_channel(source: str) -> bool:
    """``cli:NAME`` or ``ui:NAME``: where an operator's decisions come from."""
    return any(source.startswith(c) and len(source) > len(c) for c in OPERATOR_CHANNELS)


def owned(topic: str) -> bool:
    """A topic of the control plane's own (as opposed to one any tool may publish)."""
    return topic.startswith(OWNED_PREFIXES)
