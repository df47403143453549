"""The probes against real things: local HTTP, TCP and TLS servers, real child processes, and
recording stand-ins for ``docker`` and ``systemctl`` put first on PATH."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import ssl
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from actors import probes
from actors.domain.inventory import (
    CommandCheck,
    CommandService,
    ComposeService,
    ContainerService,
    DiskCheck,
    EndpointService,
    HttpCheck,
    SystemdService,
    TcpCheck,
    TlsCheck,
)
from actors.domain.observations import Observation
from actors.probes import probe_state, run_check
from samples import COMPOSE_LINES  # the same `compose ps` sample
from standins import StandIn, first_on_path

NOW = 1_790_000_000.0


def fixed_clock() -> float:
    return NOW


async def check(c, *, service: str | None = "web", clock=time.time) -> Observation:
    return await run_check(
        c, node_name="n1", node_address="127.0.0.1", service=service, interval=30, clock=clock
    )


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (PID 1 may not be a reaper)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(*pids: int, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if not gone(p)]}"
        time.sleep(0.02)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


# -- http ----------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        if self.path == "/ok":
            self.reply(200, b"hello homelab\n")
        elif self.path.startswith("/status/"):
            self.reply(int(self.path.rsplit("/", 1)[1]), b"nope\n")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            self.reply(200, b"x" * 200_000 + b"needle")
        elif self.path == "/slow":
            self.server.release.wait(5)  # type: ignore[attr-defined]
            self.reply(200, b"late\n")
        else:
            self.reply(404, b"no such page\n")

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client gone before the reply
        pass


@pytest.fixture
def serve_http() -> Iterator[Callable[..., str]]:
    servers: list[QuietServer] = []

    def serve(tls: ssl.SSLContext | None = None) -> str:
        server = QuietServer(("127.0.0.1", 0), Handler)
        server.release = threading.Event()  # type: ignore[attr-defined]
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.release.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


@pytest.mark.slow
async def test_http_ok_with_status_and_text(serve_http) -> None:
    url = serve_http()
    obs = await check(
        HttpCheck(type="http", url=f"{url}/ok", contains="homelab"), clock=fixed_clock
    )
    assert (obs.node, obs.service, obs.check, obs.interval) == ("n1", "web", "http", 30)
    assert obs.outcome == "ok", obs.detail
    assert obs.facts == {"status": 200, "bytes": 14}
    assert obs.detail == "200 OK"
    assert obs.latency_ms is not None and obs.latency_ms >= 0
    assert obs.observed_at == NOW


@pytest.mark.slow
async def test_http_wrong_status_and_missing_text_fail(serve_http) -> None:
    url = serve_http()
    obs = await check(HttpCheck(type="http", url=f"{url}/status/503"))
    assert (obs.outcome, obs.facts["status"]) == ("fail", 503)
    assert obs.detail == "status 503 Service Unavailable, expected 200"

    obs = await check(HttpCheck(type="http", url=f"{url}/status/503", expect_status=503))
    assert obs.outcome == "ok"

    obs = await check(HttpCheck(type="http", url=f"{url}/ok", contains="grafana"))
    assert obs.outcome == "fail"
    assert obs.detail == "'grafana' not found in the body"


@pytest.mark.slow
async def test_http_does_not_follow_redirects(serve_http) -> None:
    url = serve_http()
    obs = await check(HttpCheck(type="http", url=f"{url}/redirect"))
    assert (obs.outcome, obs.facts["status"]) == ("fail", 302)
    obs = await check(HttpCheck(type="http", url=f"{url}/redirect", expect_status=302))
    assert obs.outcome == "ok"


@pytest.mark.slow
async def test_http_reads_at_most_64_kib(serve_http) -> None:
    url = serve_http()
    obs = await check(HttpCheck(type="http", url=f"{url}/big", contains="needle"))
    assert obs.outcome == "fail"
    assert obs.facts["bytes"] == 64 * 1024
    assert "first 64 KiB" in obs.detail


@pytest.mark.slow
async def test_http_timeout_is_bounded(serve_http) -> None:
    url = serve_http()
    started = time.monotonic()
    obs = await check(HttpCheck(type="http", url=f"{url}/slow", timeout=0.3))
    assert obs.outcome == "timeout"
    assert obs.detail == "no answer within 0.3 s"
    assert obs.latency_ms is None
    assert time.monotonic() - started < 1.5


@pytest.mark.slow
async def test_http_refused_is_a_fail(closed_port: int) -> None:
    obs = await check(HttpCheck(type="http", url=f"http://127.0.0.1:{closed_port}/"))
    assert obs.outcome == "fail"
    assert obs.detail == "ConnectError: connection refused"


@pytest.mark.slow
async def test_https_verifies_unless_told_not_to(serve_http, cert, trust) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*cert)
    url = serve_http(tls)
    obs = await check(HttpCheck(type="http", url=f"{url}/ok"))
    assert obs.outcome == "fail"
    assert obs.detail == "ConnectError: certificate not trusted: self-signed certificate"
    obs = await check(HttpCheck(type="http", url=f"{url}/ok", verify_tls=False))
    assert (obs.outcome, obs.facts["status"]) == ("ok", 200)
    trust(cert)  # the system's trust store, not certifi's
    obs = await check(HttpCheck(type="http", url=f"{url}/ok"))
    assert (obs.outcome, obs.facts["status"]) == ("ok", 200)


# -- tcp -----------------------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound (so nobody else takes it) but not listening: connections are refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.slow
async def test_tcp_open_and_closed(closed_port: int) -> None:
    accepted: list[bool] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        obs = await check(TcpCheck(type="tcp", port=port), service=None)
        assert (obs.outcome, obs.check, obs.service) == ("ok", f"tcp-{port}", None)
        assert obs.detail == f"127.0.0.1:{port}: connected"
        obs = await check(TcpCheck(type="tcp", host="localhost", port=port, name="db"))
        assert (obs.outcome, obs.check) == ("ok", "db")
    finally:
        server.close()
        await server.wait_closed()
    assert accepted

    obs = await check(TcpCheck(type="tcp", port=closed_port))
    assert obs.outcome == "fail"
    assert obs.detail == f"127.0.0.1:{closed_port}: connection refused"


@pytest.mark.slow
async def test_tcp_unknown_host_is_a_fail() -> None:
    obs = await check(TcpCheck(type="tcp", host="no-such-host.invalid", port=80, timeout=2))
    assert obs.outcome in ("fail", "timeout")


# -- tls -----------------------------------------------------------------------------------------


def make_cert(directory: Path, name: str, *, days_left: float) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost, CN probe.test, expiring in
    ``days_left`` days (negative: expired)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert, key = directory / f"{name}.pem", directory / f"{name}.key"

    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe.test")])
    now = dt.datetime.now(dt.UTC)
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=days_left))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert), str(key)


Cert = tuple[str, str]  # certificate file, key file


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> Cert:
    """Expires in 2 days."""
    return make_cert(tmp_path_factory.mktemp("certs"), "soon", days_left=2)


@pytest.fixture(scope="module")
def expired_cert(tmp_path_factory) -> Cert:
    """Expired 3 days ago."""
    return make_cert(tmp_path_factory.mktemp("certs"), "expired", days_left=-3)


@pytest.fixture
async def tls_server() -> AsyncIterator[Callable[..., object]]:
    servers: list[asyncio.Server] = []

    async def serve(cert: Cert | None, mode: str = "tls") -> int:
        context = None
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*cert)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                if mode == "plain":
                    writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                    await writer.drain()
                else:
                    await asyncio.wait_for(reader.read(), 3)
            except (OSError, TimeoutError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield serve
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def trust(monkeypatch) -> Callable[[Cert], None]:
    """Makes the system trust store this self-signed certificate alone (OpenSSL reads
    SSL_CERT_FILE)."""

    def trust(cert: Cert) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", cert[0])

    return trust


@pytest.mark.slow
async def test_tls_trusted_certificate_days_left(tls_server, trust, cert) -> None:
    trust(cert)
    port = await tls_server(cert)
    obs = await check(TlsCheck(type="tls", port=port, warn_days=1))
    assert obs.outcome == "ok", obs.detail
    assert obs.check == f"tls-{port}"
    assert obs.facts["days_left"] in (1.9, 2.0)
    assert obs.facts["verified"] is True
    assert obs.facts["subject"] == "probe.test"
    assert obs.facts["protocol"] in ("TLSv1.2", "TLSv1.3")
    not_after = dt.datetime.fromisoformat(str(obs.facts["not_after"]))
    assert abs(not_after.timestamp() - (time.time() + 2 * 86400)) < 120

    obs = await check(TlsCheck(type="tls", port=port))  # warn_days 14
    assert obs.outcome == "fail"
    assert obs.detail.startswith("certificate expires in 2 days (warning at 14)") or (
        "expires in 1.9 days" in obs.detail
    )

    obs = await check(
        TlsCheck(type="tls", host="127.0.0.1", server_name="localhost", port=port, warn_days=1)
    )
    assert obs.outcome == "ok", obs.detail


@pytest.mark.slow
async def test_tls_untrusted_still_reports_the_expiry(tls_server, cert) -> None:
    port = await tls_server(cert)
    obs = await check(TlsCheck(type="tls", port=port, warn_days=1))
    assert obs.outcome == "fail"
    assert obs.detail.startswith("certificate not trusted: self")  # self-signed certificate
    assert obs.facts["verified"] is False
    assert obs.facts["days_left"] in (1.9, 2.0)
    assert obs.facts["subject"] == "probe.test"


@pytest.mark.slow
async def test_tls_expired(tls_server, trust, expired_cert) -> None:
    trust(expired_cert)
    port = await tls_server(expired_cert)
    obs = await check(TlsCheck(type="tls", port=port, warn_days=0))
    assert obs.outcome == "fail"
    assert "expired" in obs.detail
    assert obs.facts["days_left"] in (-3.0, -3.1, -2.9)


@pytest.mark.slow
async def test_tls_wrong_name(tls_server, trust, cert) -> None:
    trust(cert)
    port = await tls_server(cert)
    obs = await check(TlsCheck(type="tls", port=port, server_name="grafana.example", warn_days=0))
    assert obs.outcome == "fail"
    assert "grafana.example" in obs.detail
    assert obs.facts["days_left"] in (1.9, 2.0)


@pytest.mark.slow
async def test_tls_not_tls_refused_and_silent(tls_server, closed_port) -> None:
    port = await tls_server(None, mode="plain")
    obs = await check(TlsCheck(type="tls", port=port))
    assert obs.outcome == "fail"
    assert "TLS handshake failed" in obs.detail

    obs = await check(TlsCheck(type="tls", port=closed_port))
    assert obs.outcome == "fail"
    assert obs.detail.endswith("connection refused")

    port = await tls_server(None, mode="silent")  # accepts, never says a word
    started = time.monotonic()
    obs = await check(TlsCheck(type="tls", port=port, timeout=0.3))
    assert obs.outcome == "timeout"
    assert time.monotonic() - started < 1.5


# -- disk ----------------------------------------------------------------------------------------


async def test_disk_usage(tmp_path: Path) -> None:
    obs = await check(
        DiskCheck(type="disk", path=str(tmp_path), max_used_percent=100), service=None
    )
    assert obs.outcome == "ok", obs.detail
    assert obs.check.startswith("disk-")
    usage = shutil.disk_usage(tmp_path)
    assert abs(obs.facts["used_percent"] - usage.used * 100 / (usage.used + usage.free)) < 1
    assert isinstance(obs.facts["free_gb"], float)

    obs = await check(DiskCheck(type="disk", path=str(tmp_path), max_used_percent=0.0001))
    assert obs.outcome == "fail"
    assert "limit 0.0001%" in obs.detail

    obs = await check(DiskCheck(type="disk", path=str(tmp_path / "nope")))
    assert obs.outcome == "error"
    assert obs.detail.endswith("no such file or directory")


async def test_disk_blocked_mount_times_out_once_and_does_not_pile_up(
    tmp_path: Path, monkeypatch
) -> None:
    release, calls = threading.Event(), []
    real = shutil.disk_usage

    def blocked(path):
        calls.append(path)
        release.wait(5)
        return real(path)

    monkeypatch.setattr(probes.disk.shutil, "disk_usage", blocked)
    monkeypatch.setattr(probes.disk, "DISK_TIMEOUT", 0.2)
    disk = DiskCheck(type="disk", path=str(tmp_path))
    started = time.monotonic()
    first, second = await asyncio.gather(check(disk), check(disk))
    assert (first.outcome, second.outcome) == ("timeout", "timeout")
    assert "dead mount" in first.detail
    third = await check(disk)  # still blocked: answered at once, no new thread
    assert third.outcome == "timeout"
    assert time.monotonic() - started < 1
    assert len(calls) == 1
    release.set()
    for _ in range(100):
        obs = await check(disk)
        if obs.outcome != "timeout":
            break
        await asyncio.sleep(0.02)
    assert obs.outcome in ("ok", "fail")
    assert len(calls) == 2


# -- command checks ------------------------------------------------------------------------------


@pytest.mark.slow
async def test_command_exit_codes_and_output() -> None:
    obs = await check(CommandCheck(type="command", argv=py("print('one'); print('all good')")))
    assert (obs.outcome, obs.detail, obs.facts) == ("ok", "all good", {"exit_code": 0})
    assert obs.check == "command"

    code = "import sys; print('out'); sys.stderr.write('disk on fire\\n'); sys.exit(3)"
    obs = await check(CommandCheck(type="command", name="smart", argv=py(code)))
    assert (obs.outcome, obs.detail, obs.facts, obs.check) == (
        "fail",
        "disk on fire",
        {"exit_code": 3},
        "smart",
    )

    obs = await check(CommandCheck(type="command", argv=py("import os; os.abort()")))
    assert (obs.outcome, obs.detail) == ("fail", "killed by SIGABRT")

    obs = await check(CommandCheck(type="command", argv=["/nonexistent/check-thing"]))
    assert (obs.outcome, obs.detail) == (
        "error",
        "/nonexistent/check-thing: no such file or directory",
    )


@pytest.mark.slow
async def test_command_output_is_capped_and_the_last_line_kept() -> None:
    code = "import sys; sys.stdout.write('x' * 3_000_000 + '\\nthe end\\n')"
    started = time.monotonic()
    obs = await check(CommandCheck(type="command", argv=py(code), timeout=5))
    assert (obs.outcome, obs.detail) == ("ok", "the end")
    assert time.monotonic() - started < 3


@pytest.mark.slow
async def test_command_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = f"""
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        with open({str(pids)!r}, "w") as f:
            f.write(f"{{os.getpid()}} {{child}}")
        print("started", flush=True)
        time.sleep(60)
    """
    started = time.monotonic()
    obs = await check(CommandCheck(type="command", argv=py(code), timeout=1.0))
    elapsed = time.monotonic() - started
    assert obs.outcome == "timeout"
    assert obs.detail.endswith("killed after 1 s")
    assert 1.0 <= elapsed < 3
    parent, grandchild = map(int, pids.read_text().split())
    wait_gone(parent, grandchild)


@pytest.mark.slow
async def test_command_leftovers_do_not_hold_it_up(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = f"""
        import os, time
        child = os.fork()
        if child == 0:  # keeps stdout open for a minute
            time.sleep(60)
            os._exit(0)
        open({str(pids)!r}, "w").write(str(child))
        print("done")
    """
    started = time.monotonic()
    obs = await check(CommandCheck(type="command", argv=py(code), timeout=5))
    assert (obs.outcome, obs.detail) == ("ok", "done")
    assert time.monotonic() - started < 2
    wait_gone(int(pids.read_text()))


# -- service state through stand-in CLIs ---------------------------------------------------------


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", first_on_path(path))
    return path


@pytest.fixture
def docker(bin_dir: Path) -> StandIn:
    return StandIn(bin_dir, "docker")


@pytest.fixture
def systemctl(bin_dir: Path) -> StandIn:
    return StandIn(bin_dir, "systemctl")


async def state(name: str, service, **kwargs) -> Observation | None:
    return await probe_state(
        name, service, node_name="n1", interval=15, clock=fixed_clock, **kwargs
    )


def container(**kwargs) -> ContainerService:
    return ContainerService(kind="container", node="n1", **kwargs)


NGINX = [
    {
        "Id": "3f4e8b1c2d3a9e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f",
        "Created": "2026-11-20T09:12:33.123456789Z",
        "Path": "/docker-entrypoint.sh",
        "Args": ["nginx", "-g", "daemon off;"],
        "State": {
            "Status": "running",
            "Running": True,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": 4242,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": "2026-11-20T09:12:34.567890123Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
        },
        "Image": "sha256:4ff102c5d78d254a6f0da062b3cf39eaf07f01eec0927fd21e219d0af8bc0591",
        "Name": "/web",
        "RestartCount": 0,
        "Driver": "overlay2",
        "Config": {"Hostname": "3f4e8b1c2d3a", "Image": "nginx:1.27-alpine", "Labels": {}},
    }
]


@pytest.mark.slow
async def test_container_running_healthy(docker: StandIn) -> None:
    docker.plan(stdout=json.dumps(NGINX, indent=4) + "\n")
    obs = await state("web", container())
    assert docker.argv() == [["inspect", "--type", "container", "--", "web"]]
    assert obs is not None
    assert (obs.node, obs.service, obs.check, obs.interval, obs.observed_at) == (
        "n1",
        "web",
        "state",
        15,
        NOW,
    )
    assert obs.outcome == "ok"
    assert obs.detail == "running (healthy), nginx:1.27-alpine"
    assert obs.facts == {
        "state": "running",
        "health": "healthy",
        "image": "nginx:1.27-alpine",
        "image_id": NGINX[0]["Image"],
        "started_at": "2026-11-20T09:12:34.567890123Z",
        "exit_code": 0,
        "restart_count": 0,
    }

    exited = json.loads(json.dumps(NGINX))
    exited[0]["State"].update(Status="exited", Running=False, ExitCode=1)
    del exited[0]["State"]["Health"]
    docker.plan(stdout=json.dumps(exited))
    obs = await state("web", container(container="nginx-main"))
    assert docker.argv()[-1] == ["inspect", "--type", "container", "--", "nginx-main"]
    assert obs is not None
    assert (obs.outcome, obs.facts["state"], obs.facts["health"]) == ("fail", "exited", None)
    assert obs.detail == "exited (code 1), nginx:1.27-alpine"


@pytest.mark.slow
async def test_container_missing_is_a_fail_not_an_error(docker: StandIn) -> None:
    docker.plan(stdout="[]\n", stderr="Error: No such container: web\n", exit=1)
    obs = await state("web", container())
    assert obs is not None
    assert (obs.outcome, obs.facts, obs.detail) == (
        "fail",
        {"state": "missing"},
        "no container named web",
    )


@pytest.mark.slow
async def test_docker_errors(docker: StandIn) -> None:
    daemon_down = (
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
        " Is the docker daemon running?\n"
    )
    docker.plan(stdout="[]\n", stderr=daemon_down, exit=1)
    obs = await state("web", container())
    assert obs is not None
    assert obs.outcome == "error"
    assert obs.detail == "docker inspect exited 1: " + daemon_down.strip()
    assert obs.facts == {}

    docker.plan(stdout="<html>surprise</html>\n")
    obs = await state("web", container())
    assert obs is not None
    assert obs.outcome == "error"
    assert obs.detail.startswith("docker inspect: unreadable output (not JSON")


@pytest.mark.slow
async def test_docker_not_installed(tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    obs = await state("web", container())
    assert obs is not None
    assert (obs.outcome, obs.detail) == ("error", "docker: not installed")
    compose = ComposeService(kind="compose", node="n1", project="web")
    obs = await state("web", compose)
    assert obs is not None
    assert (obs.outcome, obs.detail) == ("error", "docker: not installed")
    obs = await state("nginx", SystemdService(kind="systemd", node="n1", unit="nginx.service"))
    assert obs is not None
    assert (obs.outcome, obs.detail) == ("error", "systemctl: not installed")


@pytest.mark.slow
async def test_hung_cli_times_out_and_is_killed(docker: StandIn) -> None:
    docker.plan(sleep=60)
    started = time.monotonic()
    obs = await state("web", container(), timeout=0.5)
    assert time.monotonic() - started < 2
    assert obs is not None
    assert (obs.outcome, obs.detail) == ("timeout", "docker inspect: no answer within 0.5 s")
    (call,) = docker.calls()
    wait_gone(call["pid"])


@pytest.mark.slow
async def test_state_probe_uses_the_module_default_timeout(docker: StandIn, monkeypatch) -> None:
    monkeypatch.setattr(probes, "STATE_TIMEOUT", 0.4)
    docker.plan(sleep=60)
    obs = await state("web", container())
    assert obs is not None
    assert (obs.outcome, obs.detail) == ("timeout", "docker inspect: no answer within 0.4 s")
    wait_gone(docker.calls()[0]["pid"])


COMPOSE_ARRAY = json.dumps(
    [
        {
            "ID": "9a8b7c6d5e4f",
            "Name": "media-db-1",
            "Image": "postgres:16",
            "Command": "docker-entrypoint.sh postgres",
            "Project": "media",
            "Service": "db",
            "State": "exited",
            "Health": "",
            "ExitCode": 1,
            "Publishers": None,
        },
        {
            "ID": "3f4e8b1c2d3a",
            "Name": "media-jellyfin-1",
            "Image": "jellyfin/jellyfin:10.9.11",
            "Command": "/jellyfin/jellyfin",
            "Project": "media",
            "Service": "jellyfin",
            "State": "running",
            "Health": "unhealthy",
            "ExitCode": 0,
            "Publishers": [],
        },
    ]
)


@pytest.mark.slow
async def test_compose_json_lines(docker: StandIn) -> None:
    docker.plan(stdout=COMPOSE_LINES + "\n")
    obs = await state("web", ComposeService(kind="compose", node="n1", project="web"))
    assert docker.argv() == [
        ["compose", "--project-name", "web", "ps", "--all", "--format", "json"]
    ]
    assert obs is not None
    assert obs.outcome == "ok"
    assert obs.detail == "2/2 running; health: healthy"
    assert obs.facts == {
        "state": "running",
        "running": 2,
        "total": 2,
        "states": "running",
        "health": "healthy",
        "image": "nginx:1.27-alpine",
        "down": "",
    }


@pytest.mark.slow
async def test_compose_array_with_a_directory(docker: StandIn) -> None:
    docker.plan(stdout=COMPOSE_ARRAY + "\n")
    service = ComposeService(
        kind="compose",
        node="n1",
        project="media",
        directory="/srv/media",
        image="jellyfin/jellyfin:10.10.0",
    )
    obs = await state("media", service)
    assert docker.argv() == [
        [
            "compose",
            "--project-name",
            "media",
            "--project-directory",
            "/srv/media",
            "ps",
            "--all",
            "--format",
            "json",
        ]
    ]
    assert obs is not None
    assert obs.outcome == "fail"
    assert obs.facts["image"] == "jellyfin/jellyfin:10.9.11"
    assert (obs.facts["running"], obs.facts["total"], obs.facts["health"]) == (1, 2, "unhealthy")
    assert obs.detail == "1/2 running; not running: db=exited; health: unhealthy"


@pytest.mark.slow
async def test_compose_without_containers_is_missing(docker: StandIn) -> None:
    docker.plan(stdout="")
    obs = await state("web", ComposeService(kind="compose", node="n1", project="web"))
    assert obs is not None
    assert (obs.outcome, obs.facts["state"], obs.facts["total"]) == ("fail", "missing", 0)
    assert obs.detail == "no containers in project web"

    docker.plan(stderr="docker: 'compose' is not a docker command.\n", exit=1)
    obs = await state("web", ComposeService(kind="compose", node="n1", project="web"))
    assert obs is not None
    assert obs.outcome == "error"
    assert obs.detail == "docker compose ps exited 1: docker: 'compose' is not a docker command."


SYSTEMCTL = [
    {
        "unit": "nginx.service",
        "load": "loaded",
        "active": "active",
        "sub": "running",
        "description": "A high performance web server and a reverse proxy server",
    }
]


@pytest.mark.slow
async def test_systemd_unit_states(systemctl: StandIn) -> None:
    unit = SystemdService(kind="systemd", node="n1", unit="nginx.service")
    systemctl.plan(stdout=json.dumps(SYSTEMCTL) + "\n")
    obs = await state("nginx", unit)
    assert systemctl.argv() == [
        ["list-units", "--all", "--output=json", "--no-pager", "--", "nginx.service"]
    ]
    assert obs is not None
    assert (obs.outcome, obs.detail) == ("ok", "nginx.service: active (running)")
    assert obs.facts == {"state": "active", "sub": "running", "load": "loaded"}

    failed = [dict(SYSTEMCTL[0], active="failed", sub="failed")]
    systemctl.plan(stdout=json.dumps(failed))
    obs = await state("nginx", unit)
    assert obs is not None
    assert (obs.outcome, obs.facts["state"]) == ("fail", "failed")

    systemctl.plan(stdout="[]\n")
    obs = await state("nginx", unit)
    assert obs is not None
    assert (obs.outcome, obs.facts["state"], obs.detail) == (
        "fail",
        "not-found",
        "nginx.service: no such unit",
    )

    systemctl.plan(stdout="UNIT LOAD ACTIVE SUB DESCRIPTION\n")
    obs = await state("nginx", unit)
    assert obs is not None
    assert obs.outcome == "error"
    assert obs.detail.startswith("systemctl list-units: unreadable output")

    systemctl.plan(stderr="Failed to connect to bus: No such file or directory\n", exit=1)
    obs = await state("nginx", unit)
    assert obs is not None
    assert (obs.outcome, obs.detail) == (
        "error",
        "systemctl list-units exited 1: Failed to connect to bus: No such file or directory",
    )


@pytest.mark.slow
async def test_command_service_status(tmp_path: Path) -> None:
    def service(status: list[str] | None) -> CommandService:
        return CommandService(
            kind="command",
            node="n1",
            start=["true"],
            stop=["true"],
            status=status,
            checks=[] if status else [TcpCheck(type="tcp", port=1)],
        )

    obs = await state("app", service(py("print('pid 42 up')")))
    assert obs is not None
    assert (obs.outcome, obs.detail, obs.facts) == (
        "ok",
        "pid 42 up",
        {"state": "running", "exit_code": 0},
    )
    obs = await state("app", service(py("import sys; sys.exit(3)")))
    assert obs is not None
    assert (obs.outcome, obs.facts) == ("fail", {"state": "stopped", "exit_code": 3})
    obs = await state("app", service(py("import time; time.sleep(60)")), timeout=0.3)
    assert obs is not None
    assert obs.outcome == "timeout"
    assert await state("app", service(None)) is None


async def test_endpoints_have_no_state_probe() -> None:
    endpoint = EndpointService(
        kind="http", node="n1", checks=[HttpCheck(type="http", url="http://nas/")]
    )
    assert await state("nas", endpoint) is None
