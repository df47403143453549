"""The history's settings: sizes as people write them, from the flag or the environment."""

from __future__ import annotations

import pytest

from homelab import cli, settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4G", 4 << 30), ("500M", 500 << 20), ("4GiB", 4 << 30), ("1.5g", 3 << 29), ("123", 123)],
)
def test_retention_bytes_take_suffixes(monkeypatch, text, expected):
    monkeypatch.setenv("HOMELAB_RETENTION_BYTES", text)
    assert settings.load().retention_bytes == expected


def test_defaults_keep_30_days_or_4_gib_and_refresh_agents_every_10_minutes(monkeypatch):
    for name in ("HOMELAB_RETENTION_BYTES", "HOMELAB_RETENTION_DAYS", "HOMELAB_AGENT_REFRESH"):
        monkeypatch.delenv(name, raising=False)
    s = settings.load()
    assert (s.retention_days, s.retention_bytes, s.agent_refresh) == (30, 4 << 30, 600)


def test_a_size_that_is_none_is_one_line(capsys):
    assert cli.main(["broker", "--retention-bytes", "lots"]) == 1
    assert capsys.readouterr().err == (
        "homelab: error: bad setting HOMELAB_RETENTION_BYTES: "
        "'lots' is not a size (like 4G, 500M or 1073741824)\n"
    )
