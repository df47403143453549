"""The operator UI benchmark (issue 10): bus message → text in the browser, first render of
the dashboard, and the UI process's memory under a long stream of messages.

How to run it (from the repository, with the project's virtualenv):

    python bench/ui_bench.py              # 100 samples, 7 loads, 100,000 messages (about 70 s)
    python bench/ui_bench.py --quick      # 30 samples, 3 loads, 10,000 messages (< 2 min)
    python bench/ui_bench.py --samples 200 --messages 200000 --services 500 --rate 50
    python bench/ui_bench.py --serve-script my_ui.py   # the same, against a changed UI

Needs nginx and Debian's ``/usr/bin/chromium`` (driven by Playwright; never a downloaded
browser). Run it on a quiet machine: the figures move with whatever else uses the cores,
which is why each has a baseline measured in the same run. Everything runs as real
processes on loopback in a temporary data root: a broker, the observer, the UI
(``gui.app.serve``) behind a real nginx with the websocket ``location`` block the docs show,
``homelab tap``, and a load process publishing ordinary observation traffic as
``agent:benchnode`` (see ``bench/ui_stack.py``); the world is built by the real observer.
``--serve-script`` runs a Python file as the UI instead (it gets the data root, bus, port
and public URL as arguments, like ``ui_stack.SERVE``), to measure a proposed change.

(2) First render of the dashboard through nginx, logged in, a new tab per load (after one
    warm-up load): time from navigation start (``performance.now()``) until a card reading
    "N pending" is in the DOM and the next frame; median of ``--loads``. Baseline: the login
    page, not logged in, the same way. Target ≤ 1 s. Measured first, with no other tab open.
(1) Latency. With ``--services`` services in the world (500) and ``--rate`` messages/s
    flowing (50), a marker message with a unique text is published; a MutationObserver in the
    Events page (the live tap) records ``Date.now()`` when a line holding it is added, and at
    the next animation frame (painted). Both are compared with ``time.time()`` taken just
    before the publish call (same machine clock). A marker not painted within 5 s counts as
    infinitely late. Baseline, the same marker in the same run: a plain ``homelab tap``
    subprocess, timestamped when its stdout line arrives. Target: painted p95 ≤ 100 ms. Also
    printed: the CPU of the UI process and of Chromium's renderers meanwhile, the page's main
    thread time by kind (Chrome's Performance metrics), and how often the page reloaded
    itself (NiceGUI does so when its socket reconnects and the messages missed are gone).
(3) Memory. The load stops; with the Events page still open, ``--messages`` more messages are
    published in batches of 1,000, at most 5,000 ahead of what the browser shows; the UI
    process's RSS is read once the browser has shown the first 1,000 and once it has shown the
    last (and every 10,000 for the trend). Baseline: the ``homelab tap`` process's RSS at the
    same points. Target: growth ≤ 50 MB.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # tests/chromium.py: the browser we drive

from chromium import CHROMIUM, FLAGS, submit_login  # noqa: E402

from bench import ui_stack  # noqa: E402 (puts tests/ on the path too)
from bus import client  # noqa: E402

WAIT = 5.0  # seconds a marker may take before it counts as missed
BATCH = 1000
AHEAD = 5000  # messages the flood may be ahead of what the browser shows

# Records when a line holding a marker is added to the page, and the frame after.
WATCH_MARKERS = """(() => {
  const watch = () => {
    window.__seen = {}; window.__painted = {}; window.__waiters = {};
    const re = /bench-marker-([0-9a-z-]+)/;
    new MutationObserver(records => {
      const now = Date.now();
      for (const r of records) for (const n of r.addedNodes) {
        const m = re.exec(n.textContent || '');
        if (m && !(m[1] in window.__seen)) {
          const token = m[1];
          window.__seen[token] = now;
          requestAnimationFrame(() => {
            window.__painted[token] = Date.now();
            if (window.__waiters[token]) window.__waiters[token]();
          });
        }
      }
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
  };
  if (document.body) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();"""

# Before the page's own scripts: when a card (rendered by Vue, never the page's JSON in a
# <script>) matching PATTERN enters the DOM, record performance.now() (ms since navigation).
WATCH_FIRST_CARD = """(() => {
  const re = new RegExp(PATTERN);
  const obs = new MutationObserver(records => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      const cards = n.matches('.q-card, form') ? [n] : n.querySelectorAll('.q-card, form');
      for (const c of cards) if (re.test(c.textContent)) {
        window.__rendered = performance.now();
        requestAnimationFrame(() => { window.__painted = performance.now(); });
        obs.disconnect();
        return;
      }
    }
  });
  obs.observe(document, {childList: true, subtree: true});
})();"""
NAVIGATION = """() => { const n = performance.getEntriesByType('navigation')[0];
  return {ttfb: n.responseStart, html: n.responseEnd, dcl: n.domContentLoadedEventEnd,
          load: n.loadEventEnd}; }"""
# Resolves once the marker is painted, or after the wait (no polling in the page).
PAINTED = """([token, wait]) => new Promise(done => {
  const answer = () => done([window.__seen[token], window.__painted[token]]);
  if (window.__painted && token in window.__painted) return answer();
  if (window.__waiters) window.__waiters[token] = answer;
  setTimeout(answer, wait);
})"""
LAST_SEQ = """() => { const log = document.querySelector('.nicegui-log');
  const divs = log ? log.querySelectorAll('div') : [];
  for (let i = divs.length - 1; i >= 0; i--) {
    const m = /^\\s*\\d\\d:\\d\\d:\\d\\d\\s+(\\d+) \\S/.exec(divs[i].textContent);
    if (m && !divs[i].querySelector('div')) return parseInt(m[1]);
  }
  return 0; }"""


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:  # a renderer of a closed tab
            pass
    return total


def page_metrics(cdp) -> dict[str, float]:
    """Seconds the page's main thread spent so far, by kind (Chrome's Performance domain;
    they restart from 0 when the page reloads)."""
    wanted = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")
    return {
        m["name"]: m["value"]
        for m in cdp.send("Performance.getMetrics")["metrics"]
        if m["name"] in wanted
    }


def renderers() -> list[psutil.Process]:
    """Chromium's renderer processes (ours: children of this process's Playwright driver)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            pass
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def ms(value: float) -> str:
    return f"{value:7.1f} ms" if math.isfinite(value) else f">{WAIT * 1000:.0f} ms"


def log_in(context, base: str, path: str, init_script: str | None = None):
    page = context.new_page()
    if init_script:
        page.add_init_script(init_script)
    page.goto(f"{base}{path}")
    submit_login(page, ui_stack.OPERATOR, ui_stack.PASSWORD)
    page.wait_for_url(lambda url: "/login" not in url, timeout=15_000)
    return page


# -- (1) latency ----------------------------------------------------------------------------


def latency(page, tap: ui_stack.Tap, endpoint: str, samples: int, budget: float) -> dict:
    from playwright.sync_api import Error

    run = os.urandom(3).hex()
    ui, painted, shell, missed = [], [], [], 0
    deadline = time.monotonic() + budget
    with client.Publisher(endpoint, "bench") as publisher:
        for i in range(samples):
            if time.monotonic() > deadline:
                break
            token = f"{run}-{i}"
            sent = time.time()
            publisher.publish("bench.marker", {"text": f"bench-marker-{token}"})
            seen_by_tap = tap.wait_for(token, WAIT)
            try:
                seen, frame = page.evaluate(PAINTED, [token, WAIT * 1000])
            except Error:  # the page reloaded itself meanwhile (counted): a miss
                seen = frame = None
            if frame is None:
                missed += 1  # slower than WAIT: counts as infinitely late in the percentiles
                ui.append(math.inf)
                painted.append(math.inf)
                if seen_by_tap is not None:
                    shell.append((seen_by_tap - sent) * 1000)
                continue
            ui.append(seen - sent * 1000)
            painted.append(frame - sent * 1000)
            if seen_by_tap is not None:
                shell.append((seen_by_tap - sent) * 1000)
            time.sleep(random.uniform(0.1, 0.3))  # off the load's rhythm
    return {"ui": ui, "painted": painted, "tap": shell, "missed": missed}


# -- (2) first render -----------------------------------------------------------------------


def first_render(context, url: str, pattern: str, loads: int) -> dict:
    rendered, painted, wall, navigation = [], [], [], []
    for _ in range(loads + 1):  # the first is a warm-up
        page = context.new_page()
        page.add_init_script(WATCH_FIRST_CARD.replace("PATTERN", repr(pattern)))
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__painted !== undefined", timeout=30_000)
        wall.append((time.perf_counter() - start) * 1000)
        rendered.append(page.evaluate("window.__rendered"))
        painted.append(page.evaluate("window.__painted"))
        navigation.append(page.evaluate(NAVIGATION))
        page.close()
    rendered, painted, wall, navigation = rendered[1:], painted[1:], wall[1:], navigation[1:]
    middle = navigation[sorted(range(loads), key=lambda k: painted[k])[loads // 2]]
    return {"rendered": rendered, "painted": painted, "wall": wall, "navigation": middle}


# -- (3) memory -----------------------------------------------------------------------------


def shown(page) -> int:
    """The last sequence number on the Events page (0 while it reloads)."""
    from playwright.sync_api import Error

    try:
        return page.evaluate(LAST_SEQ)
    except Error:  # the page is reloading (see the count of reloads)
        return 0


def memory(page, stack: ui_stack.Stack, tap: ui_stack.Tap, messages: int, budget: float) -> dict:
    ui_rss = psutil.Process(stack.ui.pid).memory_info
    tap_rss = psutil.Process(tap.proc.pid).memory_info
    trend: list[tuple[int, float]] = []
    first = last = None
    deadline = time.monotonic() + budget
    start = time.monotonic()

    def caught_up(seq: int) -> None:
        end = min(deadline, time.monotonic() + 120)
        while shown(page) < seq:
            if time.monotonic() > end:
                said = page.get_by_test_id("dropped").inner_text()
                raise TimeoutError(f"the browser did not show seq {seq} in time ({said})")
            time.sleep(0.05)

    sent, pending = 0, []
    with client.Publisher(stack.endpoint, ui_stack.SOURCE, timeout=60) as publisher:
        while sent < messages and time.monotonic() < deadline:
            now = time.time()
            count = min(BATCH, messages - sent)
            batch = [
                (*ui_stack.observation(sent + k, 500, now), publisher.new_id())
                for k in range(count)
            ]
            seqs = publisher.publish_batch(batch)
            sent += count
            pending.append(max(s for s in seqs if isinstance(s, int)))
            if sent == count:  # the first 1,000
                caught_up(pending[-1])
                first = ui_rss().rss / 1e6, tap_rss().rss / 1e6
            while len(pending) > AHEAD // BATCH:
                caught_up(pending.pop(0))
            if sent % 10_000 == 0:
                trend.append((sent, ui_rss().rss / 1e6))
        for seq in pending:
            caught_up(seq)
    elapsed = time.monotonic() - start
    last = ui_rss().rss / 1e6, tap_rss().rss / 1e6
    return {"sent": sent, "first": first, "last": last, "trend": trend, "rate": sent / elapsed}


# -- the run --------------------------------------------------------------------------------


def measure(browser, stack: ui_stack.Stack, tap: ui_stack.Tap, args) -> None:
    with ui_stack.load(stack.endpoint, args.services, args.rate):
        # (2) first, in contexts of their own (a tab on the Events page would share their
        # renderer process); one warm-up load each fills the browser's cache.
        context = browser.new_context()
        log_in(context, stack.base, "/").get_by_text(f"{args.services} healthy").wait_for(
            timeout=15_000
        )
        d = first_render(context, f"{stack.base}/", r"\d+ pending", args.loads)
        context.close()
        fresh = browser.new_context()
        b = first_render(fresh, f"{stack.base}/login", "Log in", args.loads)
        fresh.close()
        print_first_render(d, b, args.loads)

        context = browser.new_context()
        events = log_in(context, stack.base, "/events", WATCH_MARKERS)
        events.get_by_text("Pause").wait_for(timeout=15_000)
        reloads = []  # NiceGUI reloads a page whose outbox cannot be replayed after a reconnect
        events.on("load", lambda page: reloads.append(page.url))
        transport = events.evaluate("window.socket.io.engine.transport.name")
        time.sleep(2)  # the load's first seconds are in the page before we measure
        watched = {"UI process": [psutil.Process(stack.ui.pid)], "Chromium renderers": renderers()}
        cdp = context.new_cdp_session(events)
        cdp.send("Performance.enable")
        page_before = page_metrics(cdp)
        before, start = {k: cpu_seconds(v) for k, v in watched.items()}, time.monotonic()
        r = latency(events, tap, stack.endpoint, args.samples, 20 + args.samples * 1.5)
        elapsed = time.monotonic() - start
        print_latency(r, transport)
        busy = ", ".join(
            f"{k} {(cpu_seconds(v) - before[k]) / elapsed:.0%}" for k, v in watched.items()
        )
        print(f"    CPU meanwhile (of one core): {busy}")
        spent = {k: (v - page_before.get(k, 0.0)) / elapsed for k, v in page_metrics(cdp).items()}
        if reloads:  # Chrome's counters restarted with the page
            print("    the Events page's main thread time: not known (the page reloaded)")
        else:
            print(
                f"    the Events page's main thread busy {spent['TaskDuration']:.0%} of the "
                f"time: script {spent['ScriptDuration']:.0%}, layout "
                f"{spent['LayoutDuration']:.0%}, style {spent['RecalcStyleDuration']:.0%}"
            )
        print(f"    the Events page reloaded itself {len(reloads)} time(s) meanwhile")
        reloads.clear()
    # the load has stopped: (3) counts only its own messages, the Events page stays open
    print_memory(memory(events, stack, tap, args.messages, 900))
    print(f"    the Events page reloaded itself {len(reloads)} time(s) meanwhile")


def print_latency(r: dict, transport: str) -> None:
    print(
        f"(1) publish -> text on the Events page through nginx ({transport}), "
        f"{len(r['ui'])} samples, {r['missed']} not shown within {WAIT:g} s:"
    )
    for label, values in (
        ("UI, in the DOM", r["ui"]),
        ("UI, painted", r["painted"]),
        ("baseline homelab tap", r["tap"]),
    ):
        print(
            f"    {label:<22} p50 {ms(percentile(values, 0.5))}  "
            f"p95 {ms(percentile(values, 0.95))}  max {ms(max(values))}"
        )
    ratio50 = percentile(r["painted"], 0.5) / percentile(r["tap"], 0.5)
    ratio95 = percentile(r["painted"], 0.95) / percentile(r["tap"], 0.95)
    p95 = percentile(r["painted"], 0.95)
    print(
        f"    UI painted / tap: p50 {ratio50:.1f}x, p95 {ratio95:.1f}x; painted p95 "
        f"{ms(p95)}: target <= 100 ms {'met' if p95 <= 100 else 'MISSED'}"
    )


def print_first_render(d: dict, b: dict, loads: int) -> None:
    nav, med = d["navigation"], statistics.median(d["painted"])
    print(
        f"(2) first render of the dashboard, logged in, through nginx ({loads} loads): cards painted median {med:.0f} ms "
        f"after navigation (in the DOM {statistics.median(d['rendered']):.0f} ms; as "
        f"Playwright sees it {statistics.median(d['wall']):.0f} ms) runs "
        f"{[round(x) for x in d['painted']]}: target <= 1000 ms "
        f"{'met' if med <= 1000 else 'MISSED'}"
    )
    print(
        f"    of which HTML first byte {nav['ttfb']:.0f} ms, HTML complete {nav['html']:.0f} ms, "
        f"DOMContentLoaded {nav['dcl']:.0f} ms"
    )
    base, bnav = statistics.median(b["painted"]), b["navigation"]
    print(
        f"    baseline, the login page (not logged in): median {base:.0f} ms (runs "
        f"{[round(x) for x in b['painted']]}; HTML first byte {bnav['ttfb']:.0f} ms, "
        f"DOMContentLoaded {bnav['dcl']:.0f} ms); dashboard/login {med / base:.1f}x"
    )


def print_memory(m: dict) -> None:
    (ui0, tap0), (ui1, tap1) = m["first"], m["last"]
    print(
        f"(3) memory, Events page open, {m['sent']:,} messages "
        f"(shown in the browser at {m['rate']:,.0f} msg/s):"
    )
    print(
        f"    UI process RSS {ui0:.0f} MB after the first 1,000, {ui1:.0f} MB after "
        f"{m['sent']:,}: {ui1 - ui0:+.1f} MB: target <= 50 MB "
        f"{'met' if ui1 - ui0 <= 50 else 'MISSED'}"
    )
    print(f"    trend (messages, MB): {[(k, round(v)) for k, v in m['trend']]}")
    print(f"    baseline homelab tap RSS {tap0:.0f} MB -> {tap1:.0f} MB: {tap1 - tap0:+.1f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="defaults of 30 samples, 3 loads, 10,000 messages"
    )
    parser.add_argument("--samples", type=int, help="markers for (1) (100)")
    parser.add_argument("--loads", type=int, help="dashboard loads for (2) (7)")
    parser.add_argument("--messages", type=int, help="messages for (3) (100,000)")
    parser.add_argument("--services", type=int, default=500, help="services in the world")
    parser.add_argument("--rate", type=float, default=50.0, help="background messages/s")
    parser.add_argument(
        "--serve-script",
        type=Path,
        help="run this Python file as the UI instead of gui.app.serve (to try a change to the "
        "UI; it gets the data root, bus, port and public URL as arguments, like ui_stack.SERVE)",
    )
    args = parser.parse_args(argv)
    defaults = (30, 3, 10_000) if args.quick else (100, 7, 100_000)
    for name, default in zip(("samples", "loads", "messages"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if min(args.samples, args.loads, args.messages) < 1 or args.messages < BATCH:
        parser.error(f"--samples and --loads must be at least 1, --messages at least {BATCH}")
    if not Path(CHROMIUM).exists():
        print("ui_bench: Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ui-bench-") as work:
        serve = args.serve_script.read_text() if args.serve_script else ui_stack.SERVE
        stack, tap = ui_stack.Stack(Path(work), serve), None
        try:
            stack.start()
            ui_stack.seed_world(stack.endpoint, args.services)
            ui_stack.wait_until(
                lambda: ui_stack.world_services(stack.root) >= args.services,
                60,
                f"the observer to see {args.services} healthy services",
            )
            tap = ui_stack.Tap(stack.endpoint)
            ui_stack.wait_until(lambda: tap.lines > 0, 30, "the tap's first line")
            print(
                f"ui benchmark: {os.cpu_count()} cores, {args.services} services in the world, "
                f"{args.rate:g} msg/s of observations, the UI behind nginx"
            )
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    measure(browser, stack, tap, args)
                finally:
                    browser.close()
        finally:
            if tap is not None:
                tap.stop()
            stack.stop()
    print(f"total {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
