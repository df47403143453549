"""The World table: every node and service with its health, reason and since (relative
and absolute), filterable and sortable; a service's row opens its own page."""

from __future__ import annotations

import time
from urllib.parse import quote

from nicegui import ui

from actors.readmodel.live.world import WorldFold
from actors.readmodel.models import WorldView
from gui import present, theme

AGES_EVERY = 15.0  # seconds between updates of the "3 min ago" column (from memory, no file)


def columns(*named: tuple[str, str]) -> list[dict]:
    return [
        {"name": name, "label": label, "field": name, "sortable": True, "align": "left"}
        for name, label in named
    ]


COLUMNS = columns(
    ("name", "Service"),
    ("node", "Node"),
    ("health", "Health"),
    ("reason", "Reason"),
    ("ago", "Since"),
    ("since", "Since (time)"),
)
# the health in its colour (a fixed template: the value is Vue text, never HTML)
HEALTH_SLOT = '<q-td :props="props" :class="\'health-\' + props.value">{{ props.value }}</q-td>'


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
        ui.timer(AGES_EVERY, self.show)

    def draw(self, fold: WorldFold) -> None:
        self.show(fold.view())

    def show(self, view: WorldView | None = None) -> None:
        """The rows again: of a newer world, or the same ("3 min ago" grows old)."""
        self.view = view or self.view
        self.table.rows = rows(self.view)

    @staticmethod
    def open_row(e) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else {}
        if isinstance(row, dict) and row.get("kind") == "service":
            ui.navigate.to(f"/world/{quote(str(row['name']), safe='')}")
