"""Dashboard: health by node and service, drift, the queue and the bus, the desired revision
(marked when it is a rollback), the last failures and a live message-rate chart; each
number a link to the page behind it; live."""

from __future__ import annotations

from nicegui import background_tasks, run, ui

from actors.readmodel import disk, eventlog, queue, summary
from bus.envelope import Message
from gui import present, theme
from gui.pages import follow, page

FAILURES_SHOWN = 5


def rate_options(series: present.RateSeries) -> dict:
    return {
        "animation": False,
        "grid": {"left": 40, "right": 10, "top": 10, "bottom": 24},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": series.labels, "boundaryGap": False},
        "yAxis": {"type": "value", "name": "msg/s", "minInterval": 1},
        "series": [{"type": "line", "data": series.values, "showSymbol": False, "name": "msg/s"}],
    }


def revision_text(desired: dict, last: dict | None) -> str:
    """ "Desired state: revision R", with "(rollback from P)" when the last
    ``desired.revision`` announced this very revision as a rollback."""
    revision = desired.get("revision") or "none loaded yet"
    text = f"Desired state: revision {revision}"
    if last and last.get("revision") == desired.get("revision") and last.get("rollback") is True:
        previous = last.get("previous")
        text += f" (rollback from {previous})" if previous else " (rollback)"
    return text


def linked_card(target: str, title: str, wide: bool = False) -> ui.card:
    """A card that opens the page behind it, headed by ``title``; fill it with ``with``."""
    with ui.link(target=target).classes("no-underline" + (" w-full" if wide else "")):
        card = ui.card().classes("w-full" if wide else "min-w-40")
    with card:
        ui.label(title).classes("text-sm opacity-70")
    return card


def health_card(title: str, counts) -> None:
    with linked_card("/world", title):
        for health in summary.HEALTHS:
            number = getattr(counts, health)
            if number:
                ui.label(f"{number} {health}").classes(theme.health(health)).mark(
                    f"{title.lower()}-{health}"
                )
        if not any(vars(counts).values()):
            ui.label("none observed yet")


def drift_card(drift) -> None:
    with linked_card("/drift", "Drift"):
        ui.label(f"{drift.count} drifted").mark("drift-count")
        for item in drift.items[:5]:
            ui.label(present.drift_item(item)).classes("text-xs").mark("drift-item")
        for line in drift.gave_up[:5]:  # the supervisor stopped trying: the operator must act
            ui.label(line).classes("text-xs " + theme.health("down")).mark("gave-up")


def disk_card(use) -> None:
    """The data root on disk and the history the event log keeps; yellow under 10 % free,
    red under 5 %, and red when a consumer holds the log over its limit."""
    if use is None:
        return
    text, level = disk.line(use)
    with ui.card().classes("min-w-40 max-w-md"):
        ui.label("Disk").classes("text-sm opacity-70")
        colour = {"critical": theme.health("down"), "low": theme.health("degraded")}
        ui.label(text).classes("text-xs wrap-anywhere " + colour.get(level, "")).mark("disk")
        if use.history is not None and use.history.held_by:
            ui.label(f"history over its limit but kept: {use.history.held_by}").classes(
                "text-xs wrap-anywhere " + theme.health("down")
            )


def queue_card(pending: int, running: int) -> None:
    with linked_card("/actions", "Action Queue"):
        ui.label(f"{pending} pending").mark("pending-count")
        ui.label(f"{running} running")


class BusCard:
    """The broker's sequence and rate, live from its ``bus.stats`` (the sequence moves at
    every tick), and the messages per second over the last two minutes; "unreachable" as
    soon as the ticks stop coming and the broker does not answer."""

    LOOK_EVERY = 2.0  # seconds between looks for a silent broker

    def __init__(self, ctx, first):
        self.ctx = ctx
        with linked_card("/events", "Bus", wide=True):
            with ui.row().classes("gap-4 items-baseline"):
                self.seq = ui.label().mark("bus-seq").props("data-testid=bus-seq")
                self.rate = ui.label().mark("bus-rate")
            self.alarms = ui.label().classes("text-sm " + theme.health("down")).mark("alarm")
            self.alarms.props("data-testid=bus-alarm")
            self.limited = ui.label().classes("text-xs " + theme.health("degraded"))
            self.clock = ui.label().classes("text-xs " + theme.health("degraded")).mark("clock")
            ui.label("Messages per second").classes("text-xs opacity-70")
            self.chart = rate_chart(ctx)
        self.show(first)
        ctx.feed.subscribe(self.on_message)
        ui.timer(self.LOOK_EVERY, self.look)

    def show(self, bus) -> None:
        if bus.reachable:
            self.seq.set_text(f"seq {bus.seq}")
            self.seq.classes(remove=theme.health("down"))
            self.rate.set_text(f"{bus.rate:g} msg/s")
        else:
            self.seq.set_text("unreachable")
            self.seq.classes(add=theme.health("down"))
            self.rate.set_text("")
        self.alarms.set_text("; ".join(present.alarm(a) for a in bus.alarms))
        self.clock.set_text(present.clock_step((bus.model_extra or {}).get("clock_step")))
        self.limited.set_text(present.limited_clients((bus.model_extra or {}).get("clients")))

    def on_message(self, message: Message) -> None:
        if message.topic == "bus.alarm":  # during an alarm the ticks are rare: ask now
            background_tasks.create(self.ask(), name="bus card")
        elif message.topic == "bus.stats":
            status = self.ctx.feed.bus_status()
            if status is not None:
                self.show(status)

    async def look(self) -> None:
        if self.ctx.feed.bus_status() is None:  # silent: ask the broker itself
            await self.ask()

    async def ask(self) -> None:
        self.show(await run.io_bound(summary.bus_status, self.ctx.config.bus, 1.0))


async def bus_status(ctx):
    """The broker's figures: from the feed's latest tick, else by asking it (1 s at most)."""
    return ctx.feed.bus_status() or await run.io_bound(summary.bus_status, ctx.config.bus, 1.0)


def revision_lines(desired: dict, last_revision: dict | None) -> None:
    with ui.link(target="/drift").classes("no-underline"):
        ui.label(revision_text(desired, last_revision)).mark("revision")
    for problem in desired.get("problems") or []:
        where = f"{problem.get('file')}:{problem.get('line')}"
        with ui.link(target="/drift").classes("no-underline"):
            ui.label(f"{where}: {problem.get('message')}").classes(theme.health("down"))


def overview(s, pending: int, running: int, last_revision: dict | None) -> None:
    with ui.row().classes("w-full gap-3 flex-wrap"):
        health_card("Nodes", s.counts["nodes"])
        health_card("Services", s.counts["services"])
        drift_card(s.drift)
        queue_card(pending, running)
        disk_card(s.disk)
    revision_lines(s.desired or {}, last_revision)


def failures(found: list[dict]) -> None:
    if not found:
        ui.label("No failed actions.").classes("opacity-70").mark("no-failures")
    for f in found:
        with (
            ui.link(target="/actions").classes("no-underline w-full"),
            ui.card().classes("w-full").mark(f"failure-{f['id']}"),
        ):
            ui.label(f"{f['title']} · {f['at']}").classes(theme.health("down") + " wrap-anywhere")
            if f["detail"]:
                ui.label(f["detail"]).classes("text-xs wrap-anywhere")


def rate_chart(ctx) -> ui.echart:
    """The messages per second, from the ticks seen before this page opened on."""
    rates = present.RateSeries()
    for message in ctx.feed.recent_trusted():
        rates.add(message)
    chart = ui.echart(rate_options(rates)).classes("w-full h-40").mark("rate-chart")

    def on_message(message: Message) -> None:
        if rates.add(message):  # one point more, the chart element stays
            chart.options["xAxis"]["data"] = rates.labels
            chart.options["series"][0]["data"] = rates.values
            chart.update()

    ctx.feed.subscribe(on_message)
    return chart


def register(ctx) -> None:
    async def load(last_revision: dict | None):
        s = await run.io_bound(summary.build, ctx.root, await bus_status(ctx))
        q = await run.io_bound(queue.read, ctx.root)
        shown = (s, len(q.pending), len(q.running), last_revision)
        return shown, present.failures(q.history, FAILURES_SHOWN)

    @page("/", "Dashboard")
    async def dashboard() -> None:
        last = {"revision": await run.io_bound(eventlog.last_revision, ctx.root)}
        shown, failed = await load(last["revision"])
        counts = ui.refreshable(overview)  # this page's own: refresh() redraws only it
        counts(*shown)
        BusCard(ctx, shown[0].bus)
        ui.label("Last failures").classes("text-xl")
        last_failures = ui.refreshable(failures)
        last_failures(failed)

        async def refresh() -> None:
            shown, failed = await load(last["revision"])
            counts.refresh(*shown)
            last_failures.refresh(failed)

        def on_revision(message: Message) -> None:
            if message.topic == "desired.revision":
                last["revision"] = message.payload  # the refresh that follows shows it

        ctx.feed.subscribe(on_revision)
        follow(ctx, ("world.", "drift.", "action.", "desired."), refresh)
