"""The tls check: the peer's certificate, whether it is trusted, and how long it has left.

An untrusted certificate is read all the same (through a second, unverified handshake), so
the observation still says when it expires. The certificate is read with ``cryptography``:
``ssl`` parses only verified certificates, and these bytes come from whoever answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID

from actors.domain.inventory import TlsCheck
from actors.probes import net
from actors.probes.result import Clock, Facts, Result, reason


@dataclasses.dataclass(frozen=True)
class Certificate:
    not_after: dt.datetime
    subject_cn: str | None


async def probe(check: TlsCheck, address: str, clock: Clock) -> Result:
    host = check.host or address
    where = f"{host}:{check.port}"
    verify_error: str | None = None
    try:
        async with asyncio.timeout(check.timeout):
            try:
                der, protocol = await _peer_certificate(check, host, net.trust_store())
            except ssl.SSLCertVerificationError as exc:
                verify_error = exc.verify_message or reason(exc)
                der, protocol = await _peer_certificate(check, host, _unverified())
    except TimeoutError:
        return Result("timeout", f"{where}: no answer within {check.timeout:g} s")
    except ssl.SSLError as exc:
        return Result("fail", f"{where}: TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        return Result("fail", f"{where}: {reason(exc)}")
    if not der:
        return Result("error", f"{where}: the server sent no certificate")
    try:
        cert = parse_certificate(der)
    except ValueError as exc:
        return Result("error", f"{where}: unreadable certificate: {exc}")
    return _judge(cert, check.warn_days, verify_error, protocol, clock())


def _judge(
    cert: Certificate, warn_days: float, verify_error: str | None, protocol: str | None, now: float
) -> Result:
    days_left = round((cert.not_after.timestamp() - now) / 86400, 1)
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
        return Result("fail", f"certificate not trusted: {verify_error}; {expiry}", facts)
    if days_left < warn_days:
        return Result("fail", f"certificate {expiry} (warning at {warn_days})", facts)
    return Result("ok", f"certificate {expiry}", facts)


def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _peer_certificate(
    check: TlsCheck, host: str, context: ssl.SSLContext
) -> tuple[bytes | None, str | None]:
    _, writer = await asyncio.open_connection(
        host,
        check.port,
        ssl=context,
        server_hostname=check.server_name or host,
        ssl_handshake_timeout=check.timeout,
    )
    try:
        tls = writer.get_extra_info("ssl_object")
        if tls is None:
            return None, None
        return tls.getpeercert(binary_form=True), tls.version()
    finally:
        await net.close(writer)


# -- parsing (pure) ------------------------------------------------------------------------------


def parse_certificate(der: bytes) -> Certificate:
    """notAfter and the subject's CN (the last, if several) of a DER X.509 certificate.
    ValueError if the bytes are not one."""
    try:
        cert = x509.load_der_x509_certificate(der)
        not_after = cert.not_valid_after_utc
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except x509.InvalidVersion as exc:  # not a ValueError
        raise ValueError(f"unsupported X.509 version {exc.parsed_version}") from exc
    if not names:
        return Certificate(not_after, None)
    cn = names[-1].value
    return Certificate(not_after, cn if isinstance(cn, str) else cn.decode(errors="replace"))
