"""Blocking reads off the event loop, typed as they return.

NiceGUI's ``run.io_bound`` returns None when the call is cancelled or the app is stopping,
which a caller cannot tell from a callback's own None (and which types every result as
optional). NiceGUI 4 will raise ``CancelledError`` there instead; ``io_bound`` does so now."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from nicegui import run

P = ParamSpec("P")
R = TypeVar("R")


async def io_bound(callback: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``callback(*args, **kwargs)`` in NiceGUI's thread pool; CancelledError if the call was
    cancelled or the app is stopping (the page that asked is going away)."""

    def boxed() -> tuple[R]:
        return (callback(*args, **kwargs),)

    result = await run.io_bound(boxed)
    if result is None:
        raise asyncio.CancelledError("the call was cancelled or the UI is stopping")
    return result[0]
