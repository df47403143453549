"""The operator UI: NiceGUI pages over the read model, live from the bus, behind a login.

``setup(config)`` registers everything (pages, ``GET /summary``, ``GET /healthz``, the login
check, the websocket's allowed origins, the bus feed); ``serve(config)`` runs it. Pages read
through ``actors.readmodel`` and decide through ``actors.commands``, like the CLI.
"""

from __future__ import annotations

import os
import urllib.parse

from bus.dataroot import DataRoot
from gui.config import UiConfig

OPEN_PATHS = ("/login", "/healthz", "/summary", "/favicon.ico")


def serve(config: UiConfig) -> int:
    """Run the UI until it is stopped (blocking)."""
    data = DataRoot(config.root).require()
    from gui import auth

    secret = config.storage_secret or auth.session_secret(data.session_secret)
    setup(config)
    from nicegui import ui

    ui.run(
        host=config.host,
        port=config.port,
        title="homelab",
        dark=None,  # follows the system's dark mode
        reload=False,
        show=False,
        storage_secret=secret,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
    )
    return 0


def setup(config: UiConfig) -> None:
    data = DataRoot(config.root)
    # Sessions live under the data root (NiceGUI reads this when it is imported).
    os.environ.setdefault("NICEGUI_STORAGE_PATH", str(data.path / "ui" / "sessions"))
    from fastapi import Request
    from fastapi.responses import JSONResponse, RedirectResponse
    from nicegui import app, core
    from starlette.middleware.base import BaseHTTPMiddleware

    from actors.readmodel import summary
    from gui import auth, feed, pages

    operators = auth.Operators(data.operators)
    bus_feed = feed.Feed(config.bus)
    core.sio.eio.cors_allowed_origins = allowed_origins(config)

    class LoginRequired(BaseHTTPMiddleware):
        """Page loads need a login (the websocket does not pass here: handlers check too)."""

        async def dispatch(self, request: Request, call_next):
            path = request.url.path
            if path in OPEN_PATHS or path.startswith("/_nicegui"):
                return await call_next(request)
            if not app.storage.user.get("operator"):
                return RedirectResponse(login_redirect(path, request.url.query))
            return await call_next(request)

    # ui.run adds NiceGUI's RedirectWithPrefixMiddleware after this one, so outside it: the
    # login redirect gets the proxy's X-Forwarded-Prefix like every other redirect.
    app.add_middleware(LoginRequired)

    @app.get("/summary")
    def get_summary() -> JSONResponse:
        return JSONResponse(
            summary.read(data.path, config.bus, timeout=1.0).model_dump(mode="json")
        )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        status = summary.bus_status(config.bus, timeout=1.0)
        body = {"ui": "up", "bus": "reachable" if status.reachable else "unreachable"}
        return JSONResponse(body, status_code=200 if status.reachable else 503)

    app.on_startup(bus_feed.run)
    pages.register(pages.Context(config, data.path, operators, auth.LoginLimiter(), bus_feed))


def login_redirect(path: str, query: str = "") -> str:
    """Where a visit without a login goes: the login page, then back to this page (query
    included). Behind a proxy that strips a sub-path and names it in ``X-Forwarded-Prefix``,
    NiceGUI puts the prefix in front of this redirect, of links and of ``ui.navigate``
    targets, so pages keep their own absolute paths ("/login", "/actions")."""
    target = f"{path}?{query}" if query else path
    return "/login?" + urllib.parse.urlencode({"redirect_to": target})


def allowed_origins(config: UiConfig) -> list[str]:
    """Origins whose pages may open the websocket: the UI's own addresses and the public
    URLs it is served at (a cross-site page is refused at the handshake). A browser sends
    only scheme://host[:port], so a public URL's sub-path (https://host/homelab/) is not
    part of it."""
    hosts = {config.host, "127.0.0.1", "localhost"} - {"0.0.0.0", "::"}
    own = [f"http://{host}:{config.port}" for host in sorted(hosts)]
    public = []
    for url in config.public_urls:
        parts = urllib.parse.urlsplit(url.strip())
        public.append(f"{parts.scheme}://{parts.netloc}" if parts.netloc else url.rstrip("/"))
    return list(dict.fromkeys([*own, *public]))
