"""The UI's plain HTTP endpoints: ``GET /healthz`` for health checks and ``GET /summary``.

``/summary`` without a login gives counts and health only (what an uptime monitor needs);
the whole summary, names, check output and paths included, needs a logged-in operator's
cookie or the summary token (``HOMELAB_SUMMARY_TOKEN``) as ``Authorization: Bearer``.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import JSONResponse
from nicegui import app

from actors.readmodel import summary
from bus.dataroot import DataRoot
from gui import session
from gui.config import UiConfig


def register(config: UiConfig) -> None:
    root = DataRoot(config.root).path

    @app.get("/summary")
    def get_summary(request: Request) -> JSONResponse:
        found = summary.read(root, config.bus, timeout=1.0)
        if may_see_everything(request, config):
            return JSONResponse(found.model_dump(mode="json"))
        return JSONResponse(summary.public(found))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        status = summary.bus_status(config.bus, timeout=1.0)
        body = {"ui": "up", "bus": "reachable" if status.reachable else "unreachable"}
        return JSONResponse(body, status_code=200 if status.reachable else 503)


def may_see_everything(request: Request, config: UiConfig) -> bool:
    """A logged-in operator, or a tool with the summary token."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    if session.of_headers(request.url.scheme, headers) is not None:
        return True
    token = config.summary_token
    given = headers.get("authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
