"""Who may publish what, by the identity the broker authenticated: the broker's half of
``publishers``.

A client proves a key; the allowlist gives the key a role (``bus.keys``). The source a
message claims must be one that role speaks as, and the topic one that source may publish
(``publishers.may_publish``, the table every reader applies too):

| role | speaks as | publishes |
|---|---|---|
| ``service:observer``, ``supervisor``, ``executor`` | that name | its own topics, and anyone's |
| ``service:ui`` | ``ui`` | anyone's (no decision: not ``action.request.*``) |
| ``agent:N`` | ``agent:N`` | only ``obs.node.N.*`` (observations and its heartbeat) |
| ``operator:N`` | ``cli:N``, ``ui:N`` (the UI, with the key of N's session) | ``action.request.*``, and anyone's |
| ``tool:N`` (``homelab emit``, scripts, the inbox) | any source that is not the control plane's | anyone's |

"Anyone's": a topic outside the control plane's own (``publishers.owned``). ``bus.*`` is the
broker's alone, and never comes in from a client. Pure: the broker gets ``refusal`` as a
function (``bus`` knows nothing of actors).
"""

from __future__ import annotations

from actors.domain import publishers, topics
from bus import envelope

SERVICE_SOURCES = {  # service:NAME -> the sources it speaks as
    "service:broker": ("broker",),
    "service:observer": ("observer",),
    "service:supervisor": (publishers.QUEUE,),
    "service:executor": (publishers.RUNNER,),
}
INBOX = "tool:inbox"  # files in inbox/ are published as this role


def refusal(role: str, source: str, topic: str) -> str | None:
    """Why ``role`` may not publish ``topic`` as ``source``; None if it may."""
    if not speaks_as(role, source):
        return f"{role} may not publish as {source!r}"
    kind, _, name = role.partition(":")
    if kind == "agent" and not topic.startswith(f"{topics.NODE_OBS}{name}."):
        return f"{role} publishes only {topics.NODE_OBS}{name}.*, not {topic}"
    if not publishers.may_publish(source, topic):
        return f"{topic} is not {role}'s to publish"
    return None


def speaks_as(role: str, source: str) -> bool:
    """True if a client of ``role`` may claim ``source``."""
    kind, _, name = role.partition(":")
    if role in SERVICE_SOURCES:
        return source in SERVICE_SOURCES[role]
    if role == "service:ui":
        return source == "ui"
    if kind == "agent":
        return source == f"agent:{name}"
    if kind == "operator":
        return source in (f"cli:{name}", f"ui:{name}")
    if kind == "tool":
        return not envelope.is_reserved_source(source)
    return False
