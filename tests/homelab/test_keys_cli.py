"""``homelab init`` makes the bus's keys unasked; ``homelab keys`` manages the allowlist."""

from __future__ import annotations

import stat

import pytest

from bus import keys


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv("HOMELAB_KEYS", raising=False)  # the root's own keys/, not the tests'
    return tmp_path / "root"


def test_init_makes_the_broker_and_local_keys_once(homelab, root):
    first = homelab("init", "--root", str(root))
    assert first.code == 0 and "made bus keys (broker, service:observer" in first.out
    assert "tool:cli" in first.out
    assert "already set up" in homelab("init", "--root", str(root)).out
    roles = set(keys.read_allowlist(root / "keys" / "allowlist.json").values())
    assert roles == {f"service:{s}" for s in ("observer", "supervisor", "executor", "ui")} | {
        "tool:cli"
    }


def test_add_prints_what_to_copy_and_list_shows_the_role(homelab, root):
    homelab("init", "--root", str(root))
    added = homelab("keys", "add", "agent", "web1", "--root", str(root))
    assert added.code == 0
    secret = root / "keys" / "clients" / "agent-web1.key_secret"
    said = added.out.splitlines()
    assert f"  {root / 'keys' / 'broker.key'}" in said and f"  {secret}" in said
    command = "homelab agent --node web1 --bus tcp://BROKER:7001 --key agent-web1.key_secret"
    assert any(line.strip().startswith(command) for line in said)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    public = keys.client(root / "keys", "agent:web1").public.decode()
    assert "agent:web1" in homelab("keys", "list", "--root", str(root)).out
    assert public in homelab("keys", "list", "--root", str(root)).out


def test_rotate_replaces_the_key_and_revoke_takes_it_off(homelab, root, one_line):
    homelab("init", "--root", str(root))
    homelab("keys", "add", "tool", "backup", "--root", str(root))
    old = keys.client(root / "keys", "tool:backup").public.decode()
    assert homelab("keys", "rotate", "tool:backup", "--root", str(root)).code == 0
    allowed = keys.read_allowlist(root / "keys" / "allowlist.json")
    assert old not in allowed and "tool:backup" in allowed.values()
    assert homelab("keys", "revoke", "tool:backup", "--root", str(root)).code == 0
    assert "tool:backup" not in keys.read_allowlist(root / "keys" / "allowlist.json").values()
    again = homelab("keys", "revoke", "tool:backup", "--root", str(root))
    assert again.code != 0 and "no key of 'tool:backup'" in one_line(again.err)


def test_a_bad_name_is_one_line(homelab, root, one_line):
    homelab("init", "--root", str(root))
    bad = homelab("keys", "add", "agent", "Web/1", "--root", str(root))
    assert bad.code != 0 and "bad role 'agent:Web/1'" in one_line(bad.err)
