"""The Action Queue's three parts (pending cards, running output, history) kept current by
the queue's own messages: each ``action.*`` from the feed is folded (``gui.live.queue``)
and the parts redrawn from the fold; the output lines go to their running card."""

from __future__ import annotations

from nicegui import ui

from bus.envelope import Message
from gui.components.action_cards import PendingCards, RunningCards
from gui.components.history import History
from gui.components.redraw import Redraw
from gui.feed import Feed
from gui.live.queue import QueueFold


class QueueBoard:
    def __init__(
        self, fold: QueueFold, pending: PendingCards, running: RunningCards, history: History
    ):
        self.fold, self.pending, self.running, self.history = fold, pending, running, history
        self.redraw = Redraw(self.show)

    def follow(self, feed: Feed) -> None:
        """Fold what the feed kept (the files may not hold it yet), draw, then follow it
        live: no await in between, so no message falls in a gap."""
        for message in feed.recent_trusted():
            self.fold.apply(message)
        self.show()
        feed.subscribe(self.on_message)

    def show(self) -> None:
        found = self.fold.view()
        self.pending.show(found.pending)
        self.running.show(found.running)
        self.history.show(found.history)

    def on_message(self, message: Message) -> None:
        if message.topic == "action.output":
            self.running.live(message)
        elif self.fold.apply(message):
            self.redraw.soon()


def heading(text: str) -> None:
    ui.label(text).classes("text-xl")
