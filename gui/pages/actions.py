"""Action Queue: Pending (the exact commands, Approve / Reject), Running (the output so far,
then live) and History (who decided, when, the result, how long, and the whole output).
Decisions go through ``actors.commands`` like ``homelab actions approve``; one made elsewhere
shows up at once."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import background_tasks, run, ui

from actors import commands
from actors.readmodel import eventlog, queue
from actors.readmodel.models import ActionView
from bus.envelope import Message
from gui import present, session, theme
from gui.pages import follow
from gui.tap_log import TapLog

DESTRUCTIVE = ("stop",)  # asked again before approving
HISTORY_SHOWN = 200  # ended actions on the page
HISTORY_PAGE = 25  # rows per page of History
OUTPUT_LINES = 400  # lines of a running action's output kept on the page
PHONE_HIDDEN = {"classes": "gt-xs", "headerClasses": "gt-xs"}  # columns a phone leaves out
HISTORY_COLUMNS = [
    {"name": name, "label": label, "field": name, "align": "left", "sortable": True} | extra
    for name, label, extra in (
        ("id", "Action", PHONE_HIDDEN),
        ("service", "Service", {}),
        ("type", "Type", PHONE_HIDDEN),
        ("state", "Result", {}),
        ("decided", "Decided by", PHONE_HIDDEN),
        ("at", "At", PHONE_HIDDEN),
        ("duration", "Took", {}),
        ("detail", "Detail", {}),
        ("output", "Output", {"sortable": False}),
    )
]
# The output button: a fixed template (row values are Vue text, never HTML).
OUTPUT_SLOT = (
    '<q-td :props="props"><q-btn v-if="props.row.ran" dense flat no-caps size="sm" '
    'icon="subject" label="Output" :data-testid="\'output-\' + props.row.id" '
    "@click=\"() => $parent.$emit('output', props.row.id)\"/></q-td>"
)


def history_rows(history: list[ActionView]) -> list[dict]:
    """The newest ``HISTORY_SHOWN`` ended actions: the page stays light after years."""
    return [history_row(a) for a in history[:HISTORY_SHOWN]]


def history_shown(history: list[ActionView]) -> str:
    if len(history) <= HISTORY_SHOWN:
        return f"{len(history)} ended actions, newest first"
    return (
        f"the newest {HISTORY_SHOWN} of {len(history)} ended actions (all: `homelab actions list`)"
    )


def history_row(a: ActionView) -> dict:
    extra = a.model_extra or {}
    decision = next(
        (e for e in reversed(a.history) if e.kind in ("approve", "reject", "expire", "obsolete")),
        None,
    )
    return {
        "id": a.id,
        "service": extra.get("service") or "",
        "type": a.type,
        "state": a.state,
        "decided": decision.by if decision else "",
        "at": present.absolute(decision.at if decision else a.created),
        "seconds": a.result.get("seconds", ""),
        "duration": present.duration(a.result.get("seconds")),
        "detail": str(a.result.get("detail") or (decision.reason if decision else "")),
        "ran": bool(a.result.get("log")) or "seconds" in a.result,
    }


class Output:
    """A running action's log on the page: live chunks are held until the output printed
    before the page opened is shown, then only those after it are added."""

    def __init__(self, log: TapLog):
        self.log = log
        self.upto: int | None = None  # the last seq the catch-up read
        self.held: list[Message] = []

    def live(self, message: Message) -> None:
        if self.upto is None:
            self.held.append(message)
        elif message.seq > self.upto:
            self.log.push(str(message.payload.get("chunk", "")).rstrip("\n"))

    def caught_up(self, lines: list[str], upto: int) -> None:
        self.log.push("\n".join(lines))
        self.upto = upto
        for message in self.held:
            self.live(message)
        self.held = []


def register(ctx) -> None:
    @ui.page("/actions")
    async def actions_page() -> RedirectResponse | None:
        operator = session.operator(ctx.operators)
        if operator is None:
            return RedirectResponse("/login")
        outputs: dict[str, Output] = {}

        async def decide(a: ActionView, kind: str, reason: str = "") -> None:
            name = session.require(ctx.operators)  # the websocket skips the middleware
            if name is None:
                return
            try:
                said = await commands.decide_async(
                    ctx.root,
                    ctx.config.bus,
                    a.id,
                    kind,
                    name,
                    reason,
                    channel="ui",
                    shown_hash=a.hash,
                )
            except commands.Refused as err:
                ui.notify(str(err), type="negative", multi_line=True)
            else:
                ui.notify(said, type="positive")
            await refresh()

        def confirm_then_approve(a: ActionView) -> None:
            with ui.dialog() as dialog, ui.card():
                ui.label(f"{a.type} {a.target}: really?")
                ui.label(a.command_text).classes("font-mono text-xs break-all")
                with ui.row():
                    ui.button(
                        "Approve", on_click=lambda: (dialog.close(), decide(a, "approve"))[1]
                    ).mark(f"confirm-{a.id}")
                    ui.button("Cancel", on_click=dialog.close).props("flat")
            dialog.open()

        @ui.refreshable
        def pending(found: list[ActionView]) -> None:
            if not found:
                ui.label("No pending actions.").mark("no-pending")
            for a in found:
                extra = a.model_extra or {}
                with ui.card().classes("w-full").mark(f"pending-{a.id}"):
                    ui.label(f"{a.type} {extra.get('service') or a.target}").classes("text-lg")
                    ui.label(f"{a.id} · target {a.target} · revision {a.revision}").classes(
                        "text-xs opacity-70 break-all"
                    )
                    ui.label(str(extra.get("reason") or "")).mark(f"reason-{a.id}")
                    ui.label(a.command_text).classes("font-mono text-sm break-all").mark(
                        f"command-{a.id}"
                    )
                    reason = ui.input("Reason (for a rejection)").classes("w-full")
                    with ui.row():
                        if a.type in DESTRUCTIVE:
                            ui.button("Approve", on_click=lambda a=a: confirm_then_approve(a)).mark(
                                f"approve-{a.id}"
                            )
                        else:
                            ui.button("Approve", on_click=lambda a=a: decide(a, "approve")).mark(
                                f"approve-{a.id}"
                            )
                        ui.button(
                            "Reject",
                            color="negative",
                            on_click=lambda a=a, r=reason: decide(a, "reject", r.value),
                        ).mark(f"reject-{a.id}")

        running_box: dict[str, tuple[ui.card, ui.label]] = {}

        def running(found: list[ActionView]) -> None:
            """Keep one card per running action: a card stays (with its output) while the
            action runs; a new one starts with what the action printed so far."""
            for gone in set(running_box) - {a.id for a in found}:
                running_box.pop(gone)[0].delete()
                outputs.pop(gone, None)
            nothing_running.set_visibility(not found)
            for a in found:
                title = f"{a.state}: {a.type} {a.target} ({a.id}) approved by {a.approved_by}"
                if a.id in running_box:
                    running_box[a.id][1].set_text(title)
                    continue
                with running_column, ui.card().classes("w-full").mark(f"running-{a.id}") as card:
                    label = ui.label(title).classes("break-all")
                    log = TapLog(OUTPUT_LINES).classes("w-full h-40")
                    log.mark(f"output-{a.id}")
                outputs[a.id] = Output(log)
                running_box[a.id] = (card, label)
                background_tasks.create(catch_up(a), name=f"catch up {a.id}")

        async def catch_up(a: ActionView) -> None:
            """What the action printed before this card was made (from the log), then the
            live chunks held meanwhile: none twice, none lost."""
            try:
                lines, last = await run.io_bound(
                    eventlog.action_output,
                    ctx.root,
                    a.id,
                    a.approved_at or a.created,
                    OUTPUT_LINES,
                )
            except Exception as err:  # noqa: BLE001 - the live part still shows
                lines, last = [f"[could not read the output so far: {err}]"], 0
            if a.id in outputs:
                outputs[a.id].caught_up(lines, last)

        async def show_output(action_id: str) -> None:
            if session.require(ctx.operators) is None:
                return
            try:
                found = await run.io_bound(queue.detail, ctx.root, action_id)
            except queue.NoSuchAction as err:
                ui.notify(str(err), type="negative")
                return
            a = found.action
            with ui.dialog() as dialog, ui.card().classes("w-full max-w-3xl"):
                ui.label(f"{a.state}: {a.type} {a.target} ({a.id})").classes("break-all")
                took = present.duration(a.result.get("seconds"))
                ui.label(
                    f"{found.output_path or 'no output stored'}"
                    + (f" · took {took}" if took else "")
                    + (" · the last 64 KiB" if len(found.output) >= queue.OUTPUT_SHOWN else "")
                ).classes("text-xs opacity-70 break-all")
                with ui.scroll_area().classes("w-full h-96 border"):
                    shown = ui.label(found.output or "(no output)")
                    shown.classes("whitespace-pre-wrap break-all font-mono text-xs")
                    shown.mark(f"history-output-{a.id}")
                ui.button("Close", on_click=dialog.close).props("flat")
            dialog.on("hide", dialog.delete)
            dialog.open()

        with theme.frame("Action Queue", operator, session.log_out):
            found = await run.io_bound(queue.read, ctx.root)
            ui.label("Pending").classes("text-xl")
            pending(found.pending)
            ui.label("Running").classes("text-xl")
            nothing_running = ui.label("Nothing running.").mark("no-running")
            running_column = ui.column().classes("w-full")
            running(found.running)
            ui.label("History").classes("text-xl")
            history_note = ui.label(history_shown(found.history)).classes("text-xs opacity-70")
            history = ui.table(
                columns=HISTORY_COLUMNS,
                rows=history_rows(found.history),
                row_key="id",
                pagination=HISTORY_PAGE,
            )
            history.classes("w-full").props("dense wrap-cells").mark("history")
            history.add_slot("body-cell-output", OUTPUT_SLOT)
            history.on("output", lambda e: show_output(str(e.args)))

        async def refresh() -> None:
            latest = await run.io_bound(queue.read, ctx.root)
            pending.refresh(latest.pending)
            running(latest.running)
            history.rows = history_rows(latest.history)
            history_note.set_text(history_shown(latest.history))

        def on_output(message) -> None:
            if message.topic == "action.output" and message.payload.get("id") in outputs:
                outputs[message.payload["id"]].live(message)

        ctx.feed.subscribe(on_output)
        follow(
            ctx,
            (
                "action.pending",
                "action.approved",
                "action.rejected",
                "action.running",
                "action.succeeded",
                "action.failed",
                "action.timed_out",
                "action.interrupted",
                "action.expired",
                "action.obsolete",
                "action.refused",
            ),
            refresh,
        )
        return None
