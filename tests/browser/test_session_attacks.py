"""Ways into an operator's session, tried as an attacker would: through a real nginx set up
as Nginx Proxy Manager sets up a proxy host (http, https, and with its websocket toggle
off), from a page on a sibling subdomain (``evil.lab.example`` beside ``ui.lab.example``,
made by Chromium's host resolver rules), in Debian's Chromium and with a plain socket.io
client. nginx connects to the UI from 127.0.0.3, as NPM's container would from its own
address, and the UI trusts that address's forwarded headers only."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import re
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chromium import CHROMIUM, FLAGS, PASSWORD, javascript_errors, submit_login

from plant import Plant, add_operator, free_port_pair, wait_until
from proxy import PROXY, Nginx, self_signed

pytestmark = pytest.mark.slow
HOST, EVIL, DOMAIN = "ui.lab.example", "evil.lab.example", "lab.example"
TLS_HOST = "ui-tls.lab.example"  # the UI over https (a host the public URL names https)
NGINX_ADDRESS = "127.0.0.3"  # where nginx connects to the UI from (NPM's container)
LAB_FLAGS = [
    *FLAGS,
    f"--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1",
    "--ignore-certificate-errors",  # the https site's certificate is the test's own
]


@dataclasses.dataclass
class Lab:
    plant: Plant  # the broker and the UI
    ui: str  # http://ui.lab.example:PORT, NPM-like with websockets
    https: str  # https://ui.lab.example:PORT
    polling: str  # the same with the websocket toggle off
    evil: str  # http://evil.lab.example:PORT, the attacker's pages (files in evil_dir)
    evil_dir: Path
    nginx: Nginx

    def at(self, base: str) -> str:
        """``base`` as this machine reaches it (the browser maps the names, httpx cannot)."""
        for name in (HOST, TLS_HOST, EVIL):
            base = base.replace(name, "127.0.0.1")
        return base


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("lab")
    http_port, https_port, polling_port = (free_port_pair() for _ in range(3))
    ui, https = f"http://{HOST}:{http_port}", f"https://{TLS_HOST}:{https_port}"
    polling = f"http://{HOST}:{polling_port}"
    # The public URLs as an operator might type them: capitals, a trailing slash.
    public = [f"http://UI.LAB.EXAMPLE:{http_port}/", https, polling]
    env = {"HOMELAB_PUBLIC_URL": ",".join(public), "HOMELAB_UI_TRUSTED_PROXIES": NGINX_ADDRESS}
    plant = Plant(work, 0, run=("broker",), ui=True, env=env)
    cert, key = self_signed(work, TLS_HOST)
    evil_dir = work / "evil"
    evil_dir.mkdir()
    evil_site = attacker_site(evil_dir)
    evil_port = evil_site.server_address[1]
    upstream = PROXY.format(upstream=f"127.0.0.1:{plant.ui_port}")
    no_websocket = "\n".join(line for line in upstream.splitlines() if "pgrade" not in line)
    no_websocket = no_websocket.replace("Connection $http_connection", "Connection close")
    servers = f"""
        server {{ listen 127.0.0.1:{http_port};
            location / {{ proxy_bind {NGINX_ADDRESS}; {upstream} }} }}
        server {{ listen 127.0.0.1:{https_port} ssl;
            ssl_certificate {cert}; ssl_certificate_key {key};
            location / {{ proxy_bind {NGINX_ADDRESS}; {upstream} }} }}
        server {{ listen 127.0.0.1:{polling_port};
            location / {{ proxy_bind {NGINX_ADDRESS}; {no_websocket} }} }}
    """
    nginx = Nginx(work / "nginx", servers)
    evil = f"http://{EVIL}:{evil_port}"
    lab = Lab(plant, ui, https, polling, evil, evil_dir, nginx)
    try:
        with plant:
            for name in ("mallory", "bob", "carol"):  # and oskar, the plant's
                add_operator(plant.root, name, PASSWORD if name != "mallory" else "mallory's own")
            nginx.start(*(f"{lab.at(u)}/healthz" for u in (lab.ui, lab.https, lab.polling)))
            wait_until(lambda: _up(lab.at(lab.ui), plant), 30, "the UI through nginx")
            yield lab
    finally:
        evil_site.shutdown()
        nginx.stop()


def attacker_site(folder: Path) -> http.server.ThreadingHTTPServer:
    """The sibling subdomain's own web server: the files in ``folder``, as HTML."""

    class Pages(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _up(url: str, plant: Plant) -> bool:
    assert plant.children["ui"].poll() is None, plant.output("ui")
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAB_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page, base: str, path: str = "/", name: str = "oskar") -> None:
    """Open ``path`` logged out, log in as ``name``, wait until the page is back at ``path``."""
    page.goto(f"{base}{path}")
    submit_login(page, name)
    page.wait_for_url(f"{base}{path}", timeout=15_000)


def wait_for_socket(page) -> str:
    page.wait_for_function("window.socket && window.socket.connected", timeout=15_000)
    return page.evaluate("window.socket.io.engine.transport.name")


def client_of(page) -> httpx.Client:
    """An HTTP client with the browser's cookies for the UI (as if stolen from it)."""
    jar = httpx.Cookies()
    for c in page.context.cookies():
        jar.set(c["name"], c["value"])
    return httpx.Client(cookies=jar, timeout=5, verify=False)


def logged_in(base: str, cookies: dict[str, str]) -> bool:
    """Whether these cookies open the Action Queue (not a redirect to the login page)."""
    answer = httpx.get(f"{base}/actions", cookies=cookies, timeout=5, verify=False)
    return answer.status_code == 200 and "/login" not in str(answer.url)


# -- A.1 open redirect -------------------------------------------------------------------------

ELSEWHERE = [
    "/%5Cevil.lab.example/",
    "%2F%09%2Fevil.lab.example/",
    "%2F%0A%2Fevil.lab.example/",
    "/%5C/evil.lab.example/",
    "//evil.lab.example/",
    "https://evil.lab.example/",
    "/%09/evil.lab.example/",
]


def test_after_the_login_the_browser_stays_on_this_ui(lab):
    with chromium() as browser:
        for target in ELSEWHERE:
            page = browser.new_context().new_page()
            page.goto(f"{lab.ui}/login?redirect_to={target}")
            submit_login(page)
            page.wait_for_url(lambda url: "/login" not in url, timeout=15_000)
            assert urllib.parse.urlsplit(page.url).hostname == HOST, (target, page.url)
            page.context.close()
        page = browser.new_page()  # a path of this UI with its query is kept
        page.goto(f"{lab.ui}/login?redirect_to=%2Fevents%3Fseq%3D1")
        submit_login(page)
        page.wait_for_url(f"{lab.ui}/events?seq=1", timeout=15_000)


# -- A.2 session fixation ----------------------------------------------------------------------


def plant_page(lab: Lab, cookies: dict[str, str]) -> str:
    """A page of the sibling subdomain that sets these cookies for the whole domain."""
    lines = "".join(
        f'document.cookie = "{name}={value}; domain={DOMAIN}; path=/";'
        for name, value in cookies.items()
    )
    (lab.evil_dir / "plant.html").write_text(f"<script>{lines}</script>planted")
    return f"{lab.evil}/plant.html"


def test_a_cookie_planted_by_a_sibling_subdomain_never_becomes_a_login(lab):
    # what an attacker can get from the login page, and a session id of their own choosing
    fetched = httpx.get(f"{lab.at(lab.ui)}/login", timeout=5)
    planted = {**dict(fetched.cookies), "homelab-session": "chosen-by-the-attacker-0123456789"}
    with chromium() as browser:
        page = browser.new_page()
        page.goto(plant_page(lab, planted))
        assert {c["name"] for c in page.context.cookies()} >= set(planted)
        log_in(page, lab.ui, "/actions")
        mine = {c["name"]: c["value"] for c in page.context.cookies() if c["domain"] == HOST}
    assert not logged_in(lab.at(lab.ui), planted)  # the attacker's cookies open nothing
    assert mine.get("homelab-session") not in (None, *planted.values())


def test_a_logout_ends_the_session_for_good(lab):
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, lab.ui, "/actions")
        stolen = {c["name"]: c["value"] for c in page.context.cookies()}
        assert logged_in(lab.at(lab.ui), stolen)
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{lab.ui}/login**", timeout=10_000)
    assert not logged_in(lab.at(lab.ui), stolen)


# -- A.3 clickjacking --------------------------------------------------------------------------


def test_no_page_of_the_ui_can_be_framed_by_a_sibling_subdomain(lab):
    (lab.evil_dir / "frame.html").write_text(
        f'<iframe id="f" style="opacity:.05" src="{lab.ui}/actions" '
        "onload=\"document.body.dataset.loaded = 'yes'\"></iframe>"
    )
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, lab.ui, "/actions")  # the Lax cookie goes along to a same-site frame
        page.goto(f"{lab.evil}/frame.html")
        page.wait_for_function("document.body.dataset.loaded === 'yes'", timeout=15_000)
        framed = page.frames[1]
        assert HOST not in framed.url, framed.url  # Chromium shows its error page instead
    for path in ("/login", "/actions", "/summary", "/healthz", "/nowhere"):
        answer = httpx.get(f"{lab.at(lab.ui)}{path}", timeout=5)
        assert answer.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path


# -- A.4, A.5 the login limit behind the proxy -------------------------------------------------


def post_login(base: str, name: str, password: str, address: str, cookies=None) -> httpx.Response:
    """A login from a browser at ``address`` (with its ``cookies``): the request leaves
    from that loopback address, so nginx sees it as the client (and says so in
    X-Forwarded-For)."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, cookies=cookies, timeout=30) as http:
        return http.post(
            f"{base}/login",
            data={"operator": name, "password": password, "redirect_to": "/"},
            follow_redirects=False,
        )


def test_thirty_guesses_sent_at_once_are_five_checked(lab):
    from concurrent.futures import ThreadPoolExecutor

    base = lab.at(lab.ui)
    with ThreadPoolExecutor(30) as pool:
        answers = list(
            pool.map(
                lambda n: post_login(base, "oskar", f"guess {n}", "127.0.1.99").status_code,
                range(30),
            )
        )
    assert answers.count(401) == 5 and answers.count(429) == 25, answers


def test_an_attacker_behind_the_proxy_cannot_lock_the_operator_out(lab):
    base = lab.at(lab.ui)
    for n in range(5):
        assert post_login(base, "bob", f"guess {n}", "127.0.1.7").status_code == 401
    assert post_login(base, "bob", PASSWORD, "127.0.1.7").status_code == 429
    # the operator, from their own address (the proxy says so), is not locked out
    first = post_login(base, "bob", PASSWORD, "127.0.2.2")
    assert first.status_code == 303
    # guesses at "bob" from many addresses slow down every new browser...
    for n in range(12):
        post_login(base, "bob", f"guess {n}", f"127.0.1.{20 + n}")
    assert post_login(base, "bob", PASSWORD, "127.0.2.3").status_code == 429
    # ...but never the browser where bob logged in before
    answer = post_login(base, "bob", PASSWORD, "127.0.2.3", cookies=dict(first.cookies))
    assert answer.status_code == 303


# -- A.6 sockets -------------------------------------------------------------------------------


def socket_query(page) -> dict[str, str]:
    """The query of the page's socket: what nginx writes to its access log for it (once
    the websocket closes; each polling request at once)."""
    query = page.evaluate("window.socket.io.opts.query")
    return {k: str(v) for k, v in query.items() if v is not None}


async def join(base: str, query: dict[str, str], cookie: str | None, transport: str) -> list:
    """Connect to the UI's socket.io with a page's ids; what arrived within 3 s, or the
    refusal."""
    import socketio

    got: list = []
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("*", lambda event, *args: got.append(event))
    keep = {k: query[k] for k in ("client_id", "tab_id", "document_id", "implicit_handshake")}
    keep["next_message_id"] = "0"
    try:
        await sio.connect(
            f"{base}?{urllib.parse.urlencode(keep)}",
            socketio_path="/_nicegui_ws/socket.io",
            transports=[transport],
            headers={"Cookie": cookie} if cookie else {},
            wait_timeout=5,
        )
        await sio.emit("handshake", query)
        await asyncio.sleep(3)
        return got
    except (socketio.exceptions.ConnectionError, RuntimeError) as err:
        return [f"refused: {err}"]  # RuntimeError: the websocket closed before it opened
    finally:
        with contextlib.suppress(Exception):  # already closed by the refusal
            await sio.disconnect()


def in_a_thread(coroutine):
    """Run a coroutine beside Playwright's own event loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def test_a_page_socket_needs_the_session_that_opened_the_page(lab):
    mallory = httpx.post(
        f"{lab.at(lab.ui)}/login",
        data={"operator": "mallory", "password": "mallory's own"},
        timeout=10,
    ).cookies
    theirs = "; ".join(f"{k}={v}" for k, v in mallory.items())
    with chromium() as browser:
        page = browser.new_page()
        errors = javascript_errors(page)
        log_in(page, lab.ui, "/events")
        assert wait_for_socket(page) == "websocket"  # the public URL was given in capitals
        query = socket_query(page)
        for cookie in (None, theirs):
            for transport in ("websocket", "polling"):
                got = in_a_thread(join(lab.at(lab.ui), query, cookie, transport))
                assert len(got) == 1 and got[0].startswith("refused"), (cookie, transport, got)
        # the operator's own page still works
        page.get_by_text("bus.stats").first.wait_for(timeout=10_000)
        assert not errors, errors


def test_a_polling_socket_id_from_the_access_log_opens_nothing(lab):
    mallory = httpx.post(
        f"{lab.at(lab.polling)}/login",
        data={"operator": "mallory", "password": "mallory's own"},
        timeout=10,
    ).cookies
    with chromium() as browser:
        page = browser.new_page()
        seen = len(lab.nginx.access_log.read_text().splitlines())
        log_in(page, lab.polling, "/events")
        assert wait_for_socket(page) == "polling"
        found = re.findall(
            r"GET (/_nicegui_ws/socket\.io/\?\S*sid=[^&\s]+\S*)",
            "\n".join(lab.nginx.access_log.read_text().splitlines()[seen:]),
        )
        assert found, "no polling request in nginx's access log"
        stolen = lab.at(lab.polling) + found[-1]
        for cookies in ({}, dict(mallory)):
            answer = httpx.get(stolen, cookies=cookies, timeout=10)
            assert answer.status_code == 403, (cookies, answer.status_code, answer.text[:200])


# -- A.7 password change and removal -----------------------------------------------------------


def homelab(lab: Lab, *args: str, stdin: str = "") -> None:
    done = lab.plant.homelab(*args, stdin=stdin)
    assert done.returncode == 0, done.stderr


def test_a_removed_operator_or_a_new_password_ends_open_pages_too(lab):
    with chromium() as browser:
        bob = browser.new_context().new_page()
        log_in(bob, lab.ui, "/events", "bob")
        carol = browser.new_context().new_page()
        log_in(carol, lab.ui, "/events", "carol")
        carol_cookies = {c["name"]: c["value"] for c in carol.context.cookies()}
        for page in (bob, carol):
            page.get_by_text("bus.stats").first.wait_for(timeout=10_000)

        homelab(lab, "ui", "remove-user", "bob")
        bob.wait_for_url(f"{lab.ui}/login**", timeout=10_000)
        assert carol.url == f"{lab.ui}/events"  # others stay

        homelab(lab, "ui", "add-user", "carol", "--password-stdin", stdin="a new password\n")
        carol.wait_for_url(f"{lab.ui}/login**", timeout=10_000)
        assert not logged_in(lab.at(lab.ui), carol_cookies)
        homelab(lab, "ui", "add-user", "carol", "--password-stdin", stdin=PASSWORD + "\n")


# -- A.8 https ---------------------------------------------------------------------------------


def test_over_https_the_session_cookie_is_secure_and_host_only(lab):
    with chromium() as browser:
        page = browser.new_page()
        log_in(page, lab.https, "/actions")
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert wait_for_socket(page) == "websocket"
    session = cookies["__Host-homelab-session"]
    assert session["secure"] and session["httpOnly"] and session["domain"] == TLS_HOST
    assert "homelab-session" not in cookies
    answer = httpx.get(f"{lab.at(lab.https)}/login", timeout=5, verify=False)
    assert answer.headers["strict-transport-security"].startswith("max-age=")
