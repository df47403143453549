"""The dashboard's Bus card in Debian's Chromium: its sequence moves at every tick of the
broker, it says "unreachable" while the broker is away, and comes back with it."""

from __future__ import annotations

import re

import pytest
from chromium import CHROMIUM, FLAGS, submit_login

from plant import Plant, wait_until

pytestmark = pytest.mark.slow


def shown_seq(page) -> int | None:
    found = re.search(r"seq (\d+)", page.get_by_test_id("bus-seq").inner_text())
    return int(found.group(1)) if found else None


def test_the_bus_card_moves_with_the_broker_and_says_when_it_is_away(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with Plant(tmp_path, 0, run=("broker",), ui=True) as plant:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(f"{plant.url}/")
            submit_login(page)
            page.get_by_test_id("bus-seq").wait_for(timeout=15_000)
            first = shown_seq(page)
            wait_until(lambda: (shown_seq(page) or 0) > (first or 0), 10, "the seq to move")
            plant.stop("broker")
            expect(page.get_by_test_id("bus-seq")).to_have_text("unreachable", timeout=15_000)
            plant.start("broker")
            wait_until(lambda: shown_seq(page) is not None, 20, "the bus card to come back")
            browser.close()
