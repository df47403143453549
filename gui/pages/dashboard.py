"""Dashboard: health by node and service, drift, the queue and the bus, each a link to the
page behind it; live."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from actors.readmodel import queue, summary
from gui import session, theme
from gui.pages import follow


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
            desired = s.desired or {}
            revision = desired.get("revision") or "none loaded yet"
            ui.label(f"Desired state: revision {revision}").mark("revision")
            for problem in desired.get("problems") or []:
                where = f"{problem.get('file')}:{problem.get('line')}"
                ui.label(f"{where}: {problem.get('message')}").classes("text-negative")

        async def load():
            s = await run.io_bound(summary.read, ctx.root, ctx.config.bus, 1.0)
            q = await run.io_bound(queue.read, ctx.root)
            return s, len(q.pending), len(q.running)

        with theme.frame("Dashboard", operator, session.log_out):
            cards(*await load())

        async def refresh() -> None:
            cards.refresh(*await load())

        follow(ctx, ("world.", "drift.", "action.", "desired."), refresh)
        return None
