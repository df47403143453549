"""The Events page's parts: the live tap (topic-prefix filter, pause), a replay from disk of
a range by sequence or by time, and one record in full. Every message shows, from whoever
sent it, with its source."""

from __future__ import annotations

import collections
import time
from pathlib import Path

from nicegui import ui

from actors.domain import topics
from actors.readmodel import eventlog
from bus.envelope import Message
from gui import offload, present, session, theme
from gui.feed import Feed
from gui.tap_log import TapLog

LINES = 500
REPLAY_MAX = 1000


def replay(root, start: int, end: int, prefix: str) -> list[Message]:
    """A range by sequence number, both ends included, bounded to ``REPLAY_MAX``."""
    if start > end:
        raise ValueError(f"from seq {start} is after to seq {end}: nothing can match")
    return eventlog.by_seq(root, start, end, prefix, REPLAY_MAX)


def replay_time(root, start: str, end: str, prefix: str, now: float) -> list[Message]:
    """A range by time (``start`` inclusive, ``end`` exclusive; no end: up to now), bounded
    to ``REPLAY_MAX`` messages. ValueError with a line for the operator for a bad range."""
    if not start.strip():
        raise ValueError("pick the time to start from")
    first = present.parse_time(start, now)
    last = present.parse_time(end, now) if end.strip() else now + 1
    if first >= last:
        raise ValueError("the start is not before the end: nothing can match")
    return eventlog.by_time(root, first, last, prefix, REPLAY_MAX)


def show_record(message: Message | None, seq: int) -> None:
    """One record in full: every field as text, the payload as indented JSON text."""
    with ui.card().classes("w-full").mark("record"):
        if message is None:
            ui.label(f"No record {seq} in the event log.").mark("no-record")
            return
        ui.label(f"Record {message.seq}").classes("text-lg")
        with ui.grid(columns="auto 1fr").classes("gap-x-3 gap-y-0 w-full"):
            for name, value in present.record_fields(message):
                ui.label(name).classes("opacity-70")
                ui.label(value).classes("wrap-anywhere").mark(f"record-{name}")
        ui.label(present.pretty(message.payload)).classes(
            "whitespace-pre-wrap wrap-anywhere font-mono text-xs w-full"
        ).mark("record-payload")


class LiveTap:
    """The last ``LINES`` messages from the bus, shown through the topic-prefix filter. A
    new filter redraws what is kept (one push of at most ``LINES`` lines); Pause freezes
    the view and Resume redraws it with what came meanwhile, so it has no gap."""

    def __init__(self, feed: Feed):
        self.kept: collections.deque[Message] = collections.deque(feed.recent, maxlen=LINES)
        self.paused_after: int | None = None  # the last seq shown when paused
        with ui.row().classes("items-center gap-3 flex-wrap"):
            self.prefix = ui.input("Topic prefix", placeholder=topics.ACTION).mark("prefix")
            self.prefix.props("clearable debounce=250").on_value_change(self.redraw)
            ui.switch("Pause", on_change=self.pause).mark("pause")
        self.log = TapLog(LINES, initial=self.lines()).classes("w-full h-96").mark("tap")
        self.log.props("data-testid=tap")
        self.dropped = ui.label("").classes("text-xs " + theme.health("degraded")).mark("dropped")
        self.dropped.props("data-testid=dropped")
        self.feed, self.dropped_before = feed, feed.dropped
        feed.subscribe(self.live, anyone=True)  # everything, with who sent it
        ui.timer(1.0, self.count_dropped)

    def count_dropped(self) -> None:
        """Say how many messages the page could not show since it opened (a flood)."""
        missed = self.feed.dropped - self.dropped_before
        if missed:
            self.dropped.set_text(
                f"{missed:,} messages not shown: the bus was faster than a page can show "
                "(all are in the log: replay them below, or `homelab tap` in a shell)"
            )

    @property
    def topic_prefix(self) -> str:
        return (self.prefix.value or "").strip()

    def shows(self, message: Message) -> bool:
        after = self.paused_after
        return message.topic.startswith(self.topic_prefix) and (
            after is None or message.seq <= after
        )

    def lines(self) -> list[str]:
        return [present.tap_line(m) for m in self.kept if self.shows(m)]

    def live(self, message: Message) -> None:
        self.kept.append(message)
        if self.paused_after is None and self.shows(message):
            self.log.push(present.tap_line(message))

    def pause(self, event) -> None:
        if event.value:
            self.paused_after = self.kept[-1].seq if self.kept else 0
        else:
            self.paused_after = None
            self.redraw()

    def redraw(self) -> None:
        self.log.clear()
        shown = self.lines()
        if shown:
            self.log.push("\n".join(shown))


class Replay:
    """A range from disk, by sequence or by time, through the tap's prefix. A range that
    cannot be read clears the old results and says why, in place."""

    def __init__(self, root: Path, seq: int | None, tap: LiveTap):
        self.root, self.tap = root, tap
        with ui.row().classes("items-center gap-3 flex-wrap"):
            self.start = ui.number("From seq", value=seq or 1, min=1, precision=0)
            self.end = ui.number("To seq", value=(seq or 1) + 99, min=1, precision=0)
            ui.button("Replay from disk", on_click=self.by_seq).mark("replay")
        with ui.row().classes("items-center gap-3 flex-wrap"):
            self.since = ui.input("From time").props("type=datetime-local step=1").mark("from-time")
            self.until = ui.input("To time").props("type=datetime-local step=1").mark("to-time")
            ui.button("Replay time range", on_click=self.by_time).mark("replay-time")
        self.said = ui.label("").classes("text-xs wrap-anywhere").mark("replayed-count")
        self.log = TapLog(REPLAY_MAX).classes("w-full h-64").mark("replayed")
        self.log.props("data-testid=replayed")

    async def by_seq(self) -> None:
        start, end = int(self.start.value or 1), int(self.end.value or 1)
        await self.show(("seq", start), replay, self.root, start, end, self.tap.topic_prefix)

    async def by_time(self) -> None:
        since, until, now = self.since.value or "", self.until.value or "", time.time()
        try:
            start = ("time", present.parse_time(since, now)) if since.strip() else None
        except ValueError:
            start = None  # replay_time says why
        await self.show(start, replay_time, self.root, since, until, self.tap.topic_prefix, now)

    async def show(self, start: tuple[str, float] | None, read, *args) -> None:
        if session.require() is None:  # reads the log: only for a session that holds
            return
        self.log.clear()
        self.said.set_text("reading...")
        try:
            found = await offload.io_bound(read, *args)
        except ValueError as err:
            self.said.set_text(f"Nothing replayed: {err}")
            self.said.classes(add=theme.health("down"))
            return
        self.said.classes(remove=theme.health("down"))
        capped = " (the first ones only: narrow the range)" if len(found) >= REPLAY_MAX else ""
        trimmed = await offload.io_bound(eventlog.history_note, self.root, *start) if start else ""
        self.said.set_text(f"{len(found)} records{capped}" + (f"; {trimmed}" if trimmed else ""))
        if found:
            self.log.push("\n".join(present.tap_line(m, dated=True) for m in found))
