"""Make the README's screenshots from the demo, on purpose (the tests never write them).

Runs ``homelab up --demo`` with a temporary home (so the data root is a fresh
``~/.homelab-demo``) on free ports, logs in as the demo operator in Debian's Chromium at
1280 px, waits for the demo's drift and its pending fix, and writes ``dashboard.png`` and
``action-queue.png`` (with ``--phone`` also ``action-queue-phone.png``, at 390 px). Then it
stops the demo and removes the temporary home. Needs ``/usr/bin/chromium`` (Debian's; a
browser is never downloaded) and the test extras (Playwright).

    python scripts/screenshots.py                 # into docs/screenshots/
    python scripts/screenshots.py --out /tmp/shots --phone
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # tests/chromium.py: the browser we drive
from chromium import CHROMIUM, FLAGS, submit_login  # noqa: E402

OUT = REPO / "docs" / "screenshots"
LOGIN = re.compile(r"UI: (http://127\.0\.0\.1:\d+)  login: (\S+) / (\S+) \(shown once")
WAIT = 120.0  # seconds for the demo to start and to show its pending fix
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHART_POINTS = 20  # bus.stats ticks on the dashboard's chart before it is taken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write [{OUT}]")
    parser.add_argument("--phone", action="store_true", help="also the queue at 390 px")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"screenshots: {CHROMIUM} is needed (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="homelab-screenshots-"))
    demo = Demo(home)
    try:
        base, operator, password = demo.login()
        demo.wait_for_a_pending_fix()
        for path in shoot(base, operator, password, args.out, args.phone):
            print(f"wrote {path}")
    except (TimeoutError, RuntimeError) as err:
        print(f"screenshots: {err}\n--- homelab up --demo said:\n{demo.output()}", file=sys.stderr)
        return 1
    finally:
        demo.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


class Demo:
    """``homelab up --demo`` with ``home`` as its home, on free ports."""

    def __init__(self, home: Path):
        self.root = home / ".homelab-demo"
        self.log = home / "up.log"
        bus, ui = free_port(pair=True), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOMELAB_")}
        env |= {
            "HOME": str(home),
            "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
        }
        argv = [sys.executable, "-m", "homelab", "up", "--demo"]
        argv += ["--bus", f"tcp://127.0.0.1:{bus}", "--port", str(ui)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def login(self) -> tuple[str, str, str]:
        """The UI's address and the demo operator's one-time login, once ``up`` prints them."""
        found = wait(lambda: self.exited() or LOGIN.search(self.output()), "the demo's login")
        return found[1], found[2], found[3]

    def exited(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"homelab up --demo exited {self.proc.returncode}")

    def wait_for_a_pending_fix(self) -> None:
        from actors.readmodel import queue

        wait(lambda: self.exited() or queue.read(self.root).pending, "the demo's pending fix")

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C: ``up`` stops the demo's services too."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def shoot(base: str, operator: str, password: str, out: Path, phone: bool) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_context(viewport=DESKTOP, color_scheme="light").new_page()
            page.goto(f"{base}/login")
            submit_login(page, operator, password)
            page.wait_for_url(lambda url: "/login" not in url, timeout=15_000)
            written.append(dashboard(page, base, out / "dashboard.png"))
            written.append(action_queue(page, base, out / "action-queue.png"))
            if phone:
                page.set_viewport_size(PHONE)
                written.append(action_queue(page, base, out / "action-queue-phone.png"))
        finally:
            browser.close()
    return written


def dashboard(page, base: str, path: Path) -> Path:
    """The dashboard as the operator finds it: the drift, its fix pending, the bus busy."""
    page.goto(f"{base}/")
    page.get_by_text("1 pending", exact=True).wait_for(timeout=30_000)
    page.get_by_text("1 drifted", exact=True).wait_for(timeout=30_000)
    page.get_by_text("demo-api: stopped", exact=True).wait_for(timeout=30_000)
    points = "el => getElement(el).chart.getOption().series[0].data.length"
    chart = page.locator(".nicegui-echart")
    wait(lambda: chart.evaluate(points) >= CHART_POINTS, "the rate chart", 60)
    page.screenshot(path=str(path), full_page=True)
    return path


def action_queue(page, base: str, path: Path) -> Path:
    page.goto(f"{base}/actions")
    page.get_by_text("start demo-api", exact=True).wait_for(timeout=30_000)  # the demo's fix
    page.get_by_role("button", name="Approve").wait_for(timeout=30_000)
    page.screenshot(path=str(path), full_page=True)
    return path


def wait(condition: Callable[[], object], what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"no {what} after {timeout:.0f} s")


def free_port(pair: bool = False) -> int:
    """A free loopback port (``pair``: the next one is free too, for the bus's two)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if not pair:
                return port
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


if __name__ == "__main__":
    sys.exit(main())
