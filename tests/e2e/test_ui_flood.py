"""Clients flood the bus: the UI still answers within a second (its feed drops what no page
can show, and never blocks its event loop) and its memory stays flat. Real broker (its own
per-client limits off: many clients within their limits add up to the same), real UI
process, raw publishers on loopback; the flood is bounded in count and time."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from flood import flood

from gui.auth import Operators
from plant import BrokerProcess, child_env, free_port_pair, speak_as, wait_until

pytestmark = pytest.mark.slow
SERVE = speak_as("service:ui") + (
    "import sys; from pathlib import Path; from gui.app import serve; from gui.config import UiConfig; "
    "sys.exit(serve(UiConfig(root=Path(sys.argv[1]), bus=sys.argv[2], port=int(sys.argv[3]))))"
)
FLOOD_SECONDS = 8.0
FLOODERS = 3


@pytest.fixture
def broker(root: Path):
    unlimited = {"HOMELAB_CLIENT_RATE": "0", "HOMELAB_CLIENT_BANDWIDTH": "0"}
    process = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.5", env=unlimited)
    yield process.start()
    process.stop()


@pytest.mark.parametrize("payload", [{"n": 1}, {"blob": "x" * 20_000}], ids=["small", "large"])
def test_during_a_flood_the_ui_answers_within_a_second_and_stays_flat(
    broker, tmp_path: Path, payload
):
    Operators(broker.root / "ui" / "operators.json").add("oskar", "correct horse")
    port = free_port_pair()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "ui.log", "wb") as out:
        ui = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(broker.root), broker.endpoint, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    try:
        wait_until(lambda: _answers(base), 30, "the UI")
        process = psutil.Process(ui.pid)
        login = httpx.post(
            f"{base}/login", data={"operator": "oskar", "password": "correct horse"}, timeout=10
        )
        before = process.memory_info().rss
        stop, sent = threading.Event(), [0]
        flooders = [
            threading.Thread(target=flood, args=(broker.endpoint, stop, sent, payload))
            for _ in range(FLOODERS)
        ]
        for t in flooders:
            t.start()
        took: list[float] = []
        deadline = time.monotonic() + FLOOD_SECONDS
        try:  # FLOOD_SECONDS, longer if a loaded machine answered fewer than 20 requests
            while time.monotonic() < deadline or (
                len(took) < 20 and time.monotonic() < deadline + FLOOD_SECONDS
            ):
                for path, cookies in (("/healthz", None), ("/events", login.cookies)):
                    started = time.monotonic()
                    answer = httpx.get(f"{base}{path}", cookies=cookies, timeout=5)
                    took.append(time.monotonic() - started)
                    assert answer.status_code in (200, 503), (path, answer.status_code)
                time.sleep(0.2)
        finally:
            stop.set()
            for t in flooders:
                t.join(30)
        grown = (process.memory_info().rss - before) / 2**20
        assert sum(sent) > 10_000, "the flood did not happen"
        # Within a second on a quiet machine; this test shares the cores with others, so it
        # holds the median to half a second and the worst to 2.5 s (the old feed: 3.5 s, and
        # then no answer within 5 s).
        took.sort()
        median, worst = took[len(took) // 2], took[-1]
        assert median < 0.5 and worst < 2.5, f"median {median:.2f} s, worst {worst:.2f} s"
        assert grown < 80, f"the UI grew {grown:.0f} MiB during the flood"
        assert len(took) >= 20
    finally:
        ui.terminate()
        ui.wait(15)


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False
