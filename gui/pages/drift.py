"""Drift: each drifted service, desired against actual, the fix and the revision, and the
observations that caused it (by sequence number, each a link to that record on the Events
page); live from the supervisor's ``drift.report``."""

from __future__ import annotations

from nicegui import run

from actors.readmodel import drift
from gui.components.drift_report import DriftPage
from gui.pages import Context, page


def register(ctx: Context) -> None:
    @page("/drift", "Drift")
    async def drift_page() -> None:
        found = await run.io_bound(drift.last, ctx.root)
        shown = DriftPage(found, await run.io_bound(drift.problems, ctx.root))
        ctx.feed.subscribe(shown.on_message)
