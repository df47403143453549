"""Events: the live tap in the browser (topic-prefix filter, pause), a replay from disk of a
range by sequence or by time, and one record in full (``/events?seq=N``: what the Drift
page links to)."""

from __future__ import annotations

import collections
import time

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from actors.readmodel import eventlog
from bus.envelope import Message
from gui import present, session, theme
from gui.tap_log import TapLog

LINES = 500
REPLAY_MAX = 1000


def line(message: Message) -> str:
    payload = " ".join(f"{k}={v}" for k, v in message.payload.items())
    return f"{message.seq:>8} {message.topic} [{message.source}] {payload}"[:400]


def replay(root, start: int, end: int, prefix: str) -> list[str]:
    return [line(m) for m in eventlog.by_seq(root, start, end, prefix, REPLAY_MAX)]


def replay_time(root, start: str, end: str, prefix: str, now: float) -> list[str]:
    """A range by time (``start`` inclusive, ``end`` exclusive; no end: up to now), bounded
    to ``REPLAY_MAX`` lines. ValueError with a line for the operator for a bad time."""
    first = present.parse_time(start, now)
    last = present.parse_time(end, now) if end.strip() else now + 1
    if first >= last:
        raise ValueError("the start is not before the end: nothing can match")
    return [line(m) for m in eventlog.by_time(root, first, last, prefix, REPLAY_MAX)]


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
                ui.label(value).classes("break-all").mark(f"record-{name}")
        ui.label(present.pretty(message.payload)).classes(
            "whitespace-pre-wrap break-all font-mono text-xs w-full"
        ).mark("record-payload")


def register(ctx) -> None:
    @ui.page("/events")
    async def events_page(seq: int | None = None) -> RedirectResponse | None:
        operator = session.operator(ctx.operators)
        if operator is None:
            return RedirectResponse("/login")
        with theme.frame("Events", operator, session.log_out):
            if seq is not None:
                show_record(await run.io_bound(eventlog.record, ctx.root, seq), seq)
            with ui.row().classes("items-center gap-3 flex-wrap"):
                prefix = ui.input("Topic prefix", placeholder="action.").mark("prefix")
                paused = ui.switch("Pause").mark("pause")
            recent = [line(m) for m in ctx.feed.recent]  # no filter typed yet
            tap = TapLog(LINES, initial=recent).classes("w-full h-96").mark("tap")
            tap.props("data-testid=tap")
            with ui.row().classes("items-center gap-3 flex-wrap"):
                start = ui.number("From seq", value=seq or 1, min=1, precision=0)
                end = ui.number("To seq", value=(seq or 1) + 99, min=1, precision=0)

                async def do_replay() -> None:
                    shown = await run.io_bound(
                        replay,
                        ctx.root,
                        int(start.value or 1),
                        int(end.value or 1),
                        prefix.value or "",
                    )
                    fill(shown)

                ui.button("Replay from disk", on_click=do_replay).mark("replay")
            with ui.row().classes("items-center gap-3 flex-wrap"):
                since = ui.input("From time").props("type=datetime-local step=1").mark("from-time")
                until = ui.input("To time").props("type=datetime-local step=1").mark("to-time")

                async def do_replay_time() -> None:
                    if not since.value:
                        ui.notify("Pick the time to start from", type="warning")
                        return
                    try:
                        shown = await run.io_bound(
                            replay_time,
                            ctx.root,
                            since.value,
                            until.value or "",
                            prefix.value or "",
                            time.time(),
                        )
                    except ValueError as err:
                        ui.notify(str(err), type="negative")
                        return
                    fill(shown)

                ui.button("Replay time range", on_click=do_replay_time).mark("replay-time")
            replayed_count = ui.label("").classes("text-xs opacity-70").mark("replayed-count")
            replayed = TapLog(REPLAY_MAX).classes("w-full h-64").mark("replayed")

        def fill(shown: list[str]) -> None:
            replayed.clear()
            replayed.push("\n".join(shown))
            capped = " (the first ones only: narrow the range)" if len(shown) >= REPLAY_MAX else ""
            replayed_count.set_text(f"{len(shown)} records{capped}")

        held: collections.deque[str] = collections.deque(maxlen=LINES)

        def on_message(message: Message) -> None:
            if message.topic.startswith(prefix.value or ""):
                (held.append if paused.value else tap.push)(line(message))

        def on_pause(event) -> None:
            """Pause freezes the view; what arrived meanwhile (the last LINES) follows on
            resume, so the tap has no gap."""
            if not event.value:
                for text in held:
                    tap.push(text)
                held.clear()

        paused.on_value_change(on_pause)

        ctx.feed.subscribe(on_message, anyone=True)  # everything, with who sent it
        return None
