"""Drift: each drifted service, desired against actual, the fix and the revision, and the
observations that caused it (by sequence number, each a link to that record on the Events
page); live from the supervisor's ``drift.report`` (``actors.readmodel.live.drift``)."""

from __future__ import annotations

from actors.readmodel.live.drift import DriftFold
from gui import offload
from gui.components.drift_report import DriftPage
from gui.components.live import Live
from gui.pages import Context, page


def register(ctx: Context) -> None:
    @page("/drift", "Drift")
    async def drift_page() -> None:
        fold = await offload.io_bound(DriftFold.read, ctx.root)
        Live(fold, DriftPage().show).follow(ctx.feed)
