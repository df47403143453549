"""A node at home on the dashboard, in Debian's Chromium: its agent (on another address, no
repository, its own key) reports and the Nodes card counts it healthy; the agent stops and
the card says unknown within the node's missed intervals (those of its slice: the agent
says every 5 s while it has none); it starts again and the node is
back, with no reload of the page."""

from __future__ import annotations

import time

import pytest
from chromium import CHROMIUM, FLAGS, submit_login
from remote import HEALTHY, declare_remote_node, enroll, node_health, start_remote_agent, stop

from plant import Plant, free_port_pair, wait_until

pytestmark = pytest.mark.slow

NODE = "home"


def test_the_dashboard_shows_a_remote_node_go_unknown_and_come_back(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    plant = Plant(tmp_path, run=("broker", "observer", "supervisor"), ui=True)
    remote = f"tcp://127.0.0.2:{free_port_pair()}"
    plant.env["HOMELAB_LISTEN"] = f"{plant.bus},{remote}"
    declare_remote_node(plant, NODE)
    machine = tmp_path / "home-machine"
    machine.mkdir()
    with plant, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.goto(f"{plant.url}/")
        submit_login(page)
        nodes = page.get_by_role("link").filter(has_text="Nodes")
        expect(nodes).to_contain_text("none observed yet", timeout=15_000)  # `here`: no agent
        command = enroll(plant, machine, NODE)
        agent = start_remote_agent(command, machine, remote)
        try:
            expect(nodes).to_contain_text("1 healthy", timeout=30_000)
            wait_until(lambda: node_health(plant, NODE) == HEALTHY, 30, "its desired check")
            stop(agent)
            silent = time.monotonic()
            expect(nodes).to_contain_text("1 unknown", timeout=20_000)
            assert time.monotonic() - silent < 15
            agent = start_remote_agent(command, machine, remote)
            expect(nodes).to_contain_text("1 healthy", timeout=30_000)
        finally:
            stop(agent)
            browser.close()
