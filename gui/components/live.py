"""A part drawn from a fold (``actors.readmodel.live``): what the feed kept is folded in, the part is
drawn, then each message that changes the fold redraws it (a burst once). Nothing is read
again: the messages are what changes the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from nicegui import context

from bus.envelope import Message
from gui.components.redraw import Redraw
from gui.feed import Feed


class Fold(Protocol):
    def apply(self, message: Message) -> bool: ...


F = TypeVar("F", bound=Fold)


class Live(Generic[F]):
    def __init__(self, fold: F, draw: Callable[[F], None]):
        self.fold, self.draw = fold, draw
        self.client = context.client  # of the page being built
        self.redraw = Redraw(self.show)

    def follow(self, feed: Feed) -> None:
        """The feed's recent messages (their files may not hold them yet), a first draw,
        then the live ones: no await in between, so no message falls in a gap."""
        for message in feed.recent_trusted():
            self.fold.apply(message)
        self.show()
        feed.subscribe(self.on_message)

    def show(self) -> None:
        if not self.client.is_deleted:  # a redraw may come after the tab closed
            self.draw(self.fold)

    def on_message(self, message: Message) -> None:
        if self.fold.apply(message):
            self.redraw.soon()
