"""Debian's own Chromium for the browser tests and bench/ui_bench.py (driven by Playwright;
never a downloaded browser), and how they log in (as the plant's operator by default)."""

from __future__ import annotations

from plant import OPERATOR, PASSWORD

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def submit_login(page, name: str = OPERATOR, password: str = PASSWORD) -> None:
    """Fill in and send the login form of the page ``page`` shows."""
    page.get_by_label("Operator").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def javascript_errors(page) -> list[str]:
    """A list that collects the page's console errors and uncaught exceptions from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors
