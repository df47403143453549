"""World: every node and service with its health, reason and since (relative and absolute);
filter and sort. A service's row opens its detail (``/world/SERVICE``): its checks and its
recent observations, newest first. Both follow the observer's changes of health as they
are published (``actors.readmodel.live.world``)."""

from __future__ import annotations

from nicegui import ui

from actors.readmodel import eventlog, world
from actors.readmodel.live.world import WorldFold
from gui import offload
from gui.components.live import Live
from gui.components.service_detail import ServiceDetail
from gui.components.world_table import WorldTable
from gui.pages import Context, page


def register(ctx: Context) -> None:
    @page("/world", "World")
    async def world_page() -> None:
        fold = WorldFold(await offload.io_bound(world.read, ctx.root))
        Live(fold, WorldTable(fold.view()).draw).follow(ctx.feed)

    @page("/world/{name}", "World")
    async def service_page(name: str) -> None:
        fold = WorldFold(await offload.io_bound(world.read, ctx.root))
        ui.link("← World", "/world")
        service = fold.services.get(name)
        if service is None:
            ui.label(f"No service {name!r} in the world (not observed yet?).").mark("no-service")
            return
        found = await offload.io_bound(eventlog.observations, ctx.root, service.node, name)
        detail = ServiceDetail(service, found)
        Live(fold, detail.draw).follow(ctx.feed)
        ctx.feed.subscribe(detail.observed)
