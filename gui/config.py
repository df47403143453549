"""What the UI process needs to know, gathered by ``homelab ui`` from flags and settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class UiConfig:
    root: Path  # the data root
    bus: str  # the broker's request endpoint
    host: str = "127.0.0.1"
    port: int = 8080
    # Origins the websocket handshake accepts besides the local address, e.g. the URL Nginx
    # Proxy Manager serves the UI at (https://homelab.example.ts.net).
    public_urls: tuple[str, ...] = ()
    storage_secret: str | None = None  # else made once under the data root (ui/session_secret)
    # Whose X-Forwarded-For / -Proto count: the reverse proxy's addresses or networks.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    summary_token: str | None = None  # a tool with it reads the whole /summary
