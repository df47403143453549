"""The pages' features in Debian's real Chromium, over the product as real processes (one
product for the module): an action's output caught up while it runs and openable from
History, at phone width without horizontal scrolling; a drift's cause opens its record on the
Events page; a service's detail lists its recent observations; the dashboard has a live rate
chart (updated in place) and the last failure."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import CHROMIUM, FLAGS, javascript_errors, submit_login

from actors import decisions
from actors.readmodel import eventlog, queue
from actors.readmodel.models import ActionView
from gui import present
from plant import Plant, wait_until

pytestmark = pytest.mark.slow
# Starting svc says one line, works 6 s, says another and fails: the action is seen while it
# runs (with output already produced) and then in History as failed.
START = [
    sys.executable,
    "-u",
    "-c",
    "import time; print('step one: warming up'); time.sleep(6); "
    "print('boom: the port is taken'); raise SystemExit(3)",
]


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[Plant]:
    """Every service ``homelab up`` starts, the UI included; svc is stopped and its start
    fails; its http check (the UI's own /healthz) passes."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    plant = Plant(tmp_path_factory.mktemp("pages"), ui=True)
    status = plant.services["svc"].argv("status")
    checks = [{"type": "http", "url": f"{plant.url}/healthz"}]
    svc = {"start": START, "stop": status, "status": status, "checks": checks}
    plant.inventory.commit("svc should run", svc=svc)
    with plant:
        yield plant


@pytest.fixture(scope="module")
def browser(product):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, product):
    """A logged-in tab; no JavaScript errors allowed while the test uses it."""
    context = browser.new_context()
    tab = context.new_page()
    errors = javascript_errors(tab)
    tab.goto(f"{product.url}/login")
    submit_login(tab)
    tab.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
    yield tab
    context.close()
    assert not [e for e in errors if "favicon" not in e], errors


def pending_start(product: Plant) -> str:
    def found() -> str | None:
        pending = queue.read(product.root).pending
        return pending[0].id if pending else None

    return wait_until(found, 60, "the start of svc to be proposed")


def test_a_running_actions_output_is_caught_up_then_openable_from_history(product, page):
    from playwright.sync_api import expect

    action_id = pending_start(product)
    decisions.decide(product.root, product.bus, action_id, "approve", "oskar")
    wait_until(
        lambda: any(
            m.payload.get("id") == action_id and "step one" in m.payload.get("chunk", "")
            for m in eventlog.latest(product.root, "action.output")
        ),
        30,
        "the first output line on the bus",
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{product.url}/actions")  # opened after the line was produced
    expect(page.get_by_text("step one: warming up", exact=True)).to_be_visible(timeout=5_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # it ends (failed) and lands in History, live; its output opens there
    button = page.get_by_test_id(f"output-{action_id}")
    button.wait_for(timeout=30_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("boom: the port is taken", exact=False)).to_be_visible()
    expect(dialog.get_by_text("step one: warming up", exact=False)).to_be_visible()


def test_a_drifts_cause_opens_its_record_on_the_events_page(product, page):
    from playwright.sync_api import expect

    page.goto(f"{product.url}/drift")
    page.get_by_text("caused by seq").first.wait_for(timeout=30_000)
    compared = page.get_by_test_id("compare-svc")  # desired | actual, side by side
    expect(compared).to_contain_text("desired")
    expect(compared).to_contain_text("actual")
    expect(compared).to_contain_text("not running")
    link = page.locator("a[href^='/events?seq=']").first
    seq = link.inner_text().strip()
    link.click()
    page.wait_for_url(f"**/events?seq={seq}", timeout=10_000)
    expect(page.get_by_text(f"Record {seq}", exact=True)).to_be_visible()
    expect(page.get_by_text("obs.node.here.service.svc", exact=True)).to_be_visible()
    expect(page.get_by_text('"outcome":', exact=False).first).to_be_visible()  # pretty JSON


def test_a_services_detail_shows_its_recent_observations(product, page):
    from playwright.sync_api import expect

    page.goto(f"{product.url}/world")
    page.get_by_role("cell", name="svc", exact=True).click(timeout=30_000)
    page.wait_for_url("**/world/svc", timeout=10_000)
    expect(page.get_by_text("svc on here", exact=True)).to_be_visible()
    observations = page.locator(".q-table__container").nth(1).locator("tbody tr")
    observations.first.wait_for(timeout=10_000)
    assert observations.count() >= 1
    # live, without a reload: the agent's heartbeats say when each check ran again unchanged
    checks = page.locator(".q-table__container").nth(0).locator("tbody tr")
    last_seen = checks.first.locator("td").nth(5)
    before = last_seen.inner_text()
    wait_until(lambda: last_seen.inner_text() != before, 15, "the check's last seen to move")


def test_the_dashboard_has_a_live_rate_chart_and_the_last_failure(product, page):

    page.goto(f"{product.url}/")
    chart = page.locator(".nicegui-echart")
    chart.locator("canvas").first.wait_for(timeout=10_000)
    chart.evaluate("el => { el.dataset.probe = 'same element' }")
    points = "el => getElement(el).chart.getOption().series[0].data.length"
    wait_until(lambda: chart.evaluate(points) >= 1, 10, "a first point")
    shown = chart.evaluate(points)
    wait_until(lambda: chart.evaluate(points) >= shown + 2, 10, "two more bus.stats ticks")
    assert chart.evaluate("el => el.dataset.probe") == "same element"  # updated, not redrawn
    failure = page.get_by_text("failed: start svc", exact=False).first
    failure.wait_for(timeout=60_000)  # after the first test's action ended
    failure.click()
    page.wait_for_url("**/actions", timeout=10_000)


OPEN_SOCKET = """(url) => new Promise((done) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => done("no answer"), 8000);
    socket.onopen = () => { clearTimeout(timer); socket.close(); done("open"); };
    socket.onerror = () => { clearTimeout(timer); done("refused"); };
})"""


def test_a_cross_site_page_cannot_open_the_uis_websocket(browser, product):
    """A page of another site (another port on this machine: another origin) tries the UI's
    socket.io websocket with the browser's own Origin header: refused at the handshake; the
    same call from the UI's own page opens."""
    import http.server
    import threading

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<title>another site</title>")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    socket_url = (
        product.url.replace("http", "ws") + "/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
    )
    context = browser.new_context()
    try:
        evil = context.new_page()
        evil.goto(f"http://localhost:{server.server_address[1]}/")
        assert evil.evaluate(OPEN_SOCKET, socket_url) == "refused"
        own = context.new_page()
        own.goto(f"{product.url}/login")
        submit_login(own)
        own.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
        assert own.evaluate(OPEN_SOCKET, socket_url) == "open"
        assert evil.evaluate(OPEN_SOCKET, socket_url) == "refused"  # logged in or not
    finally:
        context.close()
        server.shutdown()
        server.server_close()


# Text that reaches past the right edge of the window: cut off by its box, or making the
# page scroll sideways.
PAST_THE_EDGE = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.childElementCount === 0 && e.textContent.trim() && e.getClientRects().length)
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map(e => e.textContent.trim().slice(0, 40))"""
# On how many lines ``text`` is drawn, wherever the page shows it.
LINES_OF = """(text) => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) {
        const at = walker.currentNode.textContent.indexOf(text);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(walker.currentNode, at);
        range.setEnd(walker.currentNode, at + text.length);
        const rects = [...range.getClientRects()];
        if (rects.length) found.push(new Set(rects.map(r => Math.round(r.top))).size);
    }
    return found;
}"""


def an_ended_action(product: Plant) -> ActionView:
    """The newest action in History (the start of svc, approved and failed, if none yet)."""
    if not queue.read(product.root).history:
        decisions.decide(product.root, product.bus, pending_start(product), "approve", "oskar")
    return wait_until(lambda: next(iter(queue.read(product.root).history), None), 60, "History")


def test_every_page_fits_a_phone_and_shows_everything(product, page):
    ended = an_ended_action(product)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, shows in (
        ("/", "Messages per second"),
        ("/world", "Filter"),
        ("/world/svc", "Recent observations"),
        ("/drift", "Revision"),
        ("/events", "Pause"),
        ("/actions", "Decided by"),  # History, as cards (looked at below)
    ):
        page.goto(f"{product.url}{path}")
        page.get_by_text(shows).first.wait_for(timeout=15_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide at 390"
        assert page.evaluate(PAST_THE_EDGE) == [], f"{path} cuts text off at the right"
    # History on a phone: who decided and when, and the id on one line
    card = page.get_by_test_id(f"card-{ended.id}")
    decision = next(e for e in reversed(ended.history) if e.kind == "approve")
    for shown in ("Decided by", decision.by, "At", present.absolute(decision.at)):
        assert card.get_by_text(shown, exact=True).is_visible(), shown
    assert card.get_by_test_id(f"output-{ended.id}").is_visible()
    assert page.evaluate(LINES_OF, ended.id) == [1]


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_ui_follows_the_systems_colour_scheme(browser, product, scheme):
    context = browser.new_context(color_scheme=scheme)
    try:
        tab = context.new_page()
        tab.goto(f"{product.url}/login")
        tab.get_by_label("Operator").wait_for(timeout=15_000)
        background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(18, 18, 18)") is (scheme == "dark"), background
        submit_login(tab)
        tab.get_by_text("Messages per second").wait_for(timeout=15_000)
        dark = tab.evaluate("document.body.classList.contains('body--dark')")
        assert dark is (scheme == "dark")
    finally:
        context.close()


COLOUR = "el => getComputedStyle(el).color"


def colour(locator) -> str:
    """The text colour of what ``locator`` finds; found again when a live redraw replaced
    it meanwhile (a detached element has no computed colour)."""
    return wait_until(lambda: locator.evaluate(COLOUR), 10, f"{locator} drawn")


def test_the_drift_page_marks_only_what_differs(product, page):
    from playwright.sync_api import expect

    page.goto(f"{product.url}/drift")
    compared = page.get_by_test_id("compare-svc")
    expect(compared).to_contain_text("check http", timeout=30_000)
    differs = compared.get_by_text("not running", exact=False)
    matches = compared.get_by_text(re.compile(r"^ok: "))  # the check passes: "ok: ..."
    matches.wait_for(timeout=30_000)
    desired = compared.get_by_text("running", exact=True)
    assert colour(matches) == colour(desired)  # as plain as the desired side
    assert colour(differs) != colour(desired)


HEALTH_SAMPLES = """() => {
    const card = document.querySelector('.q-card');
    const shown = {};
    for (const health of ['healthy', 'degraded', 'down', 'unknown']) {
        const span = document.createElement('span');
        span.className = 'health-' + health;
        span.textContent = health;
        card.appendChild(span);
        shown[health] = getComputedStyle(span).color;
    }
    let back = card;
    while (getComputedStyle(back).backgroundColor === 'rgba(0, 0, 0, 0)') back = back.parentElement;
    return [shown, getComputedStyle(back).backgroundColor];
}"""


def contrast(a: str, b: str) -> float:
    """WCAG contrast of two CSS rgb() colours."""

    def luminance(colour: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", colour)[:3])
        f = lambda c: c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4  # noqa: E731
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b)

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_each_health_has_its_own_readable_colour_on_the_dashboard(browser, product, scheme):
    context = browser.new_context(color_scheme=scheme)
    try:
        tab = context.new_page()
        tab.goto(f"{product.url}/login")
        submit_login(tab)
        tab.get_by_text("1 down", exact=True).wait_for(timeout=30_000)  # svc
        colours, background = tab.evaluate(HEALTH_SAMPLES)
        assert len(set(colours.values())) == 4, colours
        for health, shown in colours.items():
            assert contrast(shown, background) >= 4.5, (health, shown, background)
        assert colour(tab.get_by_text("1 down", exact=True)) == colours["down"]
        assert colour(tab.get_by_text("1 healthy", exact=True)) == colours["healthy"]
    finally:
        context.close()


LINES_SHOWN = "el => [...el.querySelectorAll(':scope > div > div')].map(line => line.textContent)"


def test_the_events_filter_refilters_what_is_shown_and_a_bad_range_says_why(product, page):
    from playwright.sync_api import expect

    from bus.client import Publisher

    page.goto(f"{product.url}/events")
    tap = page.get_by_test_id("tap")
    expect(tap.get_by_text("bus.stats", exact=False).first).to_be_visible(timeout=15_000)
    with Publisher(product.bus, "emit", timeout=10) as publisher:
        publisher.publish("tool.filtertest", {"n": 1, "note": "from a script"})
    line = tap.get_by_text("tool.filtertest", exact=False)
    expect(line).to_be_visible(timeout=10_000)
    assert re.fullmatch(
        r'\d\d:\d\d:\d\d +\d+ tool\.filtertest \[emit\] \{"n":1,"note":"from a script"\}',
        line.inner_text(),
    )
    # a filter applies to what is already shown, and taking it away brings the rest back
    page.get_by_label("Topic prefix").fill("tool.")
    wait_until(lambda: len(set(map(topic_of, tap.evaluate(LINES_SHOWN)))) == 1, 10, "the filter")
    assert set(map(topic_of, tap.evaluate(LINES_SHOWN))) == {"tool.filtertest"}
    page.get_by_label("Topic prefix").fill("")
    expect(tap.get_by_text("bus.stats", exact=False).first).to_be_visible(timeout=10_000)
    # a good replay, then a bad range: the old results go and the reason shows in place
    page.get_by_label("To seq").fill("5")
    page.get_by_role("button", name="Replay from disk").click()
    replayed = page.get_by_test_id("replayed")
    wait_until(lambda: len(replayed.evaluate(LINES_SHOWN)) == 5, 10, "five records")
    page.get_by_label("From time").fill("2026-01-02T00:00:00")
    page.get_by_label("To time").fill("2026-01-01T00:00:00")
    page.get_by_role("button", name="Replay time range").click()
    expect(
        page.get_by_text("Nothing replayed: the start is not before the end", exact=False)
    ).to_be_visible()
    assert replayed.evaluate(LINES_SHOWN) == []


def topic_of(line: str) -> str:
    return line.split()[2]
