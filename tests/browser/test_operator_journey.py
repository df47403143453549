"""The operator's day in Debian's real Chromium (no downloaded browser), with the product as
real processes: log in, a pending fix appears without a reload, Approve, it runs and lands
in History as succeeded; the socket is a websocket; no JavaScript errors; a logged-out tab
cannot approve. (The README's screenshots come from scripts/screenshots.py, not from here.)"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from chromium import CHROMIUM, FLAGS, OPERATOR, PASSWORD, SERVE, javascript_errors, submit_login

from conftest import child_env, free_port_pair, wait_until
from gui.auth import Operators
from repos import commit, git, inventory

pytestmark = pytest.mark.slow


class Journey:
    def __init__(self, base: str, repo: Path, service_port: int, services: Path):
        self.base, self.repo, self.service_port, self.services = base, repo, service_port, services

    def want_running(self) -> None:
        commit(self.repo, inventory(self.service_port, self.services), "svc should run")


@pytest.fixture
def product(broker, tmp_path: Path, request):
    """agent, observer, supervisor, executor and the UI on a broker, with one stopped service
    that should run (parametrized "stopped": that should stay stopped, until the test says)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    repo, services = tmp_path / "repo", tmp_path / "services"
    repo.mkdir()
    git(repo, "init", "-q")
    service_port = free_port_pair()
    desired = getattr(request, "param", "running")
    commit(repo, inventory(service_port, services, desired=desired), f"svc should be {desired}")
    Operators(broker.root / "ui" / "operators.json").add(OPERATOR, PASSWORD)
    common = ["--root", str(broker.root), "--bus", broker.endpoint]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "homelab", *args],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for args in (
            ["agent", "--node", "here", "--repo", str(repo), *common],
            ["observer", *common],
            ["supervisor", "--repo", str(repo), *common],
            ["executor", "--repo", str(repo), *common],
        )
    ]
    ui_port = free_port_pair()
    procs.append(
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                str(broker.root),
                broker.endpoint,
                str(ui_port),
                str(repo),
            ],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    base = f"http://127.0.0.1:{ui_port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 30, "the UI")
    yield Journey(base, repo, service_port, services)
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "homelab.demo.service",
            "stop",
            "--name",
            "svc",
            "--port",
            str(service_port),
            "--dir",
            str(services),
        ],
        env=child_env(),
        capture_output=True,
        timeout=30,
    )


def test_log_in_see_the_fix_arrive_approve_it_and_watch_it_succeed(product):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_context().new_page()
            errors = javascript_errors(page)
            page.goto(f"{product.base}/actions")
            submit_login(page)
            page.get_by_text("Pending", exact=True).wait_for(timeout=15_000)
            assert page.evaluate("window.socket.io.engine.transport.name") == "websocket"
            approve = page.get_by_role("button", name="Approve")
            approve.wait_for(timeout=60_000)  # arrives live: no reload
            # the dashboard as the operator finds it: the drift, and its fix waiting
            board = page.context.new_page()
            board.goto(f"{product.base}/")
            board.get_by_text("1 pending", exact=True).wait_for(timeout=15_000)
            board.get_by_text("1 drifted", exact=True).wait_for(timeout=15_000)
            board.close()
            approve.click()
            page.get_by_role("cell", name="succeeded").wait_for(timeout=60_000)
            expect(page.get_by_role("cell", name="oskar", exact=True)).to_be_visible()
            expect(page.get_by_text("No pending actions.")).to_be_visible()
            page.goto(f"{product.base}/")
            page.get_by_text("3 healthy").or_(page.get_by_text("1 healthy")).first.wait_for(
                timeout=30_000
            )
        finally:
            browser.close()
    assert not [e for e in errors if "favicon" not in e], errors


def test_a_logged_out_tab_cannot_approve(product):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context()
            tab_a, tab_b = context.new_page(), context.new_page()
            tab_a.goto(f"{product.base}/login")
            submit_login(tab_a)
            tab_a.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
            tab_a.goto(f"{product.base}/actions")
            tab_a.get_by_role("button", name="Approve").wait_for(timeout=60_000)
            tab_b.goto(f"{product.base}/")
            tab_b.get_by_role("button", name="Log out").click()
            tab_b.wait_for_url("**/login**", timeout=10_000)
            tab_a.wait_for_url("**/login**", timeout=10_000)  # sent away too
        finally:
            browser.close()


@pytest.mark.parametrize("product", ["stopped"], indirect=True)
def test_a_fix_that_arrives_while_the_page_is_open_is_approved_and_says_so(product):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{product.base}/actions")
            submit_login(page)
            expect(page.get_by_text("No pending actions.")).to_be_visible(timeout=15_000)
            product.want_running()  # the fix is drawn from the bus, not with the page
            page.get_by_role("button", name="Approve").click(timeout=60_000)
            answer = page.locator(".q-notification", has_text="approved by oskar")
            expect(answer).to_be_visible(timeout=15_000)
        finally:
            browser.close()
