"""The operator's day in Debian's real Chromium (no downloaded browser), with the product as
real processes: log in, a pending fix appears without a reload, Approve, it runs and lands
in History as succeeded; the socket is a websocket; no JavaScript errors; a logged-out tab
cannot approve. (The README's screenshots come from scripts/screenshots.py, not from here.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import CHROMIUM, FLAGS, javascript_errors, submit_login

from bus import envelope
from bus.envelope import Message
from bus.filelog import FileLog
from gui.auth import Operators
from plant import Plant

pytestmark = pytest.mark.slow


@pytest.fixture
def product(tmp_path: Path, request) -> Iterator[Plant]:
    """Every service ``homelab up`` starts, the UI included, with one stopped service that
    should run (parametrized "stopped": that should stay stopped, until the test says)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    desired = {"svc": {"desired": getattr(request, "param", "running")}}
    with Plant(tmp_path, ui=True, inventory=desired) as plant:
        yield plant


def test_log_in_see_the_fix_arrive_approve_it_and_watch_it_succeed(product):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_context().new_page()
            errors = javascript_errors(page)
            page.goto(f"{product.url}/actions")
            submit_login(page)
            page.get_by_text("Pending", exact=True).wait_for(timeout=15_000)
            assert page.evaluate("window.socket.io.engine.transport.name") == "websocket"
            approve = page.get_by_role("button", name="Approve")
            approve.wait_for(timeout=60_000)  # arrives live: no reload
            # the dashboard as the operator finds it: the drift, and its fix waiting
            board = page.context.new_page()
            board.goto(f"{product.url}/")
            board.get_by_text("1 pending", exact=True).wait_for(timeout=15_000)
            board.get_by_text("1 drifted", exact=True).wait_for(timeout=15_000)
            board.close()
            approve.click()
            page.get_by_role("cell", name="succeeded").wait_for(timeout=60_000)
            expect(page.get_by_role("cell", name="oskar", exact=True)).to_be_visible()
            expect(page.get_by_text("No pending actions.")).to_be_visible()
            page.goto(f"{product.url}/")
            page.get_by_text("3 healthy").or_(page.get_by_text("1 healthy")).first.wait_for(
                timeout=30_000
            )
        finally:
            browser.close()
    assert not [e for e in errors if "favicon" not in e], errors
    # sent with oskar's own key (the UI's may decide nothing), in oskar's name only
    assert [m.source for m in requests(product)] == ["ui:oskar"]


def requests(plant: Plant) -> list[Message]:
    """The decisions the broker stored."""
    found = [envelope.decode_body(b) for b in FileLog(plant.root / "events").read()]
    return [m for m in found if m.topic.startswith("action.request.")]


def test_an_operator_without_a_bus_key_is_told_how_to_get_one_and_nothing_is_sent(product):
    from playwright.sync_api import expect, sync_playwright

    Operators(product.root / "ui" / "operators.json").add("legacy", "made before keys")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{product.url}/actions")
            submit_login(page, "legacy", "made before keys")
            page.get_by_role("button", name="Approve").click(timeout=60_000)
            said = (
                "Not approved: legacy has no bus key yet: run `homelab ui add-user legacy` on "
                "the control plane"
            )
            expect(page.locator(".q-notification", has_text=said)).to_be_visible(timeout=15_000)
            expect(page.get_by_role("button", name="Approve")).to_be_visible()  # still pending
        finally:
            browser.close()
    assert requests(product) == []


def test_a_logged_out_tab_cannot_approve(product):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            context = browser.new_context()
            tab_a, tab_b = context.new_page(), context.new_page()
            tab_a.goto(f"{product.url}/login")
            submit_login(tab_a)
            tab_a.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
            tab_a.goto(f"{product.url}/actions")
            tab_a.get_by_role("button", name="Approve").wait_for(timeout=60_000)
            tab_b.goto(f"{product.url}/")
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
            page.goto(f"{product.url}/actions")
            submit_login(page)
            expect(page.get_by_text("No pending actions.")).to_be_visible(timeout=15_000)
            product.inventory.commit(
                "svc should run"
            )  # the fix is drawn from the bus, not with the page
            page.get_by_role("button", name="Approve").click(timeout=60_000)
            answer = page.locator(".q-notification", has_text="approved by oskar")
            expect(answer).to_be_visible(timeout=15_000)
        finally:
            browser.close()
