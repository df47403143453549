"""The Action Queue's three parts (pending cards, running output, history), drawn from the
queue's fold (``actors.readmodel.live.queue``)."""

from __future__ import annotations

from nicegui import ui

from actors.readmodel.live.queue import QueueFold
from gui.components.action_cards import PendingCards, RunningCards
from gui.components.history import History


class QueueBoard:
    def __init__(self, pending: PendingCards, running: RunningCards, history: History):
        self.pending, self.running, self.history = pending, running, history

    def show(self, fold: QueueFold) -> None:
        found = fold.view()
        self.pending.show(found.pending)
        self.running.show(found.running)
        self.history.show(found.history)


def heading(text: str) -> None:
    ui.label(text).classes("text-xl")
