"""What agents publish: a check's result when it changed, and a heartbeat per agent.

Topics: ``obs.node.<node>.service.<service>`` for a service's check,
``obs.node.<node>.check`` for a node's own checks (disk...), and ``obs.node.<node>.agent`` for
the agent's heartbeat. Payloads are validated with these models wherever they are read.

An agent sends a check's result in full (an ``Observation``) when it differs from the last
one it sent (outcome, detail or facts), and at least every few minutes anyway (the
refresh). A check that ran and found the same is named in the next heartbeat
(``Heartbeat.unchanged``), with ``since``: a seq the broker had stored before each of those
runs began. The world counts such a check as observed at ``since``, so "observed again after
an action ended" stays true to what ran when. A quiet homelab thus writes a heartbeat per
node per interval, not a message per check.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from actors.domain import topics
from actors.domain.inventory import Name

Outcome = Literal["ok", "fail", "error", "timeout"]
"""ok: the check passed. fail: it ran and found a problem (wrong status, port closed,
container stopped). error: it could not run (CLI missing, bad answer). timeout: cut off."""

FactValue = str | int | float | bool | None
MAX_DETAIL = 500
CheckId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
NODE_CHECKS = ""  # the key of a node's own checks in ``Heartbeat.unchanged``


class Observation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: Name
    service: Name | None = None
    check: CheckId
    outcome: Outcome
    detail: Annotated[str, Field(max_length=MAX_DETAIL)] = ""
    latency_ms: Annotated[float, Field(ge=0)] | None = None
    facts: dict[Annotated[str, Field(max_length=64)], FactValue] = Field(
        default_factory=dict, max_length=32
    )
    interval: Annotated[float, Field(gt=0)]
    observed_at: float

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: Name
    interval: Annotated[float, Field(gt=0)]
    missed_intervals: Annotated[int, Field(ge=1)] = 3
    checks: Annotated[int, Field(ge=0)]
    started_at: float
    version: str = ""
    # service -> check ids ("" for the node's own): ran since the last heartbeat, each
    # begun after seq ``since`` was stored, and found what the agent last sent in full
    unchanged: dict[Literal[""] | Name, Annotated[list[CheckId], Field(max_length=256)]] = Field(
        default_factory=dict, max_length=4096
    )
    since: Annotated[int, Field(ge=0)] | None = None
    # an agent with no repository: the digest of the slice of the desired state it probes
    # by ("" none yet), so the supervisor sends the current one when they differ
    desired: Annotated[str, Field(max_length=64, pattern=r"^[0-9a-f]*$")] | None = None


def topic_for(observation: Observation) -> str:
    if observation.service is None:
        return topics.node_check(observation.node)
    return topics.observation(observation.node, observation.service)


def cut(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
