"""The UI as a real process over HTTP: /healthz follows the bus, /summary is the read model's
summary (what `homelab status --json` prints), every page needs a login, and the websocket
accepts only the UI's own origins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from gui.app import allowed_origins
from gui.auth import Operators
from gui.config import UiConfig
from plant import child_env, free_port_pair, homelab, speak_as, wait_until

pytestmark = pytest.mark.slow

SERVE = speak_as("service:ui") + (
    "import sys; from pathlib import Path; from gui.app import serve; from gui.config import UiConfig; "
    "sys.exit(serve(UiConfig(root=Path(sys.argv[1]), bus=sys.argv[2], port=int(sys.argv[3]), "
    "summary_token=sys.argv[4])))"
)
TOKEN = "t" * 40


@pytest.fixture
def ui(ui_and_process) -> str:
    return ui_and_process[0]


@pytest.fixture
def ui_and_process(broker, tmp_path: Path):
    port = free_port_pair()
    with open(tmp_path / "ui.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(broker.root), broker.endpoint, str(port), TOKEN],
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
    yield base, psutil.Process(proc.pid)
    proc.terminate()
    proc.wait(15)


def test_healthz_follows_the_bus_and_summary_is_the_read_models(ui, broker):
    assert httpx.get(f"{ui}/healthz", timeout=5).status_code == 200
    status = homelab("status", "--json", "--root", str(broker.root), "--bus", broker.endpoint)
    everything = {"Authorization": f"Bearer {TOKEN}"}
    summary = httpx.get(f"{ui}/summary", headers=everything, timeout=5).json()
    assert set(summary) == set(json.loads(status.stdout))
    assert summary["bus"]["reachable"] is True
    broker.stop()
    wait_until(lambda: httpx.get(f"{ui}/healthz", timeout=5).status_code == 503, 15, "503")


def test_without_a_login_the_summary_gives_counts_and_health_only(ui, broker):
    world = broker.root / "world"
    world.mkdir(exist_ok=True)
    service = {"node": "nas-7f", "health": "down", "reason": "http: 500 at /srv/secret-db"}
    (world / "services.json").write_text(json.dumps({"secret-db": service}))
    (world / "nodes.json").write_text(json.dumps({"nas-7f": {"health": "healthy"}}))
    (world / "summary.json").write_text(json.dumps({"seq": 9}))
    public = httpx.get(f"{ui}/summary", timeout=5)
    assert public.status_code == 200
    text = public.text
    for secret in ("secret-db", "nas-7f", "/srv", str(broker.root), broker.endpoint, "tcp://"):
        assert secret not in text, secret
    body = public.json()
    assert body["counts"]["services"]["down"] == 1 and body["counts"]["nodes"]["healthy"] == 1
    assert body["bus"]["reachable"] is True and body["drift"] == {"count": 0, "gave_up": 0}
    # the whole summary: with the token, or logged in
    wrong = httpx.get(f"{ui}/summary", headers={"Authorization": "Bearer " + "x" * 40}, timeout=5)
    assert "secret-db" not in wrong.text
    full = httpx.get(f"{ui}/summary", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert full.json()["services"]["secret-db"]["reason"].startswith("http: 500")
    Operators(broker.root / "ui" / "operators.json").add("oskar", "correct horse")
    login = httpx.post(
        f"{ui}/login", data={"operator": "oskar", "password": "correct horse"}, timeout=10
    )
    assert "nas-7f" in httpx.get(f"{ui}/summary", cookies=login.cookies, timeout=5).text


def test_visits_to_the_login_page_cost_no_memory(ui_and_process):
    """Each NiceGUI page visit kept a client for a minute: 9,000 visits of the login page
    took the UI from 117 MB to 600 MB. The login page is plain HTML now."""
    ui, process = ui_and_process
    with httpx.Client(timeout=10) as http:
        for _ in range(200):  # warm up
            http.get(f"{ui}/login")
        before = process.memory_info().rss
        for _ in range(3000):
            assert http.get(f"{ui}/login").status_code == 200
    grown = (process.memory_info().rss - before) / 2**20
    assert grown < 15, f"the UI grew {grown:.0f} MiB over 3,000 visits of the login page"


def test_every_page_needs_a_login(ui):
    for page in ("/", "/world", "/drift", "/actions", "/events"):
        answer = httpx.get(f"{ui}{page}", timeout=5, follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
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


def test_a_cross_site_page_cannot_open_the_websocket(ui, broker):
    Operators(broker.root / "ui" / "operators.json").add("oskar", "correct horse")
    login = httpx.post(
        f"{ui}/login", data={"operator": "oskar", "password": "correct horse"}, timeout=10
    )
    handshake = f"{ui}/_nicegui_ws/socket.io/?EIO=4&transport=polling"
    own = httpx.get(handshake, headers={"Origin": ui}, cookies=login.cookies, timeout=5)
    evil = httpx.get(
        handshake, headers={"Origin": "https://evil.example"}, cookies=login.cookies, timeout=5
    )
    assert own.status_code == 200 and evil.status_code == 400
    # without a session, no socket at all, whatever the origin
    assert httpx.get(handshake, headers={"Origin": ui}, timeout=5).status_code == 403
