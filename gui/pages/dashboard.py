"""Dashboard: health by node and service, drift, the queue and the bus, the desired revision
(marked when it is a rollback), the last failures and a live message-rate chart; each
number a link to the page behind it; live from the messages that change them
(``actors.readmodel.live.dashboard``)."""

from __future__ import annotations

from nicegui import ui

from actors.readmodel import disk
from actors.readmodel.live.dashboard import DashboardFold
from gui import offload
from gui.components.bus_card import BusCard, bus_status
from gui.components.dashboard_cards import Board, Failures, Overview
from gui.components.live import Live
from gui.pages import Context, page


def register(ctx: Context) -> None:
    @page("/", "Dashboard")
    async def dashboard() -> None:
        fold = await offload.io_bound(DashboardFold.read, ctx.root)
        overview = Overview(ctx.root, await offload.io_bound(disk.usage, ctx.root))
        BusCard(ctx.feed, ctx.config.bus, await bus_status(ctx.feed, ctx.config.bus))
        ui.label("Last failures").classes("text-xl")
        Live(fold, Board(overview, Failures()).show).follow(ctx.feed)
        ctx.feed.subscribe(overview.on_message)
