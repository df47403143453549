"""Events: the live tap in the browser (topic-prefix filter, pause), a replay from disk of a
range by sequence or by time, and one record in full (``/events?seq=N``: what the Drift
page links to). Every message shows, from whoever sent it, with its source."""

from __future__ import annotations

from actors.readmodel import eventlog
from gui import offload
from gui.components.events import LiveTap, Replay, show_record
from gui.pages import Context, page


def register(ctx: Context) -> None:
    @page("/events", "Events")
    async def events_page(seq: int | None = None) -> None:
        if seq is not None:
            show_record(await offload.io_bound(eventlog.record, ctx.root, seq), seq)
        tap = LiveTap(ctx.feed)
        Replay(ctx.root, seq, tap)
