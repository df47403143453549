"""The frame every page shares: a header with the pages, the operator and log out; and the
colour of each health, readable on light and on dark pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nicegui import ui

PAGES = (
    ("Dashboard", "/"),
    ("World", "/world"),
    ("Drift", "/drift"),
    ("Action Queue", "/actions"),
    ("Events", "/events"),
)

# health -> (colour on a light page, on a dark page): each at least 4.5:1 against the card
HEALTH_COLOURS = {
    "healthy": ("#1b7a2e", "#7bd88f"),
    "degraded": ("#9a5b00", "#ffb74d"),
    "down": ("#c21d1d", "#ff8a80"),
    "unknown": ("#5f6368", "#b0b4ba"),
}
HEALTH_CSS = "\n".join(
    f".health-{name} {{ color: {light}; }} .body--dark .health-{name} {{ color: {dark}; }}"
    for name, (light, dark) in HEALTH_COLOURS.items()
)


def health(name: str) -> str:
    """The class that colours text of this health (anything else reads as unknown)."""
    return f"health-{name if name in HEALTH_COLOURS else 'unknown'}"


@contextmanager
def frame(title: str, operator: str, log_out: Callable[[], None]) -> Iterator[None]:
    ui.page_title(f"{title} · homelab")
    ui.add_css(HEALTH_CSS)
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
