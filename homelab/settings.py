"""Settings: a flag wins, then a ``HOMELAB_*`` environment variable, then the default."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus import envelope, errors


class SettingsError(errors.HomelabError):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMELAB_", extra="ignore")

    root: Path = Field(Path("/opt/homelab"), description="the data root")
    repo: Path | None = Field(None, description="the inventory repository (read-only)")
    bus: str = Field("tcp://127.0.0.1:7001", description="the broker's request endpoint")
    listen: str | None = Field(
        None, description="where the broker listens, one or several comma-separated (default: bus)"
    )
    node: str | None = Field(None, description="this machine's node name in the inventory")
    approval_ttl: float = Field(86400.0, gt=0, description="seconds an approval stays valid")
    give_up_after: int = Field(
        3,
        ge=1,
        le=100,
        description="fixes without effect before the supervisor gives up on a drift",
    )
    fsync: Literal["always", "batch", "never"] = "batch"
    # The bus's security (docs/security.md): CURVE with an allowlist of keys, or off (warned).
    curve: Literal["on", "off"] = Field(
        "on", description="CURVE authentication and encryption on the bus (off: anyone)"
    )
    keys: Path | None = Field(None, description="the bus's key folder (default: ROOT/keys)")
    key: Path | None = Field(
        None,
        description="a client's secret key file, on a machine without the key folder "
        "(with broker_key)",
    )
    broker_key: Path | None = Field(None, description="the broker's public key file (with key)")
    # At most what a publisher sends in one batch (bus.client.BATCH_BYTES).
    max_message_bytes: int = Field(envelope.MAX_MESSAGE_BYTES, ge=1024, le=1024 * 1024)
    stats_interval: float = Field(1.0, ge=0)
    subscriber_queue: int | None = Field(
        None, ge=1, description="publication frames queued per subscriber (overrides the MiB)"
    )
    subscriber_buffer: int = Field(
        16, ge=1, le=4096, description="MiB the broker holds for a subscriber that does not read"
    )
    disk_reserve: float = Field(
        128,
        ge=0,
        description="MiB of free space under the event log kept for the control plane's own "
        "messages: below it, other messages wait",
    )
    client_rate: float = Field(
        2000, ge=0, description="messages per second one client may publish (0: no limit)"
    )
    client_bandwidth: float = Field(
        4, ge=0, description="MiB per second one client may publish (0: no limit)"
    )
    client_burst: float = Field(
        2, gt=0, le=3600, description="seconds' worth of its limits a client may send at once"
    )

    # The operator UI (`homelab ui`, and the UI `homelab up` starts).
    ui_host: str = Field("127.0.0.1", min_length=1, description="the address the UI listens on")
    ui_port: int = Field(8080, ge=1, le=65535, description="the UI's port")
    public_url: str = Field(
        "", description="comma-separated URLs the UI is also served at (a reverse proxy)"
    )
    ui_secret: str | None = Field(
        None, min_length=32, description="keys the UI's sessions (else ui/session_secret)"
    )
    ui_trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="addresses or networks whose X-Forwarded-For/-Proto the UI believes",
    )
    summary_token: str | None = Field(
        None, min_length=32, description="a tool sending it as a bearer token reads all /summary"
    )

    # The event log's history (docs/log-format.md, "Retention"): the broker compresses sealed
    # segments and deletes the oldest once older than the days or over the bytes.
    retention_days: float = Field(
        30.0, ge=0, le=36500, description="days of event log kept (0: no limit by age)"
    )
    retention_bytes: int = Field(
        4 * 1024**3,
        ge=0,
        description="bytes the event log may take on disk (0: no limit), e.g. 4G or 500M",
    )
    # The agent (docs/operations.md, "What agents send").
    agent_refresh: float = Field(
        600.0,
        ge=0,
        le=86400,
        description="seconds after which an agent sends an unchanged check result in full "
        "anyway (0: every result in full, as before)",
    )

    @property
    def listen_endpoint(self) -> str:
        return self.listen or self.bus

    @property
    def public_urls(self) -> tuple[str, ...]:
        return tuple(u for u in self.public_url.split(",") if u)

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        return tuple(p for p in self.ui_trusted_proxies.split(",") if p)

    @field_validator("public_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        return ",".join(public_url(u) for u in value.split(",") if u.strip())

    @field_validator("retention_bytes", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> Any:
        return byte_count(value) if isinstance(value, str) else value

    @field_validator("summary_token", "ui_secret", mode="before")
    @classmethod
    def _unset_if_empty(cls, value: Any) -> Any:
        return None if value == "" else value  # Compose passes an unset variable as ""

    @field_validator("ui_trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return ",".join(proxy_network(p) for p in value.split(",") if p.strip())


def public_url(text: str) -> str:
    """``text`` as an origin, http(s)://host[:port] without a trailing slash; ValueError if
    it is anything else (a query, a user name). Browsers send only origins, so the sub-path
    a proxy serves the UI under (https://host/homelab/) is dropped."""
    text = text.strip()
    rule = "must be http(s)://host[:port][/sub-path]"
    try:
        url = urllib.parse.urlsplit(text)
        url.port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        raise ValueError(f"{text!r} {rule}") from None
    if (
        url.scheme not in ("http", "https")
        or not url.hostname
        or url.username is not None
        or url.query
        or url.fragment
        or text.endswith("?")
        or text.endswith("#")
    ):
        raise ValueError(f"{text!r} {rule}")
    return origin(url.scheme, url.hostname, url.port)


UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def byte_count(text: str) -> int:
    """``4G``, ``500M``, ``4GiB``, ``123``: a number of bytes (powers of 1024)."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)].strip()
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (like 4G, 500M or 1073741824)") from None
    if not 0 <= value < 2**63 / UNITS[unit]:
        raise ValueError(f"{text!r} is not a size (like 4G, 500M or 1073741824)")
    return int(value * UNITS[unit])


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(scheme: str, host: str, port: int | None) -> str:
    """An origin as a browser sends it: lower case, no default port, IPv6 in brackets."""
    host = host.lower()
    shown = f"[{host}]" if ":" in host else host
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{shown}"
    return f"{scheme}://{shown}:{port}"


def proxy_network(text: str) -> str:
    """An address or network (``172.18.0.0/16``) whose forwarded headers the UI believes;
    ValueError for anything else."""
    import ipaddress

    text = text.strip()
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or network (like 172.18.0.0/16)") from None


def load(**flags: Any) -> Settings:
    """Settings from the given flags (None = not given), the environment and defaults."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        name = "HOMELAB_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"bad setting {name}: {message}") from None
