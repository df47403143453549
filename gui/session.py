"""The pages' side of sessions: which session opened a page, and whether it still holds.

A page is built for the session of the request that asked for it (its cookie); the page's
NiceGUI client is then *owned* by that session (``owner``). Everything that comes back over
the page's socket is checked against it (``gui.socket_gate``), and every handler that reads
or changes something asks ``require()`` again: a logout in another tab, a password change or
an operator removed from the shell ends the session, and ``sweep`` sends its open pages to
the login page within a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from nicegui import Client, background_tasks, context, core, ui
from starlette.requests import cookie_parser

from bus import keys
from gui import sessions
from gui.sessions import Session, SessionStore

log = logging.getLogger("homelab.ui")
SWEEP_EVERY = 1.0  # seconds between looks for pages whose session ended
KICK_GRACE = 2.0  # seconds a page sent to the login page has to leave before it is dropped

_store: SessionStore | None = None
_public_https: frozenset[str] = frozenset()  # hosts served over https by the proxy
_owners: dict[str, str] = {}  # client id -> the key of the session that opened it


def install(store: SessionStore, https_hosts: frozenset[str] = frozenset()) -> None:
    global _store, _public_https
    _store, _public_https = store, https_hosts
    _owners.clear()


def store() -> SessionStore:
    assert _store is not None, "gui.session.install() was not called"
    return _store


# -- requests ----------------------------------------------------------------------------------


def is_https(scheme: str, host: str) -> bool:
    """Served over https: the request says so (a trusted proxy's X-Forwarded-Proto), or its
    host is one the public URL names with https."""
    return scheme in ("https", "wss") or host.lower() in _public_https


def token_in(cookie_header: str, https: bool) -> str | None:
    """The session token a ``Cookie`` header carries, under the name for this scheme."""
    # Starlette's lenient parser: one malformed cookie (a sibling subdomain can set any)
    # must not hide the others, as it does with http.cookies.
    return cookie_parser(cookie_header or "").get(
        sessions.cookie_name(sessions.SESSION_COOKIE, https)
    )


def of_headers(scheme: str, headers: Mapping[str, str]) -> Session | None:
    """The valid session a request's headers carry, or None."""
    https = is_https(scheme, headers.get("host", "").split(":")[0])
    return store().get(token_in(headers.get("cookie", ""), https))


# -- pages ---------------------------------------------------------------------------------------


def operator() -> str | None:
    """In a page function: the operator of the request that builds this page (None: not
    logged in). The page's client is bound to that session from now on."""
    client = context.client
    key = _owners.get(client.id)
    found = store().valid(key) if key else None
    if found is None and key is None:
        request = client.request
        headers = {k.lower(): v for k, v in request.headers.items()} if request else {}
        found = of_headers(request.url.scheme if request else "http", headers)
        if found is not None:
            _owners[client.id] = found.key
            client.on_delete(lambda: _owners.pop(client.id, None))
    return found.operator if found else None


def require() -> str | None:
    """In a handler: the operator whose session owns this page, or None after sending the
    page to the login page."""
    client = context.client
    found = store().valid(_owners.get(client.id))
    if found is None:
        with client:
            ui.notify("Your session has ended: log in again.", type="warning")
            ui.navigate.to("/login")
        return None
    return found.operator


def bus_key() -> keys.Credentials | None:
    """In a handler: the bus keys of the session that owns this page (its operator's,
    unsealed at login), None if it holds none."""
    return store().bus_key(_owners.get(context.client.id))


def owner(client_id: str) -> str | None:
    """The key of the session that opened this client's page."""
    return _owners.get(client_id)


def client_valid(client: Client) -> bool:
    """True while the session that opened this page holds."""
    key = _owners.get(client.id)
    return key is not None and store().valid(key) is not None


def log_out() -> None:
    """End this page's session: every page it opened (other tabs too) goes to the login
    page at once, and its cookie opens nothing any more."""
    key = _owners.get(context.client.id)
    if key:
        store().end(key)
        log.info("a session ended by logout")
    sweep_now()


# -- the sweep -----------------------------------------------------------------------------------


async def sweep_forever() -> None:
    """Send the pages of ended sessions to the login page, every ``SWEEP_EVERY`` seconds."""
    while True:
        sweep_now()
        await asyncio.sleep(SWEEP_EVERY)


def sweep_now() -> None:
    for client_id in list(_owners):
        client = Client.instances.get(client_id)
        if client is None:
            _owners.pop(client_id, None)
        elif not client_valid(client):
            _owners.pop(client_id, None)
            _kick(client)


def _kick(client: Client) -> None:
    """Navigate the page to the login page, then drop it (and its socket) for good."""
    if client.has_socket_connection:
        with client:
            ui.navigate.to("/login")

    async def drop() -> None:
        await asyncio.sleep(KICK_GRACE)
        for sid, _ in list(core.sio.manager.get_participants("/", client.id)):
            await core.sio.disconnect(sid)
        if not client.is_deleted:
            client.delete()

    background_tasks.create(drop(), name=f"end page {client.id}")
