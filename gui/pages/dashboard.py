"""Dashboard: health by node and service, drift, the queue and the bus, the desired revision
(marked when it is a rollback), the last failures and a live message-rate chart; each
number a link to the page behind it; live."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from actors.readmodel import eventlog, queue, summary
from bus.envelope import Message
from gui import present, session, theme
from gui.pages import follow

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


def register(ctx) -> None:
    @ui.page("/")
    async def dashboard() -> RedirectResponse | None:
        operator = session.operator(ctx.operators)
        if operator is None:
            return RedirectResponse("/login")

        @ui.refreshable
        def cards(s, pending: int, running: int) -> None:
            with ui.row().classes("w-full gap-3 flex-wrap"):
                for title, counts in (
                    ("Nodes", s.counts["nodes"]),
                    ("Services", s.counts["services"]),
                ):
                    with (
                        ui.link(target="/world").classes("no-underline"),
                        ui.card().classes("min-w-40"),
                    ):
                        ui.label(title).classes("text-sm opacity-70")
                        for health in ("healthy", "degraded", "down", "unknown"):
                            number = getattr(counts, health)
                            if number:
                                ui.label(f"{number} {health}").mark(f"{title.lower()}-{health}")
                        if not any(vars(counts).values()):
                            ui.label("none observed yet")
                with (
                    ui.link(target="/drift").classes("no-underline"),
                    ui.card().classes("min-w-40"),
                ):
                    ui.label("Drift").classes("text-sm opacity-70")
                    ui.label(f"{s.drift.count} drifted").mark("drift-count")
                    for item in s.drift.items[:5]:
                        ui.label(item).classes("text-xs")
                with (
                    ui.link(target="/actions").classes("no-underline"),
                    ui.card().classes("min-w-40"),
                ):
                    ui.label("Action Queue").classes("text-sm opacity-70")
                    ui.label(f"{pending} pending").mark("pending-count")
                    ui.label(f"{running} running")
                with (
                    ui.link(target="/events").classes("no-underline"),
                    ui.card().classes("min-w-40"),
                ):
                    ui.label("Bus").classes("text-sm opacity-70")
                    if s.bus.reachable:
                        ui.label(f"seq {s.bus.seq}").mark("bus-seq")
                        ui.label(f"{s.bus.rate:g} msg/s")
                    else:
                        ui.label("unreachable").classes("text-negative")
            with ui.link(target="/drift").classes("no-underline"):
                ui.label(revision_text(s.desired or {}, last_revision)).mark("revision")
            for problem in (s.desired or {}).get("problems") or []:
                where = f"{problem.get('file')}:{problem.get('line')}"
                with ui.link(target="/drift").classes("no-underline"):
                    ui.label(f"{where}: {problem.get('message')}").classes("text-negative")

        @ui.refreshable
        def failed(found: list[dict]) -> None:
            if not found:
                ui.label("No failed actions.").classes("opacity-70").mark("no-failures")
            for f in found:
                with (
                    ui.link(target="/actions").classes("no-underline w-full"),
                    ui.card().classes("w-full").mark(f"failure-{f['id']}"),
                ):
                    ui.label(f"{f['title']} · {f['at']}").classes("text-negative break-all")
                    if f["detail"]:
                        ui.label(f["detail"]).classes("text-xs break-all")

        last_revision: dict | None = None

        async def load():
            s = await run.io_bound(summary.read, ctx.root, ctx.config.bus, 1.0)
            q = await run.io_bound(queue.read, ctx.root)
            return (s, len(q.pending), len(q.running)), present.failures(q.history, FAILURES_SHOWN)

        rates = present.RateSeries()
        for message in ctx.feed.recent_trusted():  # the ticks seen before this page opened
            rates.add(message)
        last_revision = await run.io_bound(eventlog.last_revision, ctx.root)
        shown, failures = await load()
        with theme.frame("Dashboard", operator, session.log_out):
            cards(*shown)
            with (
                ui.link(target="/events").classes("no-underline w-full"),
                ui.card().classes("w-full"),
            ):
                ui.label("Messages per second").classes("text-sm opacity-70")
                chart = ui.echart(rate_options(rates)).classes("w-full h-40").mark("rate-chart")
            ui.label("Last failures").classes("text-xl")
            failed(failures)

        async def refresh() -> None:
            shown, failures = await load()
            cards.refresh(*shown)
            failed.refresh(failures)

        def on_message(message: Message) -> None:
            nonlocal last_revision
            if message.topic == "desired.revision":
                last_revision = message.payload  # the refresh that follows shows it
            if rates.add(message):  # one point more, the chart element stays
                chart.options["xAxis"]["data"] = rates.labels
                chart.options["series"][0]["data"] = rates.values
                chart.update()

        ctx.feed.subscribe(on_message)
        follow(ctx, ("world.", "drift.", "action.", "desired."), refresh)
        return None
