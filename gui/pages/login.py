"""Login and logout over plain HTTP: an HTML form, no NiceGUI page.

A NiceGUI page keeps a client in memory for every visit; a login page that anyone may load
must cost nothing to load (9,000 visits took the UI from 117 MB to 600 MB). A form post is
also the only way to give the browser a *new* session cookie at login, which a websocket
handler cannot do.

``POST /login`` checks where it comes from (a page of this UI), reserves an attempt with the
limiter *before* the password is checked, and on success makes a new session, sets its
cookie (and the device cookie), and sends the browser on to the page it came for: only a
path of this UI, never another site (``safe_target``).
"""

from __future__ import annotations

import asyncio
import html
import logging
import string
import urllib.parse
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nicegui import app

from bus import keys
from gui import limiter, operator_keys, session, sessions
from gui.pages import Context

log = logging.getLogger("homelab.ui")
TEMPLATE = string.Template((Path(__file__).parent.parent / "login.html").read_text())
MAX_FORM = 4096  # bytes of a login form at most
MAX_NAME = 64


def safe_target(target: str) -> str:
    """``target`` if it is a path of this UI that a browser reads the same way, else "/".

    Browsers read ``\\`` as ``/`` and drop tabs and newlines, so ``/\\evil.example`` or
    ``/<tab>/evil.example`` would lead to another site: anything with a backslash or a
    control character, or that parses to a scheme or a host, is refused."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > 2000:
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    joined = urllib.parse.urlsplit(urllib.parse.urljoin("http://ui.invalid/", target))
    return target if joined.netloc == "ui.invalid" else "/"


def register(ctx: Context) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, redirect_to: str = "/") -> Response:
        target = safe_target(redirect_to)
        if session.of_headers(request.url.scheme, _headers(request)) is not None:
            return RedirectResponse(target, status_code=303)
        response = _page(target)
        _forget_stale_cookie(request, response)
        return response

    @app.post("/login", include_in_schema=False)
    async def login_post(request: Request) -> Response:
        return await _log_in(request, ctx)


async def _log_in(request: Request, ctx: Context) -> Response:
    """The form's answer: the login page again with why, or a new session and the target."""
    if not _same_origin(request, ctx.config):
        return HTMLResponse("not from a page of this UI\n", status_code=403)
    form = await _form(request)
    if form is None:
        return HTMLResponse("the login form is too large\n", status_code=413)
    name = form.get("operator", "").strip()[:MAX_NAME]
    target = safe_target(form.get("redirect_to", "/"))
    https = _https(request)
    device_cookie = request.cookies.get(sessions.cookie_name(sessions.DEVICE_COOKIE, https))
    device = session.store().device_of(device_cookie, name)
    address = request.client.host if request.client else "?"
    attempt = ctx.limiter.reserve(address, name.lower(), device)
    if not isinstance(attempt, limiter.Attempt):
        log.warning("login for %r from %s refused: too many failures", name, address)
        return _page(target, name, f"Too many failed logins: try again in {attempt:.0f} s", 429)
    right = await asyncio.to_thread(ctx.operators.verify, name, form.get("password", ""))
    if not right:
        ctx.limiter.failed(attempt)
        log.warning("failed login for %r from %s", name, address)
        return _page(target, name, "Wrong operator name or password", 401)
    ctx.limiter.succeeded(attempt)
    log.info("operator %s logged in from %s", name, address)
    bus_key = await asyncio.to_thread(
        operator_keys.unlock, ctx.operators, name, form.get("password", "")
    )
    return _signed_in(name, bus_key, device, target, https)


def _signed_in(
    name: str, bus_key: keys.Credentials | None, device: str | None, target: str, https: bool
) -> Response:
    """A new session (never one the browser brought) holding the operator's bus keys, and
    the device cookie, then the target."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        sessions.cookie_name(sessions.SESSION_COOKIE, https),
        session.store().create(name, bus_key),
        **sessions.cookie_attributes(https, sessions.LIFETIME),
    )
    response.set_cookie(
        sessions.cookie_name(sessions.DEVICE_COOKIE, https),
        session.store().device_token(name, device),
        **sessions.cookie_attributes(https, sessions.DEVICE_LIFETIME),
    )
    return response


def _page(target: str, name: str = "", message: str = "", status: int = 200) -> HTMLResponse:
    shown = f'<p class="bad" role="alert">{html.escape(message)}</p>' if message else ""
    body = TEMPLATE.substitute(
        message=shown,
        operator=html.escape(name, quote=True),
        redirect_to=html.escape(target, quote=True),
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _forget_stale_cookie(request: Request, response: Response) -> None:
    """A cookie of an ended session (a logout, a password change) is removed."""
    https = _https(request)
    name = sessions.cookie_name(sessions.SESSION_COOKIE, https)
    if name in request.cookies:
        response.delete_cookie(name, path="/", secure=https, httponly=True, samesite="lax")


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, or None when it is larger than ``MAX_FORM`` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    fields = urllib.parse.parse_qs(
        body.decode("utf-8", errors="replace"), max_num_fields=10, keep_blank_values=True
    )
    return {k: v[0] for k, v in fields.items()}


def _same_origin(request: Request, config) -> bool:
    """A browser names the page a form was sent from (``Origin``): it must be this UI (a
    page on a sibling subdomain must not log anyone in). Tools that send no Origin pass."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    from gui import app as gui_app

    scheme = "https" if _https(request) else "http"
    own = f"{scheme}://{request.headers.get('host', '')}".lower()
    return origin.lower() in {own, *gui_app.allowed_origins(config)}


def _https(request: Request) -> bool:
    return session.is_https(request.url.scheme, request.headers.get("host", "").split(":")[0])


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}
