"""Login: operators from ``homelab ui add-user``; failed attempts limited per address."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui

from gui import session

log = logging.getLogger("homelab.ui")


def register(ctx) -> None:
    @ui.page("/login")
    def login(request: Request, redirect_to: str = "/") -> RedirectResponse | None:
        if not redirect_to.startswith("/") or redirect_to.startswith("//"):
            redirect_to = "/"  # only pages of this site: no open redirect
        if session.operator(ctx.operators):
            return RedirectResponse(redirect_to)
        address = request.client.host if request.client else "?"

        async def try_login() -> None:
            wait = ctx.limiter.blocked_for(address)
            if wait:
                ui.notify(f"Too many failed logins: try again in {wait:.0f} s", type="negative")
                return
            given = name.value.strip()
            if await run.io_bound(ctx.operators.verify, given, password.value):
                ctx.limiter.succeeded(address)
                session.log_in(given)
                log.info("operator %s logged in from %s", given, address)
                ui.navigate.to(redirect_to)
            else:
                ctx.limiter.failed(address)
                log.warning("failed login for %r from %s", given[:64], address)
                ui.notify("Wrong operator name or password", type="negative")

        ui.page_title("Log in · homelab")
        with ui.card().classes("absolute-center w-80 max-w-full"):
            ui.label("homelab control plane").classes("text-lg font-bold")
            name = ui.input("Operator").props("autofocus").mark("name")
            password = ui.input("Password", password=True).mark("password")
            password.on("keydown.enter", try_login)
            ui.button("Log in", on_click=try_login).mark("login")
        return None
