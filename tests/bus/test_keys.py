"""The bus's keys on disk: made once, secrets 0600, checked strictly, one line when wrong."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bus import keys


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ensure_makes_the_broker_pair_and_one_pair_per_role_once(tmp_path):
    folder = tmp_path / "keys"
    made = keys.ensure(folder, ["service:observer", "agent:web1", "tool:cli"])
    assert made == ["broker", "service:observer", "agent:web1", "tool:cli"]
    assert keys.ensure(folder, ["service:observer", "tool:cli"]) == []
    allowed = keys.read_allowlist(folder / "allowlist.json")
    assert sorted(allowed.values()) == ["agent:web1", "service:observer", "tool:cli"]
    agent = keys.client(folder, "agent:web1")
    assert allowed[agent.public.decode()] == "agent:web1"
    assert agent.server == keys.server(folder)[0]


def test_secret_files_are_for_their_owner_only(tmp_path):
    folder = tmp_path / "keys"
    keys.ensure(folder, ["agent:web1"])
    assert mode(folder / "broker.key_secret") == 0o600
    assert mode(folder / "clients" / "agent-web1.key_secret") == 0o600
    assert mode(folder / "clients" / "agent-web1.key") == 0o644
    assert not list(folder.rglob("*.tmp"))


@pytest.mark.parametrize(
    "role",
    [
        "agent:",
        "agent:Web1",
        "agent:web/1",
        "service:nginx",
        "root:x",
        "tool:a b",
        "agent:" + "a" * 64,
    ],
)
def test_a_role_that_is_not_one_is_refused(tmp_path, role):
    with pytest.raises(ValueError, match="bad role"):
        keys.ensure(tmp_path / "keys", [role])


def test_operator_names_may_be_those_the_cli_takes():
    assert keys.check_role("operator:John.Doe") == "operator:John.Doe"


def test_a_missing_or_damaged_key_is_one_line(tmp_path):
    folder = tmp_path / "keys"
    keys.ensure(folder, ["tool:cli"])
    with pytest.raises(keys.KeyProblem, match=r"no key at .*agent-web1.key_secret"):
        keys.client(folder, "agent:web1")
    (folder / "broker.key").write_text('metadata\ncurve\n    public-key = "short"\n')
    with pytest.raises(keys.KeyProblem, match="damaged key") as err:
        keys.client(folder, "tool:cli")
    assert "\n" not in str(err.value)


def test_a_secret_that_does_not_match_its_public_key_is_refused(tmp_path):
    folder = tmp_path / "keys"
    keys.ensure(folder, ["tool:cli", "tool:other"])
    other = (folder / "clients" / "tool-other.key_secret").read_text()
    mine = folder / "clients" / "tool-cli.key_secret"
    secret_line = next(line for line in other.splitlines() if "secret-key" in line)
    lines = [
        secret_line if "secret-key" in line else line for line in mine.read_text().splitlines()
    ]
    mine.write_text("\n".join(lines) + "\n")
    with pytest.raises(keys.KeyProblem, match="does not match"):
        keys.client(folder, "tool:cli")


def test_a_damaged_allowlist_lets_nobody_in_and_says_why(tmp_path):
    folder = tmp_path / "keys"
    keys.ensure(folder, ["tool:cli"])
    allowlist = keys.Allowlist(folder / "allowlist.json")
    assert len(allowlist) == 1
    (folder / "allowlist.json").write_text('{"keys": [{"key": "x", "role": "tool:cli"}]}')
    assert allowlist.refresh()
    assert len(allowlist) == 0 and "damaged allowlist" in (allowlist.problem or "")


def test_an_allowlist_nested_too_deep_for_json_is_damaged_too(tmp_path):
    """A hostile file (100,000 nested lists) is one line, in the CLI and in the broker's
    allowlist, never a RecursionError out of the ZAP handler's refresh."""
    folder = tmp_path / "keys"
    keys.ensure(folder, ["tool:cli"])
    allowlist = keys.Allowlist(folder / "allowlist.json")
    (folder / "allowlist.json").write_text("[" * 100_000)
    with pytest.raises(keys.KeyProblem, match="damaged allowlist: nested too deep"):
        keys.read_allowlist(folder / "allowlist.json")
    assert allowlist.refresh()
    assert len(allowlist) == 0 and "nested too deep" in (allowlist.problem or "")


def test_the_allowlist_follows_its_file_so_a_revocation_needs_no_restart(tmp_path):
    folder = tmp_path / "keys"
    keys.ensure(folder, ["agent:web1"])
    agent = keys.client(folder, "agent:web1")
    allowlist = keys.Allowlist(folder / "allowlist.json")
    assert allowlist.callback("homelab", agent.public) and allowlist.role(agent.public)
    assert keys.revoke(folder, "agent:web1") == [agent.public.decode()]
    assert not allowlist.callback("homelab", agent.public)
    assert not (folder / "clients" / "agent-web1.key_secret").exists()


def test_add_replaces_a_roles_key_and_revokes_the_old_one(tmp_path):
    folder = tmp_path / "keys"
    first = keys.add(folder, "agent:web1")
    second = keys.add(folder, "agent:web1")
    allowed = keys.read_allowlist(folder / "allowlist.json")
    assert first.public.decode() not in allowed
    assert allowed[second.public.decode()] == "agent:web1"


def test_a_folder_with_only_the_brokers_public_key_makes_no_keys(tmp_path):
    control_plane, remote = tmp_path / "cp", tmp_path / "remote"
    keys.ensure(control_plane)
    (remote / "clients").mkdir(parents=True)
    (remote / "broker.key").write_bytes((control_plane / "broker.key").read_bytes())
    with pytest.raises(keys.KeyProblem, match="only the broker's public key"):
        keys.ensure(remote, ["agent:web1"])
