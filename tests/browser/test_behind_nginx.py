"""The UI behind a real nginx (own config on free loopback ports): as Nginx Proxy Manager
configures a proxy host, and under a sub-path with the very ``location`` block that
docs/operations.md shows. With the websocket lines the browser's socket is a websocket;
without them NiceGUI falls back to long-polling and still works."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chromium import CHROMIUM, FLAGS, submit_login

from gui.components.events import LINES
from plant import REPO, Plant, free_port_pair, wait_until

pytestmark = pytest.mark.slow
PREFIX = "/homelab"
# What Nginx Proxy Manager writes for a proxy host; the three websocket lines are what its
# "Websockets Support" toggle adds.
SITE = """
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            {websocket}
        }}
    }}
"""
WEBSOCKET = (
    "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $http_connection; "
    "proxy_http_version 1.1;"
)
WEBSOCKET_LINE = re.compile(r"^\s*(proxy_set_header (Upgrade|Connection) |proxy_http_version )")


def documented_location(upstream: int, websocket: bool) -> str:
    """The sub-path ``location`` block of docs/operations.md, sent to our UI's port; without
    its three websocket lines when ``websocket`` is off."""
    docs = (REPO / "docs" / "operations.md").read_text()
    found = re.search(r"```nginx\n(location /homelab/ \{\n.*?\n\})\n```", docs, re.S)
    assert found, "docs/operations.md no longer shows the sub-path location block"
    block = found.group(1)
    assert "http://control-plane-ui:8080/;" in block
    block = block.replace("control-plane-ui:8080", f"127.0.0.1:{upstream}")
    if not websocket:
        lines = block.splitlines()
        kept = [line for line in lines if not WEBSOCKET_LINE.match(line)]
        assert len(lines) - len(kept) == 3
        block = "\n".join(kept)
    return block


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The broker and the UI (as ``homelab up`` runs them), and one nginx with three sites:
    NPM-like at the root with websockets, and the documented sub-path block with and without
    them."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or not Path(CHROMIUM).exists():
        pytest.fail("nginx and Debian's chromium are needed (.ci/run installs them)")
    work = tmp_path_factory.mktemp("behind-nginx")
    at_root, sub_ws, sub_polling = (free_port_pair() for _ in range(3))
    sites = {
        "root": f"http://127.0.0.1:{at_root}",
        "sub-path": f"http://127.0.0.1:{sub_ws}{PREFIX}",
        "sub-path, no websocket": f"http://127.0.0.1:{sub_polling}{PREFIX}",
    }
    public = ",".join(f"{url}/" for url in sites.values())  # what an operator would paste
    plant = Plant(work, 0, run=("broker",), ui=True, env={"HOMELAB_PUBLIC_URL": public})
    ui_port = plant.ui_port
    (work / "logs").mkdir()
    servers = SITE.format(listen=at_root, upstream=ui_port, websocket=WEBSOCKET)
    for port, websocket in ((sub_ws, True), (sub_polling, False)):
        location = documented_location(ui_port, websocket)
        servers += f"server {{ listen 127.0.0.1:{port};\n{location}\n}}\n"
    (work / "nginx.conf").write_text(
        f"daemon off; pid {work}/nginx.pid; error_log {work}/logs/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; client_body_temp_path {work}/body; "
        f"proxy_temp_path {work}/proxy; {servers} }}\n"
    )
    args = [nginx, "-c", str(work / "nginx.conf"), "-p", str(work)]

    def up(url: str) -> bool:
        assert plant.children["ui"].poll() is None, plant.output("ui")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with plant:
        proxy = subprocess.Popen(
            [*args, "-e", str(work / "logs/error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for url in sites.values():
                wait_until(lambda url=url: up(url), 30, f"the UI through {url}")
            yield {**sites, "bus": plant.bus}
        finally:
            proxy.terminate()
            try:
                proxy.wait(15)
            except subprocess.TimeoutExpired:
                proxy.kill()


def log_in_and_open(base: str, path: str, shows: str, then=None) -> str:
    """Open ``path`` logged out, log in at the page it leads to, wait for ``shows`` on the
    page it leads back to; the socket's transport."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}{path}")
            submit_login(page)
            expect(page.get_by_text(shows, exact=True).first).to_be_visible(timeout=15_000)
            assert page.url == f"{base}{path}"
            if then:
                then(page)
            return page.evaluate("window.socket.io.engine.transport.name")
        finally:
            browser.close()


def live_tap(page) -> None:
    """bus.stats arrive every half second and land in the tap without a reload."""
    from playwright.sync_api import expect

    expect(page.get_by_text("bus.stats").first).to_be_visible(timeout=15_000)


HOSTILE = '<img src=x onerror="window.owned=1"><b>bold</b>'


def test_with_websockets_on_the_socket_is_a_websocket(proxied):
    """Live, over a websocket, and a publisher's markup is shown as text, never run."""
    from playwright.sync_api import expect

    from bus.client import Publisher

    def hostile_text_stays_text(page) -> None:
        live_tap(page)
        with Publisher(proxied["bus"], "mallory", timeout=5) as publisher:
            publisher.publish("obs.mallory", {"note": HOSTILE})
        tap = page.get_by_test_id("tap")
        as_json = json.dumps({"note": HOSTILE}, separators=(",", ":"))  # the payload, compact
        expect(tap.get_by_text(as_json, exact=False)).to_be_visible(timeout=10_000)
        assert tap.locator("img, b").count() == 0
        assert page.evaluate("window.owned") is None
        # a burst longer than the view: the newest shown, the oldest dropped, the view capped
        with Publisher(proxied["bus"], "burst", timeout=10) as publisher:
            burst = [(f"obs.burst.{n}", {"n": n}, f"burst-{n}") for n in range(LINES + 100)]
            publisher.publish_batch(burst)
        expect(tap.get_by_text(f"obs.burst.{LINES + 99} ")).to_be_visible(timeout=10_000)
        shown = tap.inner_text()
        assert "obs.burst.0 " not in shown
        assert LINES <= shown.count("\n") + 1 < LINES + 50

    assert (
        log_in_and_open(proxied["root"], "/events", "Pause", hostile_text_stays_text) == "websocket"
    )


def test_pause_freezes_the_tap_and_resume_shows_what_came_meanwhile(proxied):
    from playwright.sync_api import expect

    from bus.client import Publisher

    def paused_then_resumed(page) -> None:
        live_tap(page)
        tap = page.get_by_test_id("tap")
        page.get_by_text("Pause").click()
        with Publisher(proxied["bus"], "pausetest", timeout=5) as publisher:
            publisher.publish("obs.while.paused", {"n": 1})
        expect(tap.get_by_text("obs.while.paused")).to_have_count(0)
        page.get_by_text("Pause").click()
        expect(tap.get_by_text("obs.while.paused")).to_be_visible(timeout=10_000)

    assert log_in_and_open(proxied["root"], "/events", "Pause", paused_then_resumed)


def test_under_a_sub_path_the_login_leads_back_to_the_action_queue_on_a_websocket(proxied):
    base = proxied["sub-path"]
    answer = httpx.get(f"{base}/actions?x=1", timeout=5, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{PREFIX}/login?redirect_to=%2Factions%3Fx%3D1"

    def dashboard_link_stays_under_the_prefix(page) -> None:
        from playwright.sync_api import expect

        page.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_text("Messages per second")).to_be_visible(timeout=15_000)
        assert page.url == f"{base}/"

    shown = log_in_and_open(base, "/actions", "Pending", dashboard_link_stays_under_the_prefix)
    assert shown == "websocket"


def test_under_a_sub_path_without_websocket_lines_it_polls_and_still_works(proxied):
    base = proxied["sub-path, no websocket"]
    assert log_in_and_open(base, "/events", "Pause", live_tap) == "polling"


def test_under_a_sub_path_a_login_for_another_site_stays_on_the_ui_under_its_prefix(proxied):
    from playwright.sync_api import expect, sync_playwright

    base = proxied["sub-path"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/login?redirect_to=/%5Cevil.example/")
            submit_login(page)
            expect(page.get_by_text("Messages per second")).to_be_visible(timeout=15_000)
            assert page.url == f"{base}/"
        finally:
            browser.close()
