"""Approve and Reject: the decision goes through ``actors.decisions``, as with ``homelab
actions approve``, and the answer is told to the page. It goes on the bus with the keys of
the operator whose session owns the page (``operator:NAME``, as ``ui:NAME``), never with the
UI's own, which may decide nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from nicegui import context, ui

from actors import decisions
from actors.readmodel.models import ActionView
from bus import keys
from bus.dataroot import DataRoot
from gui import auth, operator_keys, session
from gui.present import words

DESTRUCTIVE = ("stop",)  # asked again before approving
REASON_MAX = 500  # characters of a rejection's reason


def service_of(a: ActionView) -> str:
    return (a.model_extra or {}).get("service") or a.target


class Decisions:
    """Approve and Reject for one page. The answer comes back to the page, not to the card
    that was clicked: a live redraw may remove that card (the action was decided, another
    one arrived) before the queue answers, and the operator must still read the outcome.
    The dialogs live at page level for the same reason. The page itself changes with the
    queue's messages, not with the answer."""

    def __init__(self, root: Path, bus: str):
        self.root, self.bus = root, bus
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
        own = session.bus_key()
        if own is None and keys.current() is not None:  # CURVE on, and no key to decide with
            self.tell(f"Not {kind}d: {await self.why_locked(name)}", "negative")
            return
        try:
            said = await decisions.decide_async(
                self.root, self.bus, a.id, kind, name, reason, shown_hash=a.hash, curve=own
            )
        except decisions.Refused as err:
            self.tell(f"Not {kind}d: {err}", "negative")
        else:
            self.tell(said, "positive")

    async def why_locked(self, name: str) -> str:
        operators = auth.Operators(DataRoot(self.root).operators)
        return await asyncio.to_thread(operator_keys.why_locked, operators, name)

    def tell(self, text: str, kind: Literal["positive", "negative"]) -> None:
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
