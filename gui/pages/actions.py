"""Action Queue: Pending (the exact commands, Approve / Reject), Running (the output so far,
then live) and History (who decided, when, the result, how long, and the whole output).
Decisions go through ``actors.decisions`` like ``homelab actions approve``; one made elsewhere
shows up at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import background_tasks, context, run, ui

from actors import decisions
from actors.readmodel import eventlog, publishers, queue
from actors.readmodel.models import ActionView
from bus.envelope import Message
from gui import present, session, theme
from gui.pages import follow, page
from gui.present import words
from gui.tap_log import TapLog

DESTRUCTIVE = ("stop",)  # asked again before approving
HISTORY_SHOWN = 200  # ended actions on the page
HISTORY_PAGE = 25  # rows per page of History
OUTPUT_LINES = 400  # lines of a running action's output kept on the page
REASON_MAX = 500  # characters of a rejection's reason
# what changes the queue: every action.* topic but the running output
CHANGES = tuple(f"action.{kind}" for kind in publishers.ACTION_PUBLISHERS if kind != "output")
HISTORY_COLUMNS = [
    {"name": name, "label": label, "field": name, "align": "left", "sortable": name != "output"}
    for name, label in (
        ("id", "Action"),
        ("service", "Service"),
        ("type", "Type"),
        ("state", "Result"),
        ("decided", "Decided by"),
        ("at", "At"),
        ("duration", "Took"),
        ("detail", "Detail"),
        ("output", "Output"),
    )
]
# The output button: a fixed template (row values are Vue text, never HTML).
OUTPUT_BUTTON = (
    '<q-btn v-if="props.row.ran" dense flat no-caps size="sm" icon="subject" label="Output" '
    ":data-testid=\"'output-' + props.row.id\" "
    "@click=\"() => $parent.$emit('output', props.row.id)\"/>"
)
OUTPUT_SLOT = f'<q-td :props="props">{OUTPUT_BUTTON}</q-td>'


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
    decision = a.decision
    why = a.result.get("detail") or a.result.get("reason") or (decision.reason if decision else "")
    return {
        "id": a.id,
        "service": extra.get("service") or "",
        "type": present.words(a.type),
        "state": present.words(a.state),
        "decided": (decision.by or "nobody") if decision else "",
        "at": present.absolute(decision.at if decision else a.created),
        "seconds": a.result.get("seconds", ""),
        "duration": present.duration(a.result.get("seconds")),
        "detail": str(why),
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


class Decisions:
    """Approve and Reject for one page. The answer comes back to the page, not to the card
    that was clicked: a live redraw may remove that card (the action was decided, another
    one arrived) before the queue answers, and the operator must still read the outcome.
    The dialogs live at page level for the same reason."""

    def __init__(self, ctx, refresh: Callable[[], Awaitable[None]]):
        self.ctx, self.refresh = ctx, refresh
        self.client = context.client
        self.confirm = DecisionDialog("approve", self.send)
        self.ask_reason = DecisionDialog("reject", self.send)

    def approve(self, a: ActionView) -> Awaitable[None] | None:
        if a.type in DESTRUCTIVE:
            self.confirm.ask(a)
            return None
        return self.send(a, "approve")

    def reject(self, a: ActionView) -> None:
        self.ask_reason.ask(a)

    async def send(self, a: ActionView, kind: str, reason: str = "") -> None:
        name = session.require()  # the websocket skips the middleware
        if name is None:
            return
        try:
            said = await decisions.decide_async(
                self.ctx.root,
                self.ctx.config.bus,
                a.id,
                kind,
                name,
                reason,
                channel="ui",
                shown_hash=a.hash,
            )
        except decisions.Refused as err:
            self.tell(f"Not {kind}d: {err}", "negative")
        else:
            self.tell(said, "positive")
        await self.refresh()

    def tell(self, text: str, kind: str) -> None:
        if self.client.is_deleted:  # the tab was closed meanwhile
            return
        with self.client:
            if kind == "negative":  # stays until read
                ui.notify(text, type=kind, multi_line=True, timeout=0, close_button="OK")
            else:
                ui.notify(text, type=kind)


class DecisionDialog:
    """Asked before a decision: the reason for a rejection (required, at most
    ``REASON_MAX`` characters, trimmed), or a second look at a destructive approval."""

    def __init__(self, kind: str, send: Callable[[ActionView, str, str], Awaitable[None]]):
        self.kind, self.send = kind, send
        self.action: ActionView | None = None
        with ui.dialog() as self.dialog, ui.card().classes("w-full max-w-lg"):
            self.title = ui.label().classes("text-lg wrap-anywhere")
            self.command = ui.label().classes("font-mono text-xs wrap-anywhere")
            self.reason = reason_input() if kind == "reject" else None
            with ui.row():
                color = "negative" if kind == "reject" else "primary"
                ui.button(kind.capitalize(), color=color, on_click=self.confirmed).mark(
                    f"{kind}-confirm"
                )
                ui.button("Cancel", on_click=self.dialog.close).props("flat").mark(f"{kind}-cancel")

    def ask(self, a: ActionView) -> None:
        self.action = a
        self.title.set_text(f"{self.kind.capitalize()} {words(a.type)} {service_of(a)} ({a.id})?")
        self.command.set_text(a.command_text)
        if self.reason is not None:
            self.reason.value = ""
            self.reason.error = None
        self.dialog.open()

    async def confirmed(self) -> None:
        if self.action is None:
            return
        if self.reason is not None and not self.reason.validate():
            return
        reason = self.reason.value.strip() if self.reason is not None else ""
        self.dialog.close()
        await self.send(self.action, self.kind, reason)


def reason_input() -> ui.textarea:
    said = ui.textarea(
        "Why? (kept with the action)",
        validation={
            "Say why it is rejected": lambda v: bool((v or "").strip()),
            f"At most {REASON_MAX} characters": lambda v: len((v or "").strip()) <= REASON_MAX,
        },
    )
    said.without_auto_validation().props(f"autofocus counter maxlength={REASON_MAX}")
    return said.classes("w-full").mark("reject-reason")


def service_of(a: ActionView) -> str:
    return (a.model_extra or {}).get("service") or a.target


def pending_card(a: ActionView, decisions: Decisions) -> ui.card:
    with ui.card().classes("w-full").mark(f"pending-{a.id}") as card:
        ui.label(f"{words(a.type)} {service_of(a)}").classes("text-lg")
        ui.label(f"{a.id} · target {a.target} · revision {a.revision}").classes(
            "text-xs opacity-70 wrap-anywhere"
        )
        ui.label(str((a.model_extra or {}).get("reason") or "")).mark(f"reason-{a.id}")
        ui.label(a.command_text).classes("font-mono text-sm wrap-anywhere").mark(f"command-{a.id}")
        with ui.row():
            ui.button("Approve", on_click=lambda: decisions.approve(a)).mark(f"approve-{a.id}")
            ui.button("Reject", color="negative", on_click=lambda: decisions.reject(a)).mark(
                f"reject-{a.id}"
            )
    return card


class PendingCards:
    """One card per pending action, kept by its id: a redraw adds and removes cards and
    leaves the others alone, so a click on one is never lost to a redraw of the list."""

    def __init__(self, decisions: Decisions):
        self.decisions = decisions
        self.column = ui.column().classes("w-full")
        with self.column:
            self.empty = ui.label("No pending actions.").mark("no-pending")
        self.cards: dict[str, tuple[str, ui.card]] = {}  # id -> (the hash shown, its card)

    def show(self, found: list[ActionView]) -> None:
        wanted = {a.id: a.hash for a in found}
        for action_id, (shown, card) in list(self.cards.items()):
            if wanted.get(action_id) != shown:  # decided, or changed since it was drawn
                card.delete()
                del self.cards[action_id]
        for a in found:
            if a.id not in self.cards:
                with self.column:
                    self.cards[a.id] = (a.hash, pending_card(a, self.decisions))
        self.empty.set_visibility(not found)


class RunningCards:
    """One card per running action: a card stays (with its output) while the action runs;
    a new one starts with what the action printed so far, then follows it live."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.empty = ui.label("Nothing running.").mark("no-running")
        self.column = ui.column().classes("w-full")
        self.cards: dict[str, tuple[ui.card, ui.label, Output]] = {}

    def show(self, found: list[ActionView]) -> None:
        for gone in set(self.cards) - {a.id for a in found}:
            self.cards.pop(gone)[0].delete()
        self.empty.set_visibility(not found)
        for a in found:
            title = (
                f"{words(a.state)}: {words(a.type)} {a.target} ({a.id}) approved by {a.approved_by}"
            )
            if a.id in self.cards:
                self.cards[a.id][1].set_text(title)
                continue
            with self.column, ui.card().classes("w-full").mark(f"running-{a.id}") as card:
                label = ui.label(title).classes("wrap-anywhere")
                log = TapLog(OUTPUT_LINES).classes("w-full h-40").mark(f"output-{a.id}")
            self.cards[a.id] = (card, label, Output(log))
            background_tasks.create(self.catch_up(a), name=f"catch up {a.id}")

    def live(self, message: Message) -> None:
        if message.topic == "action.output" and message.payload.get("id") in self.cards:
            self.cards[message.payload["id"]][2].live(message)

    async def catch_up(self, a: ActionView) -> None:
        """What the action printed before this card was made (from the log), then the
        live chunks held meanwhile: none twice, none lost."""
        try:
            lines, last = await run.io_bound(
                eventlog.action_output,
                self.ctx.root,
                a.id,
                a.approved_at or a.created,
                OUTPUT_LINES,
            )
        except Exception as err:  # noqa: BLE001 - the live part still shows
            lines, last = [f"[could not read the output so far: {err}]"], 0
        if a.id in self.cards:
            self.cards[a.id][2].caught_up(lines, last)


class History:
    """Ended actions, newest first, a page at a time; each run's output opens in a dialog."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.note = ui.label().classes("text-xs opacity-70")
        self.table = ui.table(
            columns=HISTORY_COLUMNS, rows=[], row_key="id", pagination=HISTORY_PAGE
        )
        self.table.classes("w-full").props('dense wrap-cells no-data-label="None yet."')
        self.table.mark("history")
        self.table.add_slot("body-cell-output", OUTPUT_SLOT)
        theme.cards_on_a_phone(self.table, footer=OUTPUT_BUTTON)
        self.table.on("output", lambda e: self.show_output(str(e.args)))

    def show(self, history: list[ActionView]) -> None:
        self.table.rows = history_rows(history)
        self.note.set_text(history_shown(history))

    async def show_output(self, action_id: str) -> None:
        if session.require() is None:
            return
        try:
            found = await run.io_bound(queue.detail, self.ctx.root, action_id)
        except queue.NoSuchAction as err:
            ui.notify(str(err), type="negative")
            return
        output_dialog(found)


def output_dialog(found) -> None:
    a = found.action
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-3xl"):
        ui.label(f"{words(a.state)}: {words(a.type)} {a.target} ({a.id})").classes("wrap-anywhere")
        took = present.duration(a.result.get("seconds"))
        ui.label(
            f"{found.output_path or 'no output stored'}"
            + (f" · took {took}" if took else "")
            + (" · the last 64 KiB" if len(found.output) >= queue.OUTPUT_SHOWN else "")
        ).classes("text-xs opacity-70 wrap-anywhere")
        with ui.scroll_area().classes("w-full h-96 border"):
            shown = ui.label(found.output or "(no output)")
            shown.classes("whitespace-pre-wrap wrap-anywhere font-mono text-xs")
            shown.mark(f"history-output-{a.id}")
        ui.button("Close", on_click=dialog.close).props("flat")
    dialog.on("hide", dialog.delete)
    dialog.open()


def register(ctx) -> None:
    @page("/actions", "Action Queue")
    async def actions_page() -> None:
        async def refresh() -> None:
            show(await run.io_bound(queue.read, ctx.root))

        def show(found) -> None:
            pending.show(found.pending)
            running.show(found.running)
            history.show(found.history)

        found = await run.io_bound(queue.read, ctx.root)
        decisions = Decisions(ctx, refresh)
        ui.label("Pending").classes("text-xl")
        pending = PendingCards(decisions)
        ui.label("Running").classes("text-xl")
        running = RunningCards(ctx)
        ui.label("History").classes("text-xl")
        history = History(ctx)
        show(found)
        ctx.feed.subscribe(running.live)
        follow(ctx, CHANGES, refresh)
