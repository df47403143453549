"""Every socket of a page carries the logged-in session that owns the page.

A page's ``client_id`` and ``tab_id`` travel in the socket.io URL, which a proxy writes to
its access log: with NiceGUI's own handlers, anyone holding the two ids could join an
operator's open page without a cookie, receive its live stream and send events to its
elements. Here every socket is tied to a session when it connects (its cookie), and then:

- a connection without a valid session is refused (``http_gate`` refuses it even before
  socket.io sees it: no cookie, no socket);
- a handshake joins only a page that session opened (``gui.session.owner``);
- every event, answer and acknowledgement must name a page that this very socket joined,
  of a session that still holds;
- an engine.io session id (``sid=`` in the polling URL, also logged) is bound to the cookie
  that made it: another cookie cannot use it.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from nicegui import core

from gui import session

log = logging.getLogger("homelab.ui")
PREFIX = "/_nicegui_ws/"
GUARDED = ("event", "javascript_response", "ack", "log")

_session_of_socket: dict[str, str] = {}  # socket.io sid -> session key
_session_of_engine: dict[str, str] = {}  # engine.io sid -> session key


def install() -> None:
    """Wrap NiceGUI's socket.io handlers (``nicegui.nicegui``) with the session checks."""
    sio = core.sio
    handlers = sio.handlers["/"]
    original: dict[str, Callable[..., Any]] = dict(handlers)

    async def on_connect(sid: str, environ: dict, auth: Any = None) -> None:
        key = _session_key(environ)
        if key is None:
            raise socketio.exceptions.ConnectionRefusedError("log in first")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        client_id = (query.get("client_id") or [None])[0]
        if client_id is not None and session.owner(client_id) != key:
            raise socketio.exceptions.ConnectionRefusedError("not a page of this session")
        _session_of_socket[sid] = key
        engine = sio.manager.eio_sid_from_sid(sid, "/")
        if engine:
            _session_of_engine.setdefault(engine, key)
        await original["connect"](sid, environ, auth)

    async def on_handshake(sid: str, data: dict) -> bool:
        key = _session_of_socket.get(sid)
        client_id = data.get("client_id") if isinstance(data, dict) else None
        if key is None or not isinstance(client_id, str) or session.owner(client_id) != key:
            return False
        if session.store().valid(key) is None:
            return False
        return await original["handshake"](sid, data)

    def on_disconnect(sid: str, *args: Any) -> Any:
        _session_of_socket.pop(sid, None)
        _session_of_engine.pop(sio.manager.eio_sid_from_sid(sid, "/") or "", None)
        return original["disconnect"](sid, *args)

    def guarded(name: str) -> Callable[[str, Any], Any]:
        inner = original[name]

        def handler(sid: str, msg: Any) -> Any:
            if _may_speak_for(sid, msg):
                return inner(sid, msg)
            return None

        return handler

    sio.on("connect", on_connect)
    sio.on("handshake", on_handshake)
    sio.on("disconnect", on_disconnect)
    for name in GUARDED:
        sio.on(name, guarded(name))


def _may_speak_for(sid: str, msg: Any) -> bool:
    """The message names a page this socket joined, of a session that still holds."""
    key = _session_of_socket.get(sid)
    client_id = msg.get("client_id") if isinstance(msg, dict) else None
    if key is None or not isinstance(client_id, str) or session.owner(client_id) != key:
        return False
    if client_id not in core.sio.rooms(sid):  # it handshook another page, or none
        return False
    return session.store().valid(key) is not None


def _session_key(environ: dict) -> str | None:
    headers = {"host": environ.get("HTTP_HOST", ""), "cookie": environ.get("HTTP_COOKIE", "")}
    found = session.of_headers(environ.get("wsgi.url_scheme", "http"), headers)
    return found.key if found else None


# -- before socket.io: the HTTP requests and the websocket upgrade -----------------------------


async def http_gate(scope: dict, send: Callable[[dict], Awaitable[None]]) -> bool:
    """For a request under ``/_nicegui_ws/``: True to let it through; else it was refused
    here (403, or the websocket closed before it opened)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    found = session.of_headers(scope.get("scheme", "http"), headers)
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    engine = (query.get("sid") or [None])[0]
    allowed = found is not None
    if found is not None and engine and engine in core.sio.eio.sockets:
        bound = _session_of_engine.setdefault(engine, found.key)
        allowed = bound == found.key
    if allowed:
        return True
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
    else:
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"log in first\n"})
    return False
