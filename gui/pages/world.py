"""World: every node and service with its health, reason and since; filter and sort."""

from __future__ import annotations

import datetime as dt

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from actors.readmodel import world
from gui import session, theme
from gui.pages import follow

COLUMNS = [
    {"name": name, "label": label, "field": name, "sortable": True, "align": "left"}
    for name, label in (
        ("name", "Service"),
        ("node", "Node"),
        ("health", "Health"),
        ("reason", "Reason"),
        ("since", "Since"),
    )
]


def rows(view) -> list[dict]:
    def since(epoch: float) -> str:
        return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else ""

    nodes = [
        {
            "name": f"node {n.name}",
            "node": n.name,
            "health": n.health,
            "reason": n.reason,
            "since": since(n.since),
        }
        for n in view.nodes
    ]
    services = [
        {
            "name": s.name,
            "node": s.node,
            "health": s.health,
            "reason": s.reason,
            "since": since(s.since),
        }
        for s in view.services
    ]
    return nodes + services


def register(ctx) -> None:
    @ui.page("/world")
    async def world_page() -> RedirectResponse | None:
        operator = session.operator(ctx.operators)
        if operator is None:
            return RedirectResponse("/login")
        with theme.frame("World", operator, session.log_out):
            search = ui.input("Filter").props("clearable").classes("w-64")
            table = ui.table(
                columns=COLUMNS, rows=rows(await run.io_bound(world.read, ctx.root)), row_key="name"
            )
            table.classes("w-full").mark("world")
            search.bind_value_to(table, "filter")

        async def refresh() -> None:
            table.rows = rows(await run.io_bound(world.read, ctx.root))

        follow(ctx, ("world.",), refresh)
        return None
