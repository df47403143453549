"""The UI's pages, one module each; ``register`` adds them all. A page is a few lines built
from components (``gui.components``): it reads the read model once when it opens, then
folds the messages of the one feed into what it shows (``actors.readmodel.live``)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi.responses import RedirectResponse
from nicegui import ui

from gui import auth, limiter, session, theme
from gui.config import UiConfig
from gui.feed import Feed


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
