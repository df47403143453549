"""The UI behind nginx as Nginx Proxy Manager configures it (a real nginx, own config on free
loopback ports): with "Websockets Support" on, the browser's socket is a websocket and a
page updates live; with it off, NiceGUI falls back to long-polling and still works."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import child_env, free_port_pair, wait_until
from gui.auth import Operators

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SERVE = (
    "import sys; from pathlib import Path; from gui.app import serve; from gui.config import UiConfig; "
    "sys.exit(serve(UiConfig(root=Path(sys.argv[1]), bus=sys.argv[2], port=int(sys.argv[3]), "
    "public_urls=tuple(sys.argv[4:]))))"
)
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


@pytest.fixture
def behind_nginx(broker, tmp_path: Path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or not Path(CHROMIUM).exists():
        pytest.fail("nginx and Debian's chromium are needed (.ci/run installs them)")
    Operators(broker.root / "ui" / "operators.json").add("oskar", "correct horse")
    ui_port, with_ws, without_ws = free_port_pair(), free_port_pair(), free_port_pair()
    proxied = [f"http://127.0.0.1:{with_ws}", f"http://127.0.0.1:{without_ws}"]
    ui = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(broker.root), broker.endpoint, str(ui_port), *proxied],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = tmp_path / "nginx"
    (work / "logs").mkdir(parents=True)
    sites = SITE.format(listen=with_ws, upstream=ui_port, websocket=WEBSOCKET) + SITE.format(
        listen=without_ws, upstream=ui_port, websocket=""
    )
    (work / "nginx.conf").write_text(
        f"daemon off; pid {work}/nginx.pid; error_log {work}/logs/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; client_body_temp_path {work}/body; "
        f"proxy_temp_path {work}/proxy; {sites} }}\n"
    )
    args = [
        nginx,
        "-c",
        str(work / "nginx.conf"),
        "-p",
        str(work),
        "-e",
        str(work / "logs/error.log"),
    ]
    proxy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up(url: str) -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        for url in proxied:
            wait_until(lambda url=url: up(url), 30, f"the UI through {url}")
        yield proxied
    finally:
        for proc in (proxy, ui):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def transport_after_login(base: str) -> str:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/events")
            page.get_by_label("Operator").fill("oskar")
            page.get_by_label("Password").fill("correct horse")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_text("Pause")).to_be_visible(timeout=15_000)
            # live: bus.stats arrive every half second and land in the tap without a reload
            expect(page.get_by_text("bus.stats").first).to_be_visible(timeout=15_000)
            return page.evaluate("window.socket.io.engine.transport.name")
        finally:
            browser.close()


def test_with_websockets_on_the_socket_is_a_websocket(behind_nginx):
    assert transport_after_login(behind_nginx[0]) == "websocket"


def test_with_websockets_off_it_falls_back_to_polling_and_still_works(behind_nginx):
    assert transport_after_login(behind_nginx[1]) == "polling"
