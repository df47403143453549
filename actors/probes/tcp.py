"""The tcp check: a connection opened and closed again within the check's timeout."""

from __future__ import annotations

import asyncio

from actors.domain.inventory import TcpCheck
from actors.probes import net
from actors.probes.result import Result, reason


async def probe(check: TcpCheck, address: str) -> Result:
    host = check.host or address
    try:
        async with asyncio.timeout(check.timeout):
            _, writer = await asyncio.open_connection(host, check.port)
            await net.close(writer)
    except TimeoutError:
        return Result("timeout", f"{host}:{check.port}: no answer within {check.timeout:g} s")
    except OSError as exc:
        return Result("fail", f"{host}:{check.port}: {reason(exc)}")
    return Result("ok", f"{host}:{check.port}: connected")
