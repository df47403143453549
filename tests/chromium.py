"""Debian's own Chromium for the browser tests and bench/ui_bench.py (driven by Playwright;
never a downloaded browser), and the one-liner that runs the UI as a process."""

from __future__ import annotations

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
# python -c SERVE ROOT BUS PORT: gui.app.serve (further arguments are ignored)
SERVE = (
    "import sys; from pathlib import Path; from gui.app import serve; from gui.config import UiConfig; "
    "sys.exit(serve(UiConfig(root=Path(sys.argv[1]), bus=sys.argv[2], port=int(sys.argv[3]))))"
)
OPERATOR, PASSWORD = "oskar", "correct horse"  # the operator the browser tests add


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
