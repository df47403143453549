"""The read model's results. Frozen and strict: they are built here and only rendered by
the CLI and the UI. ``model_dump(mode="json")`` is what ``--json`` and ``/summary`` print."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from actors.domain import drivers, states


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- the summary (homelab status, GET /summary) --------------------------------------------


class Brief(View):
    health: str
    reason: str
    since: float | None


class ServiceBrief(View):
    node: str | None
    health: str
    reason: str
    since: float | None
    desired: str | None = None  # running | stopped, as the inventory says; None: undeclared


class Counts(View):
    healthy: int = 0
    degraded: int = 0
    down: int = 0
    unknown: int = 0


class DriftBrief(View):
    count: int
    items: list[str]
    recommended: int
    gave_up: list[str] = []  # "db: 3 fixes had no effect": the supervisor stopped trying


class BusStatus(View):
    """The broker's answer to a ping (its fields as it sends them), or why there is none."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the broker's own fields, or error
    endpoint: str
    reachable: bool

    @property
    def error(self) -> str | None:
        return (self.model_extra or {}).get("error")

    @property
    def seq(self) -> int:
        return int((self.model_extra or {}).get("seq", 0))

    @property
    def rate(self) -> float:
        return float((self.model_extra or {}).get("rate", 0.0))

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """The broker's active alarms (``bus.alarm``): a disk below its reserve or full."""
        return list((self.model_extra or {}).get("alarms") or [])


class ActionCounts(View):
    pending: int = 0
    running: int = 0  # approved or running


class History(View):
    """How much of the event log is kept (``bus.retention``), as the broker last said."""

    first_seq: int  # the oldest record still held
    first_day: str  # its UTC day, YYYY-MM-DD
    segments: int
    compressed: int  # segments compressed (all but the newest, once the broker got to them)
    days: float | None = None  # the policy: days kept (0: no limit), None: not said yet
    bytes: int | None = None  # and bytes (0: no limit)
    held_by: str | None = None  # "observer needs the log from seq N": over its limit, kept


class DiskUse(View):
    """``actors.readmodel.disk.usage``: the data root on disk."""

    root_bytes: int  # everything under the data root
    parts: dict[str, int]  # events, actions, logs, state, world, ui, inbox
    free_bytes: int  # free on its file system (for this user)
    total_bytes: int  # that file system's size
    history: History | None = None  # None: no event log yet

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0


class Summary(View):
    nodes: dict[str, Brief]
    services: dict[str, ServiceBrief]
    counts: dict[str, Counts]
    world_seq: int
    observed: bool  # the observer has written world/ at least once
    desired: dict[str, Any]  # revision and inventory problems, as the supervisor wrote them
    drift: DriftBrief
    actions: ActionCounts = ActionCounts()
    bus: BusStatus
    disk: DiskUse | None = None  # the data root's disk use and the log's history


# -- the world -------------------------------------------------------------------------------


class CheckView(View):
    outcome: str
    detail: str
    facts: dict[str, Any]
    latency_ms: float | None
    observed_at: float
    since: float
    since_seq: int
    last_seen: float
    last_seq: int


class NodeView(View):
    name: str
    health: str
    reason: str
    since: float
    since_seq: int
    last_seen: float | None
    checks: dict[str, CheckView]


class ServiceView(View):
    name: str
    node: str
    health: str
    reason: str
    since: float
    since_seq: int
    last_seen: float
    checks: dict[str, CheckView]
    desired: str | None = None  # running | stopped, what health is judged against; None:
    # no slice of the desired state declares it (unmanaged, or not yet announced)


class WorldView(View):
    seq: int
    time: float
    nodes: list[NodeView]
    services: list[ServiceView]


# -- the action queue ------------------------------------------------------------------------


class ActionEvent(View):
    kind: str
    at: float
    by: str
    reason: str
    approval_hash: str = ""
    seq: int = 0  # the message that said it (0 in records written before it was kept)
    clock: float | None = None  # ``at`` on the bus's clock (None before it was kept)


DECISIONS = ("approve", "reject", "expire", "obsolete", "refuse")  # events that decide an action


class ActionView(View):
    """One action with its whole history, as ``actions/<id>.json`` holds it."""

    model_config = ConfigDict(extra="allow", frozen=True)  # details the planner adds
    id: str
    state: str
    type: str
    target: str
    commands: list[list[str]]
    revision: str
    hash: str
    approved_by: str = ""
    approved_at: float | None = None
    result: dict[str, Any] = {}
    history: list[ActionEvent] = []

    @property
    def command_text(self) -> str:
        return drivers.command_text(self.commands)

    @property
    def created(self) -> float:
        return self.history[0].at if self.history else 0.0

    @property
    def decision(self) -> ActionEvent | None:
        """The event that decided it (approved, rejected, expired, obsolete, refused by the
        executor); None while nobody has. An expiry is decided by nobody: its ``by`` is empty (``queue`` in
        records written before that), its reason says what ran out."""
        return next((e for e in reversed(self.history) if e.kind in DECISIONS), None)

    @property
    def state_text(self) -> str:
        """The state with who decided it, as the queue says it (``lifecycle.state_text``):
        ``approved by alice``, ``rejected by bob``, ``running (approved by alice)``."""
        decision = self.decision
        if self.state == states.APPROVED and self.approved_by:
            return f"approved by {self.approved_by}"
        if self.state == states.REJECTED and decision is not None and decision.by:
            return f"rejected by {decision.by}"
        if self.approved_by:
            return f"{self.state} (approved by {self.approved_by})"
        return self.state

    @property
    def ended(self) -> float:
        """When its last event happened: for an ended action, when it ended."""
        return self.history[-1].at if self.history else 0.0


class ActionDetail(View):
    action: ActionView
    output: str  # the end of logs/actions/<id>.log ("" before it ran)
    output_path: str | None


class ActionQueue(View):
    pending: list[ActionView]
    running: list[ActionView]  # approved or running
    history: list[ActionView]  # ended, newest first

    @property
    def all(self) -> list[ActionView]:
        return [*self.pending, *self.running, *self.history]


# -- drift -----------------------------------------------------------------------------------


class DriftView(View):
    service: str
    node: str
    kind: str
    detail: str
    since: float
    seqs: list[int]
    managed: bool
    settled: bool
    key: str
    # (aspect, desired, actual, matches) rows: state, image or version, each check; matches
    # says whether the actual side is what the desired side asks for (compare.Row)
    compared: list[tuple[str, str, str, bool]] = []


class RecommendationView(View):
    id: str
    type: str
    service: str
    node: str
    target: str
    commands: list[list[str]]
    reason: str
    drift: DriftView
    revision: str
    approval: str
    attempt: int
    escalated: bool
    definition: str = ""  # fingerprint of the service's desired definition
    previous: str = ""  # how the last fix of this drift ended ("a-... expired after ...")


class HeldView(View):
    drift: str  # the drift's key
    why: str
    gave_up: list[str] = []  # the fixes without effect, when the supervisor gave up on it


class GaveUpView(View):
    """A drift the supervisor gave up on: ``attempts`` fixes had no effect."""

    drift: str  # its key
    service: str
    kind: str
    attempts: int
    actions: list[str]


class Unobserved(View):
    service: str
    node: str
    why: str


class DriftReport(View):
    revision: str
    drifts: list[DriftView]
    recommended: list[RecommendationView]
    held: list[HeldView]
    drifted: int
    world_seq: int
    unobserved: list[Unobserved]
    gave_up: list[GaveUpView] = []

    @property
    def exit_code(self) -> int:
        """0 nothing drifts, 1 something does, 2 cannot tell (services not observed yet)."""
        if self.drifted:
            return 1
        return 2 if self.unobserved else 0
