"""Settings: a flag wins, then a ``HOMELAB_*`` environment variable, then the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus import envelope


class SettingsError(Exception):
    pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMELAB_", extra="ignore")

    root: Path = Field(Path("/opt/homelab"), description="the data root")
    repo: Path | None = Field(None, description="the inventory repository (read-only)")
    bus: str = Field("tcp://127.0.0.1:7001", description="the broker's request endpoint")
    listen: str | None = Field(None, description="where the broker listens (default: bus)")
    node: str | None = Field(None, description="this machine's node name in the inventory")
    approval_ttl: float = Field(86400.0, gt=0, description="seconds an approval stays valid")
    fsync: Literal["always", "batch", "never"] = "batch"
    # At most what a publisher sends in one batch (bus.client.BATCH_BYTES).
    max_message_bytes: int = Field(envelope.MAX_MESSAGE_BYTES, ge=1024, le=1024 * 1024)
    stats_interval: float = Field(1.0, ge=0)
    subscriber_queue: int | None = Field(
        None, ge=1, description="publication frames queued per subscriber (overrides the MiB)"
    )
    subscriber_buffer: int = Field(
        16, ge=1, le=4096, description="MiB the broker holds for a subscriber that does not read"
    )

    @property
    def listen_endpoint(self) -> str:
        return self.listen or self.bus


def load(**flags: Any) -> Settings:
    """Settings from the given flags (None = not given), the environment and defaults."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        name = "HOMELAB_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"bad setting {name}: {first['msg']}") from None
