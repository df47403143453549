"""The frame every page shares: a header with the pages, the operator and log out."""

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


@contextmanager
def frame(title: str, operator: str, log_out: Callable[[], None]) -> Iterator[None]:
    ui.page_title(f"{title} · homelab")
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
