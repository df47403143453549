"""Probes: one check, or one service's own state, observed once and returned as an Observation.

``run_check`` runs an inventory check (http, tcp, tls, disk, command); ``probe_state`` asks
the service's manager (docker, docker compose, systemctl, a status command) for its state,
under the check id ``state``. Neither raises for anything the probed world does: a refused
connection, a missing CLI, garbage output or a hang each become an Observation with outcome
``fail``, ``error`` or ``timeout`` and a one-line detail. Every network call and subprocess
is bounded in time, every subprocess runs in its own process group that is killed on timeout,
and everything read is capped at 64 KiB. Cancellation is not swallowed.

Parsing is kept apart from I/O (``parse_docker_inspect``, ``parse_compose_ps``,
``parse_systemctl_units``, ``parse_certificate``) so it is tested without processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from actors.cli_tools import OUTPUT_CAP, CliResult, first_line, last_line, run_cli
from actors.inventory import (
    Check,
    CommandCheck,
    CommandService,
    ComposeService,
    ContainerService,
    DiskCheck,
    HttpCheck,
    Service,
    SystemdService,
    TcpCheck,
    TlsCheck,
    check_id,
)
from actors.observations import FactValue, Observation, Outcome, cut

STATE_TIMEOUT = 10.0  # seconds, for state probes (the services have no timeout of their own)
DISK_TIMEOUT = 10.0  # seconds, for disk checks (DiskCheck has no timeout)
BODY_CAP = 64 * 1024  # bytes of an HTTP body read for `contains`
CLOSE_TIMEOUT = 1.0  # seconds for a polite close before the connection is aborted
USER_AGENT = "homelab-probe"
STATE_CHECK = "state"
GIB = 1024**3

Facts = dict[str, FactValue]
Clock = Callable[[], float]


@dataclasses.dataclass
class _Result:
    outcome: Outcome
    detail: str = ""
    facts: Facts = dataclasses.field(default_factory=dict)

    @property
    def measured(self) -> bool:
        """ok and fail carry a latency; an error or a timeout measured nothing."""
        return self.outcome in ("ok", "fail")


# -- the two entry points ------------------------------------------------------------------------


async def run_check(
    check: Check,
    *,
    node_name: str,
    node_address: str,
    service: str | None,
    interval: float,
    clock: Clock = time.time,
) -> Observation:
    """Runs one check once. ``service`` is None for a node's own checks."""
    started = time.monotonic()
    try:
        result = await _dispatch_check(check, node_address, clock)
    except Exception as exc:  # a bug here must not take the agent down
        result = _Result("error", f"probe failed: {type(exc).__name__}: {exc}")
    return _observation(
        result,
        node=node_name,
        service=service,
        check=check_id(check),
        interval=interval,
        clock=clock,
        started=started,
    )


async def probe_state(
    name: str,
    service: Service,
    *,
    node_name: str,
    interval: float,
    clock: Clock = time.time,
    timeout: float | None = None,
) -> Observation | None:
    """The service's own state (check id ``state``); None for kinds that have none (http and
    tcp endpoints, a command service without ``status``). ``timeout`` defaults to
    ``STATE_TIMEOUT``."""
    limit = STATE_TIMEOUT if timeout is None else timeout
    probe: Awaitable[_Result]
    match service:
        case ContainerService():
            probe = _container_state(service.container or name, limit)
        case ComposeService():
            probe = _compose_state(service, limit)
        case SystemdService():
            probe = _systemd_state(service.unit, limit)
        case CommandService() if service.status:
            probe = _command_state(service.status, limit)
        case _:
            return None
    started = time.monotonic()
    try:
        result = await probe
    except Exception as exc:
        result = _Result("error", f"probe failed: {type(exc).__name__}: {exc}")
    return _observation(
        result,
        node=node_name,
        service=name,
        check=STATE_CHECK,
        interval=interval,
        clock=clock,
        started=started,
    )


_CHECK_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def _observation(
    result: _Result,
    *,
    node: str,
    service: str | None,
    check: str,
    interval: float,
    clock: Clock,
    started: float,
) -> Observation:
    facts: Facts = {}
    for key, value in list(result.facts.items())[:32]:
        if not isinstance(value, str | int | float | bool | None):
            value = str(value)
        facts[str(key)[:64]] = cut(value, 200) if isinstance(value, str) else value
    latency = round((time.monotonic() - started) * 1000, 1) if result.measured else None
    return Observation(
        node=node,
        service=service,
        check=check,
        outcome=result.outcome,
        detail=cut(" ".join(result.detail.split())),
        latency_ms=latency,
        facts=facts,
        interval=interval,
        observed_at=clock(),
    )


async def _dispatch_check(check: Check, address: str, clock: Clock) -> _Result:
    match check:
        case HttpCheck():
            return await _http(check)
        case TcpCheck():
            return await _tcp(check, address)
        case TlsCheck():
            return await _tls(check, address, clock)
        case DiskCheck():
            return await _disk(check)
        case CommandCheck():
            return await _command(check)
    return _Result("error", f"unknown check type {type(check).__name__}")


def _reason(exc: BaseException) -> str:
    """A short reason: 'connection refused', not '[Errno 111] Connect call failed (...)'.
    Looks through the causes too (httpx wraps the OSError that says what happened)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate not trusted: {seen.verify_message or seen.reason}"
        if isinstance(seen, ssl.SSLError):  # its errno is OpenSSL's, not the system's
            return f"TLS: {seen.reason or first_line(str(seen))}"
        if isinstance(seen, socket.gaierror) and seen.strerror:
            return _lower_first(seen.strerror)
        if isinstance(seen, OSError) and seen.errno and seen.errno > 0:
            return _lower_first(os.strerror(seen.errno))
        seen = seen.__cause__ or seen.__context__
    text = first_line(str(exc))
    return text if text else type(exc).__name__


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _trust_store() -> ssl.SSLContext:
    """The system's trust store (where a homelab's own CA goes; SSL_CERT_FILE and
    SSL_CERT_DIR apply), loaded once an hour: loading it costs tens of milliseconds."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return _load_trust_store(key, int(time.monotonic() // 3600))


@functools.lru_cache(maxsize=4)
def _load_trust_store(env: tuple[str | None, str | None], hour: int) -> ssl.SSLContext:
    return ssl.create_default_context()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except (TimeoutError, OSError, ssl.SSLError):
        writer.transport.abort()


# -- http ----------------------------------------------------------------------------------------


async def _http(check: HttpCheck) -> _Result:
    # The system's trust store (a homelab's own CA is there), not certifi's; no proxies nor
    # .netrc from the environment: the probe talks to the endpoint itself.
    https = check.url.lower().startswith("https:")
    verify: ssl.SSLContext | bool = _trust_store() if check.verify_tls and https else False
    try:
        async with asyncio.timeout(check.timeout):
            async with httpx.AsyncClient(
                timeout=check.timeout,
                follow_redirects=False,
                verify=verify,
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
            ) as client:
                async with client.stream("GET", check.url) as response:
                    body, truncated = bytearray(), False
                    async for chunk in response.aiter_bytes():
                        room = BODY_CAP - len(body)
                        if len(chunk) > room:
                            body += chunk[:room]
                            truncated = True
                            break
                        body += chunk
                    status, reason = response.status_code, response.reason_phrase
                    encoding = response.encoding or "utf-8"
    except (TimeoutError, httpx.TimeoutException):
        return _Result("timeout", f"no answer within {check.timeout:g} s")
    except httpx.TransportError as exc:  # refused, reset, TLS, protocol: the endpoint's fault
        return _Result("fail", f"{type(exc).__name__}: {_reason(exc)}")
    except httpx.HTTPError as exc:  # a URL httpx cannot use
        return _Result("error", f"{type(exc).__name__}: {_reason(exc)}")
    facts: Facts = {"status": status, "bytes": len(body)}
    if status != check.expect_status:
        return _Result("fail", f"status {status} {reason}, expected {check.expect_status}", facts)
    if check.contains is not None:
        try:
            text = body.decode(encoding, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        if check.contains not in text:
            where = f"the first {BODY_CAP // 1024} KiB of the body" if truncated else "the body"
            return _Result("fail", f"{check.contains!r} not found in {where}", facts)
    return _Result("ok", f"{status} {reason}".strip(), facts)


# -- tcp -----------------------------------------------------------------------------------------


async def _tcp(check: TcpCheck, address: str) -> _Result:
    host = check.host or address
    try:
        async with asyncio.timeout(check.timeout):
            _, writer = await asyncio.open_connection(host, check.port)
            await _close(writer)
    except TimeoutError:
        return _Result("timeout", f"{host}:{check.port}: no answer within {check.timeout:g} s")
    except OSError as exc:
        return _Result("fail", f"{host}:{check.port}: {_reason(exc)}")
    return _Result("ok", f"{host}:{check.port}: connected")


# -- tls -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Certificate:
    not_after: dt.datetime
    subject_cn: str | None


async def _tls(check: TlsCheck, address: str, clock: Clock) -> _Result:
    host = check.host or address
    sni = check.server_name or host
    verify_error: str | None = None
    try:
        async with asyncio.timeout(check.timeout):
            try:
                der, protocol = await _peer_certificate(
                    host, check.port, _trust_store(), sni, check.timeout
                )
            except ssl.SSLCertVerificationError as exc:
                verify_error = exc.verify_message or _reason(exc)
                unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                unverified.check_hostname = False
                unverified.verify_mode = ssl.CERT_NONE
                der, protocol = await _peer_certificate(
                    host, check.port, unverified, sni, check.timeout
                )
    except TimeoutError:
        return _Result("timeout", f"{host}:{check.port}: no answer within {check.timeout:g} s")
    except ssl.SSLError as exc:
        return _Result("fail", f"{host}:{check.port}: TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return _Result("fail", f"{host}:{check.port}: {_reason(exc)}")
    if not der:
        return _Result("error", f"{host}:{check.port}: the server sent no certificate")
    try:
        cert = parse_certificate(der)
    except ValueError as exc:
        return _Result("error", f"{host}:{check.port}: unreadable certificate: {exc}")
    days_left = round((cert.not_after.timestamp() - clock()) / 86400, 1)
    facts: Facts = {
        "days_left": days_left,
        "not_after": cert.not_after.isoformat(),
        "subject": cert.subject_cn,
        "verified": verify_error is None,
        "protocol": protocol,
    }
    expiry = (
        f"expired {-days_left:g} days ago" if days_left < 0 else f"expires in {days_left:g} days"
    )
    if verify_error is not None:
        return _Result("fail", f"certificate not trusted: {verify_error}; {expiry}", facts)
    if days_left < check.warn_days:
        return _Result("fail", f"certificate {expiry} (warning at {check.warn_days})", facts)
    return _Result("ok", f"certificate {expiry}", facts)


async def _peer_certificate(
    host: str, port: int, context: ssl.SSLContext, sni: str, timeout: float
) -> tuple[bytes | None, str | None]:
    _, writer = await asyncio.open_connection(
        host, port, ssl=context, server_hostname=sni, ssl_handshake_timeout=timeout
    )
    try:
        tls = writer.get_extra_info("ssl_object")
        if tls is None:
            return None, None
        return tls.getpeercert(binary_form=True), tls.version()
    finally:
        await _close(writer)


_CN_OID = bytes.fromhex("550403")  # 2.5.4.3, commonName


def parse_certificate(der: bytes) -> Certificate:
    """notAfter and the subject's CN from a DER X.509 certificate (no dependency needed:
    ``ssl`` gives the parsed form only for verified certificates). ValueError if malformed."""
    try:
        _, start, _ = _der(der, 0, 0x30)  # Certificate
        _, pos, tbs_end = _der(der, start, 0x30)  # TBSCertificate
        tag, _, end = _der(der, pos)
        if tag == 0xA0:  # [0] version
            pos = end
            tag, _, end = _der(der, pos)
        pos = end  # serialNumber
        _, _, pos = _der(der, pos, 0x30)  # signature algorithm
        _, _, pos = _der(der, pos, 0x30)  # issuer
        _, validity, pos = _der(der, pos, 0x30)
        _, _, after = _der(der, validity)  # notBefore
        tag, start, end = _der(der, after)  # notAfter
        not_after = _asn1_time(tag, der[start:end])
        _, subject, subject_end = _der(der, pos, 0x30)
        if subject_end > tbs_end:
            raise ValueError("subject runs past the certificate")
        return Certificate(not_after, _common_name(der, subject, subject_end))
    except IndexError as exc:
        raise ValueError("truncated DER") from exc


def _der(data: bytes, pos: int, expect: int | None = None) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    tag, length = data[pos], data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    if expect is not None and tag != expect:
        raise ValueError(f"DER tag {tag:#x} where {expect:#x} was expected")
    return tag, start, end


def _asn1_time(tag: int, raw: bytes) -> dt.datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        parsed = dt.datetime.strptime(text, "%y%m%d%H%M%SZ")
        if parsed.year >= 2050:  # RFC 5280: YY >= 50 is 19YY
            parsed = parsed.replace(year=parsed.year - 100)
    elif tag == 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        parsed = dt.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise ValueError(f"DER tag {tag:#x} is not a time")
    return parsed.replace(tzinfo=dt.UTC)


def _common_name(der: bytes, pos: int, end: int) -> str | None:
    found = None
    while pos < end:  # SET OF AttributeTypeAndValue, per RDN
        _, set_pos, set_end = _der(der, pos, 0x31)
        while set_pos < set_end:
            _, attr, attr_end = _der(der, set_pos, 0x30)
            _, oid_start, oid_end = _der(der, attr, 0x06)
            tag, value_start, value_end = _der(der, oid_end)
            if der[oid_start:oid_end] == _CN_OID:
                value = der[value_start:value_end]
                found = value.decode("utf-16-be" if tag == 0x1E else "utf-8", errors="replace")
            set_pos = attr_end
        pos = set_end
    return found


# -- disk ----------------------------------------------------------------------------------------

# One thread per path at a time: a dead NFS mount blocks statvfs for ever, and each check
# starting a new thread would pile them up. Later checks of a blocked path wait for the same
# call, and report a timeout at once once it has been blocked for longer than DISK_TIMEOUT.
_disk_calls: dict[str, tuple[concurrent.futures.Future, float]] = {}
_disk_lock = threading.Lock()


def _disk_usage_call(path: str) -> tuple[concurrent.futures.Future, float]:
    with _disk_lock:
        current = _disk_calls.get(path)
        if current is not None and not current[0].done():
            return current
        future: concurrent.futures.Future = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(shutil.disk_usage(path))
            except BaseException as exc:
                future.set_exception(exc)

        _disk_calls[path] = (future, time.monotonic())
        threading.Thread(target=work, name=f"disk-usage {path}", daemon=True).start()
        return _disk_calls[path]


async def _disk(check: DiskCheck) -> _Result:
    future, since = _disk_usage_call(check.path)
    remaining = since + DISK_TIMEOUT - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        usage = await asyncio.wait_for(asyncio.wrap_future(future), remaining)
    except TimeoutError:
        return _Result(
            "timeout", f"{check.path}: no answer within {DISK_TIMEOUT:g} s (a dead mount?)"
        )
    except OSError as exc:
        return _Result("error", f"{check.path}: {_reason(exc)}")
    available = usage.used + usage.free  # what df counts: root's reserve is neither
    used_percent = round(usage.used * 100 / available, 1) if available else 0.0
    facts: Facts = {
        "used_percent": used_percent,
        "free_gb": round(usage.free / GIB, 2),
        "total_gb": round(usage.total / GIB, 2),
    }
    detail = f"{check.path}: {used_percent:g}% used, {usage.free / GIB:.1f} GiB free"
    if used_percent > check.max_used_percent:
        return _Result("fail", f"{detail} (limit {check.max_used_percent:g}%)", facts)
    return _Result("ok", detail, facts)


# -- commands ------------------------------------------------------------------------------------


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


async def _command(check: CommandCheck) -> _Result:
    program = check.argv[0]
    try:
        result = await run_cli(check.argv, timeout=check.timeout, keep="tail")
    except OSError as exc:
        return _Result("error", f"{program}: {_reason(exc)}")
    if result.timed_out:
        return _Result("timeout", f"{program}: killed after {check.timeout:g} s")
    code = result.returncode
    assert code is not None
    facts: Facts = {"exit_code": code}
    if code == 0:
        return _Result("ok", last_line(result.out) or last_line(result.err), facts)
    line = last_line(result.err) or last_line(result.out)
    if code < 0:
        return _Result(
            "fail", f"killed by {_signal_name(-code)}" + (f": {line}" * bool(line)), facts
        )
    return _Result("fail", line or f"exited {code}", facts)


# -- service state: docker, docker compose, systemctl, a status command --------------------------


async def _tool(argv: Sequence[str], label: str, timeout: float) -> CliResult | _Result:
    """Runs a manager's CLI; a _Result when it could not (missing, hung) or failed."""
    try:
        result = await run_cli(argv, timeout=timeout)
    except FileNotFoundError:
        return _Result("error", f"{argv[0]}: not installed")
    except OSError as exc:
        return _Result("error", f"{argv[0]}: {_reason(exc)}")
    if result.timed_out:
        return _Result("timeout", f"{label}: no answer within {timeout:g} s")
    return result


def _exited(label: str, result: CliResult) -> _Result:
    said = first_line(result.err) or first_line(result.out)
    return _Result("error", f"{label} exited {result.returncode}" + (f": {said}" * bool(said)))


def _unreadable(label: str, result: CliResult, exc: Exception) -> _Result:
    if result.truncated:
        return _Result("error", f"{label}: output larger than {OUTPUT_CAP // 1024} KiB")
    return _Result("error", f"{label}: unreadable output ({exc})")


def _safe_arg(value: str) -> str:
    """Names come validated from the inventory; this is the last line of defence."""
    if not value or value.startswith("-") or "\x00" in value:
        raise ValueError(f"refusing {value!r} as a command-line argument")
    return value


_NO_SUCH = re.compile(r"No such (container|object)", re.IGNORECASE)


async def _container_state(container: str, timeout: float) -> _Result:
    label = "docker inspect"
    argv = ["docker", "inspect", "--type", "container", "--", _safe_arg(container)]
    result = await _tool(argv, label, timeout)
    if isinstance(result, _Result):
        return result
    if result.returncode != 0:
        if _NO_SUCH.search(result.err):
            return _Result("fail", f"no container named {container}", {"state": "missing"})
        return _exited(label, result)
    try:
        facts = parse_docker_inspect(result.out)
    except ValueError as exc:
        return _unreadable(label, result, exc)
    if facts["state"] == "missing":
        return _Result("fail", f"no container named {container}", facts)
    ok = facts["state"] == "running" and facts["health"] in (None, "healthy")
    return _Result("ok" if ok else "fail", describe_container(facts), facts)


def parse_docker_inspect(text: str) -> Facts:
    """Facts from ``docker inspect --type container`` output (a JSON array of one object):
    state, health, image, image_id, started_at, exit_code, restart_count, and error and
    health_output when there is something to say. An empty array is state 'missing'."""
    data = _json(text)
    if not isinstance(data, list):
        raise ValueError("expected a JSON array")
    if not data:
        return {"state": "missing"}
    container = data[0]
    if not isinstance(container, dict) or not isinstance(container.get("State"), dict):
        raise ValueError("expected a container with a State")
    state = container["State"]
    health = state.get("Health") if isinstance(state.get("Health"), dict) else None
    config = container.get("Config") if isinstance(container.get("Config"), dict) else {}
    facts: Facts = {
        "state": _text(state.get("Status")) or "unknown",
        "health": _text(health.get("Status")) if health else None,
        "image": _text(config.get("Image")),
        "image_id": _text(container.get("Image")),
        "started_at": _text(state.get("StartedAt")),
        "exit_code": state.get("ExitCode") if isinstance(state.get("ExitCode"), int) else None,
        "restart_count": (
            container.get("RestartCount") if isinstance(container.get("RestartCount"), int) else 0
        ),
    }
    if _text(state.get("Error")):
        facts["error"] = cut(_text(state.get("Error")) or "", 200)
    log = health.get("Log") if health else None
    if facts["health"] not in (None, "healthy") and isinstance(log, list) and log:
        last = log[-1] if isinstance(log[-1], dict) else {}
        output = " ".join(str(last.get("Output") or "").split())
        if output:
            facts["health_output"] = cut(output, 200)
    return facts


def describe_container(facts: Facts) -> str:
    state, health = facts.get("state"), facts.get("health")
    text = f"{state}" + (f" ({health})" if health else "")
    if state in ("exited", "dead") and facts.get("exit_code") is not None:
        text = f"{state} (code {facts['exit_code']})"
    if facts.get("image"):
        text += f", {facts['image']}"
    for extra in ("error", "health_output"):
        if facts.get(extra):
            text += f": {facts[extra]}"
    return text


async def _compose_state(service: ComposeService, timeout: float) -> _Result:
    label = "docker compose ps"
    argv = ["docker", "compose", "--project-name", _safe_arg(service.project)]
    if service.directory:
        argv += ["--project-directory", _safe_arg(service.directory)]
    argv += ["ps", "--all", "--format", "json"]
    result = await _tool(argv, label, timeout)
    if isinstance(result, _Result):
        return result
    if result.returncode != 0:
        return _exited(label, result)
    try:
        facts = parse_compose_ps(
            result.out, main_service=service.project, expected_image=service.image
        )
    except ValueError as exc:
        return _unreadable(label, result, exc)
    if facts["state"] == "missing":
        return _Result("fail", f"no containers in project {service.project}", facts)
    ok = facts["running"] == facts["total"] and facts["health"] != "unhealthy"
    return _Result("ok" if ok else "fail", describe_compose(facts), facts)


_HEALTH_RANK = {"healthy": 1, "starting": 2, "unhealthy": 3}


def compose_entries(text: str) -> list[dict[str, Any]]:
    """The containers of ``docker compose ps --format json``: JSON lines (Compose 2.21 and
    later) or one JSON array (before); nothing at all, ``[]`` or ``null`` for none."""
    stripped = text.strip()
    if not stripped or stripped == "null":
        return []
    if stripped.startswith("["):
        entries = _json(stripped)
        if not isinstance(entries, list):
            raise ValueError("expected a JSON array")
    else:
        entries = [_json(line) for line in stripped.splitlines() if line.strip()]
    if not all(isinstance(entry, dict) for entry in entries):
        raise ValueError("expected one JSON object per container")
    return entries


def parse_compose_ps(
    text: str, *, main_service: str | None = None, expected_image: str | None = None
) -> Facts:
    """Facts for a compose project: state (running, partial, stopped or missing), running,
    total, states (the distinct states, sorted), health (the worst reported, or None),
    image, and down (``service=state`` of those not running).

    ``image`` is that of the project's main container: the one whose service is
    ``main_service``, else one running ``expected_image`` (exactly, then the same repository
    with another tag), else the first listed."""
    entries = compose_entries(text)
    states = [(_text(e.get("State")) or "unknown").lower() for e in entries]
    running = states.count("running")
    healths = [(_text(e.get("Health")) or "").lower() for e in entries]
    ranked = [h for h in healths if h]
    worst = max(ranked, key=lambda h: _HEALTH_RANK.get(h, 4)) if ranked else None
    down = [
        f"{_text(e.get('Service')) or _text(e.get('Name')) or '?'}={s}"
        for e, s in zip(entries, states, strict=True)
        if s != "running"
    ]
    total = len(entries)
    if total == 0:
        state = "missing"
    elif running == total:
        state = "running"
    else:
        state = "stopped" if running == 0 else "partial"
    main = _main_container(entries, main_service, expected_image)
    return {
        "state": state,
        "running": running,
        "total": total,
        "states": ",".join(sorted(set(states))),
        "health": worst,
        "image": _text(main.get("Image")) if main else None,
        "down": ",".join(down),
    }


def _main_container(
    entries: list[dict[str, Any]], service: str | None, image: str | None
) -> dict[str, Any] | None:
    if not entries:
        return None
    tests: list[Callable[[dict[str, Any]], bool]] = []
    if service:
        tests.append(lambda e: e.get("Service") == service)
    if image:
        tests.append(lambda e: e.get("Image") == image)
        tests.append(lambda e: _repository(_text(e.get("Image")) or "") == _repository(image))
    for test in tests:
        for entry in entries:
            if test(entry):
                return entry
    return entries[0]


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def describe_compose(facts: Facts) -> str:
    text = f"{facts['running']}/{facts['total']} running"
    if facts.get("down"):
        text += f"; not running: {facts['down']}"
    if facts.get("health"):
        text += f"; health: {facts['health']}"
    return text


async def _systemd_state(unit: str, timeout: float) -> _Result:
    label = "systemctl list-units"
    argv = [
        "systemctl",
        "list-units",
        "--all",
        "--output=json",
        "--no-pager",
        "--",
        _safe_arg(unit),
    ]
    result = await _tool(argv, label, timeout)
    if isinstance(result, _Result):
        return result
    if result.returncode != 0:
        return _exited(label, result)
    try:
        facts = parse_systemctl_units(result.out, unit)
    except ValueError as exc:
        return _unreadable(label, result, exc)
    if facts["state"] == "not-found":
        return _Result("fail", f"{unit}: no such unit", facts)
    ok = facts["state"] == "active"
    text = f"{unit}: {facts['state']} ({facts['sub']})"
    if facts["load"] != "loaded":
        text += f", {facts['load']}"
    return _Result("ok" if ok else "fail", text, facts)


def parse_systemctl_units(text: str, unit: str) -> Facts:
    """Facts for ``unit`` from ``systemctl list-units --output=json``: state (the ACTIVE
    column, or 'not-found' when the unit is not listed or not loadable), sub, load."""
    units = _json(text) if text.strip() else []
    if not isinstance(units, list):
        raise ValueError("expected a JSON array")
    for entry in units:
        if not isinstance(entry, dict):
            raise ValueError("expected one JSON object per unit")
        if (_text(entry.get("unit")) or "").lstrip("●* ") == unit:
            load = _text(entry.get("load"))
            active = _text(entry.get("active")) or "unknown"
            return {
                "state": "not-found" if load == "not-found" else active,
                "sub": _text(entry.get("sub")),
                "load": load,
            }
    return {"state": "not-found", "sub": None, "load": None}


async def _command_state(status: Sequence[str], timeout: float) -> _Result:
    program = status[0]
    try:
        result = await run_cli(status, timeout=timeout, keep="tail")
    except OSError as exc:
        return _Result("error", f"{program}: {_reason(exc)}")
    if result.timed_out:
        return _Result("timeout", f"{program}: killed after {timeout:g} s")
    code = result.returncode
    line = last_line(result.err) or last_line(result.out)
    if code == 0:
        return _Result("ok", line or "running", {"state": "running", "exit_code": 0})
    return _Result("fail", line or f"status exited {code}", {"state": "stopped", "exit_code": code})


# -- small helpers -------------------------------------------------------------------------------


def _json(text: str) -> Any:
    if len(text) > OUTPUT_CAP:
        raise ValueError(f"more than {OUTPUT_CAP // 1024} KiB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
