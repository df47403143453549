"""The UI's pages, one module each; ``register`` adds them all. Every page follows the bus
through the one feed and reads through the read model."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi.responses import RedirectResponse
from nicegui import ui

from bus.envelope import Message
from gui import auth, limiter, session, theme
from gui.config import UiConfig
from gui.feed import Feed

REFRESH_AT_MOST_EVERY = 0.3  # seconds: a burst of messages is one refresh
SETTLE = 3.0  # seconds after a change during which each bus.stats tick refreshes again


@dataclasses.dataclass
class Context:
    """What every page works with: the settings, the data root, the operators, the login
    limit and the one feed from the bus."""

    config: UiConfig
    root: Path
    operators: auth.Operators
    limiter: limiter.LoginLimiter
    feed: Feed


def page(path: str, title: str) -> Callable:
    """Register the decorated ``async`` function as the page at ``path``, shown in the
    shared frame under ``title``, and only to a logged-in operator: the one place pages
    check the login (a page load without a valid session goes to the login page; handlers
    check again, ``session.require``). The function takes the page's path and query
    parameters, as with ``ui.page``."""

    def decorate(build: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(build)  # NiceGUI reads the parameters through __wrapped__
        async def handler(*args, **kwargs) -> RedirectResponse | None:
            operator = session.operator()
            if operator is None:
                return RedirectResponse("/login")
            with theme.frame(title, operator, session.log_out):
                await build(*args, **kwargs)
            return None

        ui.page(path)(handler)
        return build

    return decorate


def register(ctx: Context) -> None:
    from gui.pages import actions, dashboard, drift, events, login, world

    for page in (login, dashboard, world, drift, actions, events):
        page.register(ctx)


def follow(ctx: Context, prefixes: tuple[str, ...], refresh: Callable[[], Awaitable[None]]) -> None:
    """Call ``refresh`` when messages with these topic prefixes arrive, at most every
    ``REFRESH_AT_MOST_EVERY`` seconds. The files behind a message are written by its
    publisher just after it is sent (the observer's ``world/`` once a second), so the page
    also looks again on each ``bus.stats`` tick for ``SETTLE`` seconds after a change."""
    state = {"pending": False, "last": 0.0, "until": 0.0}

    async def later() -> None:
        await asyncio.sleep(max(0.0, state["last"] + REFRESH_AT_MOST_EVERY - time.monotonic()))
        state["pending"], state["last"] = False, time.monotonic()
        await refresh()

    def on_message(message: Message) -> None:
        now = time.monotonic()
        if message.topic.startswith(prefixes):
            state["until"] = now + SETTLE
        elif not (message.topic == "bus.stats" and now < state["until"]):
            return
        if not state["pending"]:
            state["pending"] = True
            asyncio.get_running_loop().create_task(later())

    ctx.feed.subscribe(on_message)
