"""The frame every page shares: a header with the pages, the operator and log out; the
colour of each health, readable on light and on dark pages; and tables that turn into cards
on a phone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nicegui import ui

from actors.domain import states

PAGES = (
    ("Dashboard", "/"),
    ("World", "/world"),
    ("Drift", "/drift"),
    ("Action Queue", "/actions"),
    ("Events", "/events"),
)

# health -> (colour on a light page, on a dark page): each at least 4.5:1 against the card
HEALTH_COLOURS = {
    states.HEALTHY: ("#1b7a2e", "#7bd88f"),
    states.DEGRADED: ("#9a5b00", "#ffb74d"),
    states.DOWN: ("#c21d1d", "#ff8a80"),
    states.UNKNOWN: ("#5f6368", "#b0b4ba"),
}
CSS = "\n".join(
    [
        *(
            f".health-{name} {{ color: {light}; }} .body--dark .health-{name} {{ color: {dark}; }}"
            for name, (light, dark) in HEALTH_COLOURS.items()
        ),
        # long ids, paths and commands wrap where they must, at a space where they can
        ".wrap-anywhere { overflow-wrap: anywhere; word-break: normal; }",
    ]
)
# A row as a card of "label  value" lines (fixed template: values are Vue text, never HTML)
CARD = (
    '<div class="q-pa-xs col-12"><q-card flat bordered :data-testid="\'card-\' + props.key"{on}>'
    '<q-card-section class="q-pa-sm">'
    '<div v-for="col in props.cols" :key="col.name" v-show="col.value !== undefined && col.value !== \'\'" '
    'class="row no-wrap q-gutter-x-sm">'
    '<div class="col-4 text-caption opacity-70">{{{{ col.label }}}}</div>'
    '<div class="col text-caption wrap-anywhere">{{{{ col.value }}}}</div></div>'
    "{footer}</q-card-section></q-card></div>"
)


def health(name: str) -> str:
    """The class that colours text of this health (anything else reads as unknown)."""
    return f"health-{name if name in HEALTH_COLOURS else states.UNKNOWN}"


@contextmanager
def frame(title: str, operator: str, log_out: Callable[[], None]) -> Iterator[None]:
    ui.page_title(f"{title} · homelab")
    ui.add_css(CSS)
    with ui.header().classes("items-center gap-2 flex-wrap"):
        ui.label("homelab").classes("text-lg font-bold mr-4")
        for name, path in PAGES:
            ui.link(name, path).classes(
                "text-white" + (" font-bold underline" if name == title else "")
            )
        ui.space()
        ui.label(operator).mark("operator")
        ui.button("Log out", on_click=log_out).props("flat color=white").mark("logout")
    with ui.column().classes("w-full max-w-5xl mx-auto p-2 gap-3"):
        yield


def cards_on_a_phone(table: ui.table, footer: str = "", click: str = "") -> ui.table:
    """Under 600 px each row becomes a card listing every column (a table would be cut off
    on the right, or hide columns). ``footer``: more template inside the card (the row is
    ``props.row``); ``click``: an event the card emits with the row, as ``rowClick`` does."""
    on = f" @click=\"() => $parent.$emit('{click}', null, props.row)\"" if click else ""
    table.props(':grid="Quasar.Screen.xs"')
    table.add_slot("item", CARD.format(on=on, footer=footer))
    return table
