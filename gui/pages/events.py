"""Events: the live tap in the browser (topic-prefix filter, pause) and a replay of a
sequence range from disk."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from bus import filelog
from bus.dataroot import DataRoot
from bus.envelope import Message
from gui import session, theme

LINES = 500
REPLAY_MAX = 1000


def line(message: Message) -> str:
    payload = " ".join(f"{k}={v}" for k, v in message.payload.items())
    return f"{message.seq:>8} {message.topic} [{message.source}] {payload}"[:400]


def replay(root, start: int, end: int, prefix: str) -> list[str]:
    log = filelog.FileLog(DataRoot(root).require().events)
    found = log.messages(max(0, start - 1), end, [prefix] if prefix else [])
    return [line(m) for _, m in zip(range(REPLAY_MAX), found, strict=False)]


def register(ctx) -> None:
    @ui.page("/events")
    def events_page() -> RedirectResponse | None:
        operator = session.operator(ctx.operators)
        if operator is None:
            return RedirectResponse("/login")
        with theme.frame("Events", operator, session.log_out):
            with ui.row().classes("items-center gap-3 flex-wrap"):
                prefix = ui.input("Topic prefix", placeholder="action.").mark("prefix")
                paused = ui.switch("Pause").mark("pause")
            tap = ui.log(max_lines=LINES).classes("w-full h-96").mark("tap")
            for message in ctx.feed.recent:
                if message.topic.startswith(prefix.value or ""):
                    tap.push(line(message))
            with ui.row().classes("items-center gap-3 flex-wrap"):
                start = ui.number("From seq", value=1, min=1, precision=0)
                end = ui.number("To seq", value=100, min=1, precision=0)

                async def do_replay() -> None:
                    shown = await run.io_bound(
                        replay,
                        ctx.root,
                        int(start.value or 1),
                        int(end.value or 1),
                        prefix.value or "",
                    )
                    replayed.clear()
                    for text in shown:
                        replayed.push(text)

                ui.button("Replay from disk", on_click=do_replay).mark("replay")
            replayed = ui.log(max_lines=REPLAY_MAX).classes("w-full h-64").mark("replayed")

        def on_message(message: Message) -> None:
            if not paused.value and message.topic.startswith(prefix.value or ""):
                tap.push(line(message))

        ctx.feed.subscribe(on_message)
        return None
