"""Operators, the session secret and the login limit: real files, real processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from gui.auth import AuthError, Operators, session_secret
from plant import child_env


@pytest.fixture
def operators(tmp_path):
    return Operators(tmp_path / "ui" / "operators.json")


def test_an_operator_logs_in_with_the_right_password_only(operators):
    operators.add("oskar", "correct horse")
    assert operators.verify("oskar", "correct horse")
    assert not operators.verify("oskar", "wrong horse")
    assert not operators.verify("mallory", "correct horse")
    assert not operators.verify("../etc", "correct horse")
    assert operators.names() == ["oskar"]


def test_passwords_are_stored_hashed_in_a_private_file(operators):
    operators.add("oskar", "correct horse")
    text = operators.path.read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    assert stat.S_IMODE(os.stat(operators.path).st_mode) == 0o600


@pytest.mark.parametrize(
    ("name", "password", "says"),
    [
        ("Oskar", "correct horse", "bad operator name"),
        ("o" * 33, "correct horse", "bad operator name"),
        ("a b", "correct horse", "bad operator name"),
        ("oskar", "short", "8 to 1024 characters"),
    ],
)
def test_bad_names_and_short_passwords_are_refused(operators, name, password, says):
    with pytest.raises(AuthError, match=says):
        operators.add(name, password)
    assert not operators.path.exists()


def test_removing_an_operator_ends_their_logins(operators):
    operators.add("oskar", "correct horse")
    operators.remove("oskar")
    assert not operators.verify("oskar", "correct horse")
    with pytest.raises(AuthError, match="no operator 'oskar'"):
        operators.remove("oskar")


def test_a_damaged_file_is_an_error_not_an_empty_list(operators):
    operators.path.parent.mkdir(parents=True)
    operators.path.write_text('{"operators": {"oskar": {"hash": 1}}}')
    with pytest.raises(AuthError, match="not a valid operators file"):
        operators.names()


ADD = (
    "import sys; from pathlib import Path; from gui.auth import Operators\n"
    "ops = Operators(Path(sys.argv[1]))\n"
    "for i in range(int(sys.argv[3])): ops.add(f'{sys.argv[2]}{i}', 'password-' + str(i))\n"
)


def test_two_processes_adding_at_once_lose_nobody(operators):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ADD, str(operators.path), prefix, "6"], env=child_env()
        )
        for prefix in ("a", "b")
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert operators.names() == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])


@pytest.mark.slow
def test_killed_while_adding_the_file_is_whole(operators):
    """kill -9 at varied moments of a stream of add-user: the file always loads."""
    operators.add("first", "password-first")
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3):
        proc = subprocess.Popen(
            [sys.executable, "-c", ADD, str(operators.path), "k", "50"], env=child_env()
        )
        try:
            proc.wait(delay + 0.5)
        except subprocess.TimeoutExpired:
            pass
        proc.kill()
        proc.wait(10)
        names = operators.names()  # raises if the file were torn
        assert "first" in names


def test_the_session_secret_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "ui" / "session_secret"
    first = session_secret(path)
    assert len(first) >= 32 and session_secret(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_short_secret_file_is_refused(tmp_path):
    path = tmp_path / "session_secret"
    path.write_text("short")
    with pytest.raises(AuthError, match="no usable secret"):
        session_secret(path)
