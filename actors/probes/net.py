"""What the network probes share: the system's trust store, and a close that cannot hang."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import time

CLOSE_TIMEOUT = 1.0  # seconds for a polite close before the connection is aborted


def trust_store() -> ssl.SSLContext:
    """The system's trust store (where a homelab's own CA goes; SSL_CERT_FILE and
    SSL_CERT_DIR apply), loaded once an hour: loading it costs tens of milliseconds."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return _load_trust_store(key, int(time.monotonic() // 3600))


@functools.lru_cache(maxsize=4)
def _load_trust_store(env: tuple[str | None, str | None], hour: int) -> ssl.SSLContext:
    return ssl.create_default_context()


async def close(writer: asyncio.StreamWriter) -> None:
    """Closes politely for at most CLOSE_TIMEOUT, then aborts."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except (TimeoutError, OSError, ssl.SSLError):
        writer.transport.abort()
