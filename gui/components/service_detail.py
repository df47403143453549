"""One service's page: its health, its checks and its recent observations, newest first,
live from its agent's observations and heartbeats and from the observer's changes."""

from __future__ import annotations

import time

from nicegui import ui

from actors.domain import topics
from actors.readmodel import eventlog
from actors.readmodel.live.world import WorldFold
from actors.readmodel.models import ServiceView
from bus.envelope import Message
from gui import present, theme
from gui.components.world_table import columns, table

CHECK_COLUMNS = columns(
    ("check", "Check"),
    ("outcome", "Outcome"),
    ("detail", "Detail"),
    ("latency", "Latency (ms)"),
    ("since", "Since"),
    ("last_seen", "Last seen"),
)
OBSERVATION_COLUMNS = columns(
    ("seq", "Seq"),
    ("time", "Time"),
    ("check", "Check"),
    ("outcome", "Outcome"),
    ("detail", "Detail"),
    ("latency", "Latency (ms)"),
)


def check_rows(service: ServiceView, now: float) -> list[dict]:
    return [
        {
            "check": name,
            "outcome": c.outcome,
            "detail": c.detail,
            "latency": "" if c.latency_ms is None else round(c.latency_ms, 1),
            "since": present.since(c.since, now),
            "last_seen": present.since(c.last_seen, now),
        }
        for name, c in service.checks.items()
    ]


def observation_row(message: Message) -> dict:
    p = message.payload
    latency = p.get("latency_ms")
    return {
        "seq": message.seq,
        "time": present.absolute(message.time),
        "check": str(p.get("check", "")),
        "outcome": str(p.get("outcome", "")),
        "detail": str(p.get("detail", "")),
        "latency": round(latency, 1) if isinstance(latency, int | float) else "",
    }


def updated_check(row: dict, observation: dict) -> dict:
    """A check's row after a new observation of it (from the bus, before ``world/`` is
    written again): its outcome, detail, latency and when it was last seen."""
    seen = observation.get("observed_at")
    seen = float(seen) if isinstance(seen, int | float) else time.time()
    latency = observation.get("latency_ms")
    outcome = str(observation.get("outcome", ""))
    return row | {
        "outcome": outcome,
        "detail": str(observation.get("detail", "")),
        "latency": round(latency, 1) if isinstance(latency, int | float) else "",
        "last_seen": present.since(seen, time.time()),
        "since": row["since"] if outcome == row["outcome"] else present.since(seen, time.time()),
    }


class ServiceDetail:
    """One service: its health, its checks and its recent observations, newest first; a new
    observation updates both tables at once (before ``world/`` is written again), and a
    heartbeat that names a check as run again unchanged moves its "last seen"."""

    def __init__(self, service: ServiceView, observed: list[Message]):
        self.name = service.name
        self.topic = topics.observation(service.node, service.name)
        self.heartbeat = topics.heartbeat(service.node)
        ui.label(f"{service.name} on {service.node}").classes("text-xl wrap-anywhere").mark(
            "service"
        )
        self.health = ui.label().mark("service-health")
        ui.label("Checks").classes("text-lg")
        self.checks = table(CHECK_COLUMNS, [], "check", "checks")
        theme.cards_on_a_phone(self.checks)
        ui.label(
            f"Recent observations (last {eventlog.RECENT_OBSERVATIONS}, newest first): what "
            "changed, and a full result every few minutes; the agent's heartbeats say when "
            "each check ran again unchanged (Last seen)"
        ).classes("wrap-anywhere")
        self.recent = table(
            OBSERVATION_COLUMNS, [observation_row(m) for m in observed], "seq", "observations"
        )
        theme.cards_on_a_phone(self.recent)
        self.show(service)
        self.checks.rows = check_rows(service, time.time())

    def draw(self, fold: WorldFold) -> None:
        """Its health after a change the observer published (the checks follow the
        agent's own messages, ``observed``)."""
        found = fold.services.get(self.name)
        if found is not None:
            self.show(found)

    def show(self, s: ServiceView) -> None:
        since = present.since(s.since, time.time())
        self.health.set_text(f"{s.health}: {s.reason} · since {since}")
        self.health.classes(replace=theme.health(s.health))

    def observed(self, message: Message) -> None:
        if message.topic == self.heartbeat:
            self.seen_again(message)
        if message.topic != self.topic:
            return
        row = observation_row(message)
        kept = [r for r in self.recent.rows if r["seq"] != row["seq"]]
        self.recent.rows = [row, *kept][: eventlog.RECENT_OBSERVATIONS]
        self.checks.rows = [
            updated_check(r, message.payload) if r["check"] == row["check"] else r
            for r in self.checks.rows
        ]

    def seen_again(self, message: Message) -> None:
        unchanged = message.payload.get("unchanged")
        ran = unchanged.get(self.name) if isinstance(unchanged, dict) else None
        if not isinstance(ran, list) or not ran:
            return
        seen = present.since(message.time, time.time())
        self.checks.rows = [
            r | {"last_seen": seen} if r["check"] in ran else r for r in self.checks.rows
        ]
