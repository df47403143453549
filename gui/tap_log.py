"""A capped log of text lines for fast streams (the Events page's live tap).

NiceGUI's ``ui.log`` sends its whole content on every push and the browser re-renders every
line: at 50 messages/s the page fell seconds behind and NiceGUI reloaded it
(bench/ui_bench.py). This one sends only the new lines, batched per event-loop turn, and the
browser appends them as text nodes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Self

from nicegui import ui


class TapLog(ui.element, component=Path(__file__).with_name("tap_log.js")):
    def __init__(self, max_lines: int, initial: list[str] | None = None) -> None:
        """``initial`` lines are part of the page as it is sent; later ones are pushed (and
        held by NiceGUI until the page's socket is connected, so none is lost)."""
        super().__init__()
        self.max_lines = max_lines
        self._props["maxLines"] = max_lines
        self._props["initial"] = list(initial or [])[-max_lines:]
        self._pending: list[str] = []

    def push(self, text: str) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.extend(str(text).splitlines() or [""])

    def _flush(self) -> None:
        lines, self._pending = self._pending[-self.max_lines :], []
        if lines and not self.is_deleted:
            self.run_method("push", lines)

    def clear(self) -> Self:  # (an element's clear() returns it, for chaining)
        self._pending = []
        self._props["initial"] = []
        self.run_method("clear")
        return self
