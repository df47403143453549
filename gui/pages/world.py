"""World: every node and service with its health, reason and since (relative and absolute);
filter and sort. A service's row opens its detail (``/world/SERVICE``): its checks and its
recent observations, newest first, live."""

from __future__ import annotations

import time
from urllib.parse import quote

from nicegui import run, ui

from actors.readmodel import eventlog, world
from actors.readmodel.models import ServiceView, WorldView
from bus.envelope import Message
from gui import present, theme
from gui.pages import follow, page

AGES_EVERY = 15.0  # seconds between updates of the "3 min ago" column (from memory, no file)


def _columns(*named: tuple[str, str]) -> list[dict]:
    return [
        {"name": name, "label": label, "field": name, "sortable": True, "align": "left"}
        for name, label in named
    ]


COLUMNS = _columns(
    ("name", "Service"),
    ("node", "Node"),
    ("health", "Health"),
    ("reason", "Reason"),
    ("ago", "Since"),
    ("since", "Since (time)"),
)
CHECK_COLUMNS = _columns(
    ("check", "Check"),
    ("outcome", "Outcome"),
    ("detail", "Detail"),
    ("latency", "Latency (ms)"),
    ("since", "Since"),
    ("last_seen", "Last seen"),
)
# the health in its colour (a fixed template: the value is Vue text, never HTML)
HEALTH_SLOT = '<q-td :props="props" :class="\'health-\' + props.value">{{ props.value }}</q-td>'
OBSERVATION_COLUMNS = _columns(
    ("seq", "Seq"),
    ("time", "Time"),
    ("check", "Check"),
    ("outcome", "Outcome"),
    ("detail", "Detail"),
    ("latency", "Latency (ms)"),
)


def rows(view: WorldView, now: float | None = None) -> list[dict]:
    now = time.time() if now is None else now

    def row(name: str, kind: str, item) -> dict:
        return {
            "name": name,
            "kind": kind,
            "node": item.node if kind == "service" else item.name,
            "health": item.health,
            "reason": item.reason,
            "ago": present.relative(item.since, now),
            "since": present.absolute(item.since),  # sorts as time does
        }

    nodes = [row(f"node {n.name}", "node", n) for n in view.nodes]
    return nodes + [row(s.name, "service", s) for s in view.services]


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


def table(columns: list[dict], rows: list[dict], key: str, marker: str) -> ui.table:
    shown = ui.table(columns=columns, rows=rows, row_key=key)
    shown.classes("w-full").props("dense wrap-cells").mark(marker)
    return shown


class WorldTable:
    """Every node and service, filterable and sortable; a service opens its page."""

    def __init__(self, view: WorldView):
        self.view = view
        search = ui.input("Filter").props("clearable").classes("w-64")
        self.table = table(COLUMNS, rows(view), "name", "world")
        self.table.add_slot("body-cell-health", HEALTH_SLOT)
        theme.cards_on_a_phone(self.table, click="rowClick")
        self.table.on("rowClick", self.open_row)
        search.bind_value_to(self.table, "filter")
        ui.label("Click a service for its checks and recent observations.").classes(
            "text-xs opacity-70"
        )

    def show(self, view: WorldView | None = None) -> None:
        """The rows again: of a newer world, or the same ("3 min ago" grows old)."""
        self.view = view or self.view
        self.table.rows = rows(self.view)

    @staticmethod
    def open_row(e) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else {}
        if isinstance(row, dict) and row.get("kind") == "service":
            ui.navigate.to(f"/world/{quote(str(row['name']), safe='')}")


class ServiceDetail:
    """One service: its health, its checks and its recent observations, newest first; a new
    observation updates both tables at once (before ``world/`` is written again), and a
    heartbeat that names a check as run again unchanged moves its "last seen"."""

    def __init__(self, service: ServiceView, observed: list[Message]):
        self.name = service.name
        self.topic = eventlog.observation_topic(service.node, service.name)
        self.heartbeat = eventlog.heartbeat_topic(service.node)
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

    def show(self, s: ServiceView) -> None:
        now = time.time()
        self.health.set_text(f"{s.health}: {s.reason} · since {present.since(s.since, now)}")
        self.health.classes(replace=theme.health(s.health))
        self.checks.rows = check_rows(s, now)

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


def register(ctx) -> None:
    @page("/world", "World")
    async def world_page() -> None:
        shown = WorldTable(await run.io_bound(world.read, ctx.root))

        async def refresh() -> None:
            shown.show(await run.io_bound(world.read, ctx.root))

        ui.timer(AGES_EVERY, lambda: shown.show())
        follow(ctx, ("world.",), refresh)

    @page("/world/{name}", "World")
    async def service_page(name: str) -> None:
        service = find(await run.io_bound(world.read, ctx.root), name)
        ui.link("← World", "/world")
        if service is None:
            ui.label(f"No service {name!r} in the world (not observed yet?).").mark("no-service")
            return
        found = await run.io_bound(eventlog.observations, ctx.root, service.node, name)
        detail = ServiceDetail(service, found)

        async def refresh() -> None:
            latest = find(await run.io_bound(world.read, ctx.root), name)
            if latest is not None:
                detail.show(latest)

        ctx.feed.subscribe(detail.observed)
        follow(ctx, (f"world.service.{name}",), refresh)


def find(view: WorldView, name: str) -> ServiceView | None:
    return next((s for s in view.services if s.name == name), None)
