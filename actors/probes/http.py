"""The http check: one GET, no redirects followed, the status and (capped) body checked."""

from __future__ import annotations

import asyncio
import ssl

import httpx

from actors.domain.inventory import HttpCheck
from actors.probes import net
from actors.probes.result import Facts, Result, reason

BODY_CAP = 64 * 1024  # bytes of an HTTP body read for `contains`
USER_AGENT = "homelab-probe"


async def probe(check: HttpCheck) -> Result:
    # The system's trust store (a homelab's own CA is there), not certifi's; no proxies nor
    # .netrc from the environment: the probe talks to the endpoint itself.
    https = check.url.lower().startswith("https:")
    verify: ssl.SSLContext | bool = net.trust_store() if check.verify_tls and https else False
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
                    status, phrase = response.status_code, response.reason_phrase
                    encoding = response.encoding or "utf-8"
    except (TimeoutError, httpx.TimeoutException):
        return Result("timeout", f"no answer within {check.timeout:g} s")
    except httpx.TransportError as exc:  # refused, reset, TLS, protocol: the endpoint's fault
        return Result("fail", f"{type(exc).__name__}: {reason(exc)}")
    except httpx.HTTPError as exc:  # a URL httpx cannot use
        return Result("error", f"{type(exc).__name__}: {reason(exc)}")
    facts: Facts = {"status": status, "bytes": len(body)}
    if status != check.expect_status:
        return Result("fail", f"status {status} {phrase}, expected {check.expect_status}", facts)
    if check.contains is not None:
        try:
            text = body.decode(encoding, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        if check.contains not in text:
            where = f"the first {BODY_CAP // 1024} KiB of the body" if truncated else "the body"
            return Result("fail", f"{check.contains!r} not found in {where}", facts)
    return Result("ok", f"{status} {phrase}".strip(), facts)
