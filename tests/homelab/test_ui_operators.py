"""``homelab ui`` in-process: operators added from stdin (as scripts do), removed, listed;
every mistake one line on stderr and a non-zero exit, and the operators file untouched."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

import pytest

from bus import keys
from bus.dataroot import DataRoot
from gui import auth, sealing
from homelab import settings, ui_cli


class Terminal(io.StringIO):
    """Input that says it is a terminal (the flag --password-stdin still reads it)."""

    def isatty(self) -> bool:
        return True


def operators(root: Path) -> auth.Operators:
    return auth.Operators(DataRoot(root).operators)


def test_add_user_reads_the_password_from_stdin_and_stores_only_its_hash(data_root, homelab):
    code, out, err = homelab(
        "ui", "add-user", "alice", "--root", str(data_root), stdin="correct horse\n"
    )
    assert (code, out, err) == (
        0,
        "operator alice added, with a new bus key (operator:alice)\n",
        "",
    )
    assert operators(data_root).verify("alice", "correct horse")
    assert not operators(data_root).verify("alice", "correct horse\n")
    stored = DataRoot(data_root).operators
    assert "correct horse" not in stored.read_text()
    assert stored.stat().st_mode & 0o777 == 0o600


def test_add_user_again_changes_the_password(data_root, homelab):
    args = ("ui", "add-user", "alice", "--root", str(data_root))
    assert homelab(*args, stdin="first password\n")[0] == 0
    code, out, _ = homelab(*args, stdin="second password\r\n")
    assert (code, out) == (0, "operator alice updated, with a new bus key (operator:alice)\n")
    assert operators(data_root).verify("alice", "second password")
    assert not operators(data_root).verify("alice", "first password")


def allowlisted(role: str) -> set[str]:
    folder = Path(os.environ["HOMELAB_KEYS"])
    return {k for k, r in keys.read_allowlist(keys.KeyDir(folder).allowlist).items() if r == role}


def test_each_operator_gets_a_bus_key_kept_only_sealed_and_a_new_one_revokes_the_old(
    data_root, homelab
):
    args = ("ui", "add-user", "dora", "--root", str(data_root))
    homelab(*args, stdin="first password\n")
    first = operators(data_root).get("dora").bus_key
    assert allowlisted("operator:dora") == {first.public}
    assert sealing.unseal(first, "first password", "dora")  # the password opens it
    assert not keys.KeyDir(Path(os.environ["HOMELAB_KEYS"])).client_secret("operator:dora").exists()
    homelab(*args, stdin="second password\n")
    second = operators(data_root).get("dora").bus_key
    assert second.public != first.public
    assert allowlisted("operator:dora") == {second.public}  # the old key is revoked
    homelab("ui", "remove-user", "dora", "--root", str(data_root))
    assert allowlisted("operator:dora") == set()


def test_password_stdin_reads_stdin_even_from_a_terminal(data_root, homelab):
    args = ("ui", "add-user", "bob", "--password-stdin", "--root", str(data_root))
    code, out, _ = homelab(*args, stdin=Terminal("s3cret-enough\nignored\n"))
    assert (code, out) == (0, "operator bob added, with a new bus key (operator:bob)\n")
    assert operators(data_root).verify("bob", "s3cret-enough")


@pytest.mark.parametrize(
    ("name", "stdin", "message"),
    [
        ("Alice", "long enough\n", "bad operator name 'Alice'"),
        ("a b", "long enough\n", "bad operator name 'a b'"),
        ("alice", "short\n", "a password has 8 to 1024 characters"),
        ("alice", "x" * 2000 + "\n", "a password has 8 to 1024 characters"),
        ("alice", "", "no password on stdin"),
    ],
    ids=["capital", "space", "short", "long", "nothing"],
)
def test_add_user_mistakes_are_one_line_exit_2_and_change_nothing(
    data_root, name, stdin, message, one_line, homelab
):
    code, out, err = homelab("ui", "add-user", name, "--root", str(data_root), stdin=stdin)
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"homelab: error: {message}")
    assert not DataRoot(data_root).operators.exists()


@pytest.mark.parametrize(
    "args",
    [("add-user", "alice"), ("remove-user", "alice"), ("users",), ()],
    ids=["add-user", "remove-user", "users", "serve"],
)
def test_a_missing_data_root_is_one_line_exit_2(tmp_path, args, one_line, homelab):
    missing = tmp_path / "nothing-here"
    code, out, err = homelab("ui", *args, "--root", str(missing), stdin="long enough\n")
    assert code == 2 and out == ""
    assert (
        one_line(err) == f"homelab: error: no data root at {missing} (set HOMELAB_ROOT or --root)"
    )
    assert not missing.exists()


def test_remove_user_and_users(data_root, homelab, one_line):
    root = ("--root", str(data_root))
    for name in ("carol", "alice"):
        homelab("ui", "add-user", name, *root, stdin="long enough\n")
    assert homelab("ui", "users", *root)[:2] == (0, "alice\ncarol\n")
    code, out, _ = homelab("ui", "remove-user", "carol", *root)
    assert (code, out) == (0, "operator carol removed, and their bus key revoked\n")
    assert not operators(data_root).verify("carol", "long enough")
    assert operators(data_root).names() == ["alice"]

    code, out, err = homelab("ui", "remove-user", "carol", *root)
    assert (code, out) == (1, "")
    assert one_line(err) == "homelab: error: no operator 'carol'"
    assert operators(data_root).names() == ["alice"]


def test_users_of_a_root_without_operators_says_how_to_add_one(data_root, homelab, one_line):
    code, out, err = homelab("ui", "users", "--root", str(data_root))
    assert (code, out) == (0, "")
    assert one_line(err) == "no operators: add one with `homelab ui add-user NAME`"


def test_a_damaged_operators_file_is_one_line_exit_1_and_kept(data_root, one_line, homelab):
    path = DataRoot(data_root).operators
    path.parent.mkdir()
    path.write_text("{not json")
    for args in (("add-user", "alice"), ("remove-user", "alice"), ("users",)):
        code, _, err = homelab("ui", *args, "--root", str(data_root), stdin="long enough\n")
        assert code == 1
        assert one_line(err).startswith(f"homelab: error: {path} is not a valid operators file")
    assert path.read_text() == "{not json"


def test_ui_refuses_a_taken_port_in_one_line(data_root, one_line, homelab):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, out, err = homelab("ui", "--root", str(data_root), "--port", str(port))
    assert code == 1 and out == ""
    assert one_line(err) == (
        f"homelab: error: port {port} is taken (by another program or another UI): "
        "set HOMELAB_UI_PORT (or --port) to another port"
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--port", "0"), {}, "bad setting HOMELAB_UI_PORT"),
        (("--port", "65536"), {}, "bad setting HOMELAB_UI_PORT"),
        ((), {"HOMELAB_UI_PORT": "http"}, "bad setting HOMELAB_UI_PORT"),
        (("--public-url", "https://ui.example/app?x"), {}, "bad setting HOMELAB_PUBLIC_URL"),
        (
            (),
            {"HOMELAB_PUBLIC_URL": "https://ok.example,ftp://x"},
            "bad setting HOMELAB_PUBLIC_URL",
        ),
        ((), {"HOMELAB_UI_SECRET": "too short"}, "bad setting HOMELAB_UI_SECRET"),
    ],
)
def test_bad_ui_settings_are_one_line(
    monkeypatch, data_root, args, env, message, homelab, one_line
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, out, err = homelab("ui", "--root", str(data_root), *args)
    assert code != 0 and out == ""
    assert one_line(err).startswith(f"homelab: error: {message}")
    assert "too short" not in err  # a secret is never echoed


def test_public_urls_become_origins(monkeypatch):
    monkeypatch.setenv("HOMELAB_PUBLIC_URL", "https://homelab.example.ts.net/, http://10.0.0.2:81")
    assert settings.load().public_urls == ("https://homelab.example.ts.net", "http://10.0.0.2:81")
    assert settings.load(public_url="").public_urls == ()
    for bad in ("homelab.example", "http://u:p@host", "https://host/?q", "http://host:99999"):
        with pytest.raises(ValueError, match="must be http"):
            settings.public_url(bad)


def test_the_url_a_browser_on_this_machine_uses():
    assert ui_cli.url("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert ui_cli.url("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert ui_cli.url("::", 8080) == "http://[::1]:8080"
