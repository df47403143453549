"""The UI as a real process over HTTP: /healthz follows the bus, /summary is the read model's
summary (what `homelab status --json` prints), every page needs a login, and the websocket
accepts only the UI's own origins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import child_env, free_port_pair, wait_until
from gui.app import allowed_origins
from gui.config import UiConfig

pytestmark = pytest.mark.slow

SERVE = (
    "import sys; from pathlib import Path; from gui.app import serve; from gui.config import UiConfig; "
    "sys.exit(serve(UiConfig(root=Path(sys.argv[1]), bus=sys.argv[2], port=int(sys.argv[3]))))"
)


@pytest.fixture
def ui(broker, tmp_path: Path):
    port = free_port_pair()
    with open(tmp_path / "ui.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(broker.root), broker.endpoint, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, (tmp_path / "ui.log").read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=1.0).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    wait_until(answers, 30, "the UI to answer")
    yield base
    proc.terminate()
    proc.wait(15)


def test_healthz_follows_the_bus_and_summary_is_the_read_models(ui, broker):
    assert httpx.get(f"{ui}/healthz", timeout=5).status_code == 200
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "homelab",
            "status",
            "--json",
            "--root",
            str(broker.root),
            "--bus",
            broker.endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    summary = httpx.get(f"{ui}/summary", timeout=5).json()
    assert set(summary) == set(json.loads(status.stdout))
    assert summary["bus"]["reachable"] is True
    broker.stop()
    wait_until(lambda: httpx.get(f"{ui}/healthz", timeout=5).status_code == 503, 15, "503")


def test_every_page_needs_a_login(ui):
    for page in ("/", "/world", "/drift", "/actions", "/events"):
        answer = httpx.get(f"{ui}{page}", timeout=5, follow_redirects=False)
        assert answer.status_code in (302, 307) and "/login" in answer.headers["location"]
    assert httpx.get(f"{ui}/login", timeout=5).status_code == 200


def test_the_websocket_accepts_only_the_uis_own_origins():
    config = UiConfig(
        root=Path("/x"),
        bus="tcp://127.0.0.1:1",
        port=8080,
        public_urls=("https://hl.example.ts.net/",),
    )
    assert allowed_origins(config) == [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "https://hl.example.ts.net",
    ]


def test_a_cross_site_page_cannot_open_the_websocket(ui):
    handshake = f"{ui}/_nicegui_ws/socket.io/?EIO=4&transport=polling"
    own = httpx.get(handshake, headers={"Origin": ui}, timeout=5)
    evil = httpx.get(handshake, headers={"Origin": "https://evil.example"}, timeout=5)
    assert own.status_code == 200 and evil.status_code == 400
