"""The operator UI: NiceGUI pages over the read model, live from the bus, behind a login.

``setup(config)`` registers everything (pages, ``GET /summary``, ``GET /healthz``, the login
check, the websocket's allowed origins, the bus feed); ``serve(config)`` runs it. Pages read
through ``actors.readmodel`` and decide through ``actors.decisions``, like the CLI.
"""

from __future__ import annotations

import os
import urllib.parse

from bus.dataroot import DataRoot
from gui.config import UiConfig

OPEN_PATHS = ("/login", "/healthz", "/summary", "/favicon.ico")
# Every response: never inside a frame (a page on a sibling subdomain could frame the Action
# Queue, nearly transparent, and take an operator's click), scripts and connections from
# this UI only. NiceGUI needs inline scripts and Vue's runtime compiler ('unsafe-eval').
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
        b"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
        b"object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
# Over https only: browsers ignore (and complain of) these on a plain-http origin.
HTTPS_HEADERS = [
    (b"strict-transport-security", b"max-age=31536000"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def serve(config: UiConfig) -> int:
    """Run the UI until it is stopped (blocking)."""
    DataRoot(config.root).require()
    setup(config)
    from nicegui import ui

    ui.run(
        host=config.host,
        port=config.port,
        title="homelab",
        dark=None,  # follows the system's dark mode
        reload=False,
        show=False,
        show_welcome_message=False,
        uvicorn_logging_level="warning",
        # X-Forwarded-For/-Proto count only from these (the proxy), so the login limit
        # sees each browser's own address, and cookies know the page is https.
        forwarded_allow_ips=",".join(config.trusted_proxies),
    )
    return 0


def setup(config: UiConfig) -> None:
    data = DataRoot(config.root)
    # NiceGUI's own storage lives under the data root (read when NiceGUI is imported).
    os.environ.setdefault("NICEGUI_STORAGE_PATH", str(data.path / "ui" / "sessions"))
    from nicegui import app, core

    from gui import auth, endpoints, feed, limiter, pages, session, sessions, socket_gate

    operators = auth.Operators(data.operators)
    secret = config.storage_secret or auth.session_secret(data.session_secret)
    store = sessions.SessionStore(
        data.path / "ui" / "sessions.json", secret, sessions.Credentials(operators)
    )
    session.install(store, https_hosts(config))
    socket_gate.install()
    bus_feed = feed.Feed(config.bus, allowed=session.client_valid)
    core.sio.eio.cors_allowed_origins = allowed_origins(config)
    app.add_middleware(Guard)  # NiceGUI's prefix middleware, added later, wraps this one

    endpoints.register(config)
    app.on_startup(bus_feed.run)
    app.on_startup(session.sweep_forever)
    pages.register(pages.Context(config, data.path, operators, limiter.LoginLimiter(), bus_feed))


class Guard:
    """Before anything else (pure ASGI, so the websocket passes here too): security headers
    on every response; a page needs a login; a socket needs the session of its page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        from gui import session, socket_gate

        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope["path"]
        if kind == "http":
            send = _with_security_headers(send, scope)
        if path.startswith(socket_gate.PREFIX):
            if not await socket_gate.http_gate(scope, send):
                return None
        elif kind == "http" and path not in OPEN_PATHS:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            if session.of_headers(scope.get("scheme", "http"), headers) is None:
                query = scope.get("query_string", b"").decode("latin-1")
                location = login_redirect(path, query).encode("latin-1")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [(b"location", location), (b"cache-control", b"no-store")],
                    }
                )
                return await send({"type": "http.response.body", "body": b""})
        return await self.app(scope, receive, send)


def _with_security_headers(send, scope):
    from gui import session

    host = next((v for k, v in scope["headers"] if k == b"host"), b"").decode("latin-1")
    https = session.is_https(scope.get("scheme", "http"), host.split(":")[0])

    async def sending(message):
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [h for h in SECURITY_HEADERS if h[0] not in present]
            if https:
                extra += [h for h in HTTPS_HEADERS if h[0] not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


def https_hosts(config: UiConfig) -> frozenset[str]:
    """The hosts the public URLs serve over https (their cookies are Secure)."""
    found = (urllib.parse.urlsplit(u) for u in config.public_urls)
    return frozenset(u.hostname.lower() for u in found if u.scheme == "https" and u.hostname)


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
