"""The Action Queue's cards: one per pending action (the exact commands, Approve / Reject)
and one per running action (the output so far, then live). Each list is kept by action id,
so a redraw adds and removes cards and leaves the others alone."""

from __future__ import annotations

import functools
from pathlib import Path

from nicegui import background_tasks, ui

from actors.domain import topics
from actors.readmodel import eventlog
from actors.readmodel.models import ActionView
from bus.envelope import Message
from gui import offload
from gui.components.approval import Decisions, service_of
from gui.present import words
from gui.tap_log import TapLog

OUTPUT_LINES = 400  # lines of a running action's output kept on the page


def pending_card(a: ActionView, decisions: Decisions) -> ui.card:
    with ui.card().classes("w-full").mark(f"pending-{a.id}") as card:
        ui.label(f"{words(a.type)} {service_of(a)}").classes("text-lg")
        ui.label(f"{a.id} · target {a.target} · revision {a.revision}").classes(
            "text-xs opacity-70 wrap-anywhere"
        )
        ui.label(str((a.model_extra or {}).get("reason") or "")).mark(f"reason-{a.id}")
        ui.label(a.command_text).classes("font-mono text-sm wrap-anywhere").mark(f"command-{a.id}")
        with ui.row():
            approve = functools.partial(decisions.approve, a)
            reject = functools.partial(decisions.reject, a)
            ui.button("Approve", on_click=approve).mark(f"approve-{a.id}")
            ui.button("Reject", color="negative", on_click=reject).mark(f"reject-{a.id}")
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


class RunningCard:
    """One running (or approved) action: who approved it, and its output."""

    def __init__(self, a: ActionView):
        with ui.card().classes("w-full").mark(f"running-{a.id}") as self.card:
            self.title = ui.label().classes("wrap-anywhere")
            log = TapLog(OUTPUT_LINES).classes("w-full h-40").mark(f"output-{a.id}")
        self.output = Output(log)
        self.show(a)

    def show(self, a: ActionView) -> None:
        self.title.set_text(
            f"{words(a.state)}: {words(a.type)} {a.target} ({a.id}) approved by {a.approved_by}"
        )


class RunningCards:
    """One card per running action: a card stays (with its output) while the action runs;
    a new one starts with what the action printed so far, then follows it live."""

    def __init__(self, root: Path):
        self.root = root
        self.empty = ui.label("Nothing running.").mark("no-running")
        self.column = ui.column().classes("w-full")
        self.cards: dict[str, RunningCard] = {}

    def show(self, found: list[ActionView]) -> None:
        for gone in set(self.cards) - {a.id for a in found}:
            self.cards.pop(gone).card.delete()
        self.empty.set_visibility(not found)
        for a in found:
            if a.id in self.cards:
                self.cards[a.id].show(a)
                continue
            with self.column:
                self.cards[a.id] = RunningCard(a)
            background_tasks.create(self.catch_up(a), name=f"catch up {a.id}")

    def live(self, message: Message) -> None:
        """A line of output from the executor (``action.output``)."""
        if message.topic != topics.ACTION_OUTPUT:
            return
        card = self.cards.get(str(message.payload.get("id")))
        if card is not None:
            card.output.live(message)

    async def catch_up(self, a: ActionView) -> None:
        """What the action printed before this card was made (from the log), then the
        live chunks held meanwhile: none twice, none lost."""
        try:
            lines, last = await offload.io_bound(
                eventlog.action_output, self.root, a.id, a.approved_at or a.created, OUTPUT_LINES
            )
        except Exception as err:  # noqa: BLE001 - the live part still shows
            lines, last = [f"[could not read the output so far: {err}]"], 0
        if a.id in self.cards:
            self.cards[a.id].output.caught_up(lines, last)
