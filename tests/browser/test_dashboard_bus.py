"""The dashboard's Bus card in Debian's Chromium: its sequence moves at every tick of the
broker, it says "unreachable" while the broker is away, and comes back with it."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest
from chromium import CHROMIUM, FLAGS, OPERATOR, PASSWORD, SERVE, submit_login

from conftest import BrokerProcess, child_env, free_port_pair, wait_until
from gui.auth import Operators

pytestmark = pytest.mark.slow


def shown_seq(page) -> int | None:
    found = re.search(r"seq (\d+)", page.get_by_test_id("bus-seq").inner_text())
    return int(found.group(1)) if found else None


def test_the_bus_card_moves_with_the_broker_and_says_when_it_is_away(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "root"
    root.mkdir()
    broker = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.5").start()
    Operators(root / "ui" / "operators.json").add(OPERATOR, PASSWORD)
    port = free_port_pair()
    ui = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(root), broker.endpoint, str(port), str(tmp_path)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), 30, "the UI")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(f"{base}/")
            submit_login(page)
            page.get_by_test_id("bus-seq").wait_for(timeout=15_000)
            first = shown_seq(page)
            wait_until(lambda: (shown_seq(page) or 0) > (first or 0), 10, "the seq to move")
            broker.stop()
            expect(page.get_by_test_id("bus-seq")).to_have_text("unreachable", timeout=15_000)
            broker.start()
            wait_until(lambda: shown_seq(page) is not None, 20, "the bus card to come back")
            browser.close()
    finally:
        ui.terminate()
        ui.wait(15)
        broker.stop()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False
