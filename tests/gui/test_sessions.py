"""Sessions: a new token at every login, only a keyed hash on disk, and a session ends
with its operator's password; device marks are signed."""

from __future__ import annotations

import json
import os
import stat

import pytest

from bus import keys
from gui.auth import Operators
from gui.pages.login import safe_target
from gui.sessions import Credentials, SessionStore

SECRET = "s" * 40


@pytest.fixture
def operators(tmp_path):
    ops = Operators(tmp_path / "ui" / "operators.json")
    ops.add("oskar", "correct horse")
    return ops


def store(operators, tmp_path, clock=None, secret=SECRET):
    """A store whose clock (for expiry, and for looking at the operators file again) is
    ``clock``, or a fixed time when the test does not move it."""
    now = clock or (lambda: 1000.0)
    credentials = Credentials(operators, clock=now)
    return SessionStore(tmp_path / "ui" / "sessions.json", secret, credentials, clock=now)


def test_each_login_makes_a_new_token_and_the_file_holds_no_token(operators, tmp_path):
    sessions = store(operators, tmp_path)
    first, second = sessions.create("oskar"), sessions.create("oskar")
    assert first != second
    assert sessions.get(first).operator == "oskar"
    text = (tmp_path / "ui" / "sessions.json").read_text()
    assert first not in text and second not in text
    assert stat.S_IMODE(os.stat(tmp_path / "ui" / "sessions.json").st_mode) == 0o600
    assert sessions.get("made-up") is None and sessions.get("") is None


def test_sessions_survive_a_restart_but_not_a_new_secret(operators, tmp_path):
    token = store(operators, tmp_path).create("oskar")
    assert store(operators, tmp_path).get(token).operator == "oskar"
    assert store(operators, tmp_path, secret="t" * 40).get(token) is None


def test_a_new_password_or_a_removal_ends_the_session(operators, tmp_path):
    ticks = [0.0]
    sessions = store(operators, tmp_path, clock=lambda: ticks[0])
    token = sessions.create("oskar")
    operators.add("oskar", "a new password")
    ticks[0] += 1  # the operators file is looked at again
    assert sessions.get(token) is None
    token = sessions.create("oskar")
    assert sessions.get(token) is not None
    operators.remove("oskar")
    ticks[0] += 1
    assert sessions.get(token) is None


def test_the_operators_bus_key_stays_in_memory_and_goes_with_the_session(operators, tmp_path):
    ticks = [0.0]
    sessions = store(operators, tmp_path, clock=lambda: ticks[0])
    public, secret = keys.new_pair()
    key = keys.from_secret("operator:oskar", secret, public)
    token = sessions.create("oskar", key)
    assert sessions.bus_key(sessions.key(token)) == key
    assert secret.decode() not in (tmp_path / "ui" / "sessions.json").read_text()
    assert store(operators, tmp_path).bus_key(sessions.key(token)) is None  # a restart: none
    sessions.end(sessions.key(token))  # a logout
    assert sessions.bus_key(sessions.key(token)) is None
    token = sessions.create("oskar", key)
    operators.add("oskar", "a new password")
    ticks[0] += 1
    assert sessions.bus_key(sessions.key(token)) is None
    assert sessions._bus_keys == {}  # noqa: SLF001 (dropped, not merely hidden)


def test_a_session_expires_and_a_logout_ends_it(operators, tmp_path):
    now = [1000.0]
    sessions = store(operators, tmp_path, clock=lambda: now[0])
    token = sessions.create("oskar")
    sessions.end(sessions.key(token))
    assert sessions.get(token) is None
    token = sessions.create("oskar")
    now[0] += 15 * 86400
    assert sessions.get(token) is None


def test_a_damaged_sessions_file_means_logging_in_again(operators, tmp_path):
    path = tmp_path / "ui" / "sessions.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    for junk in ("{", "[]", json.dumps({"sessions": [{"key": 1}]})):
        path.write_text(junk)
        assert store(operators, tmp_path).get("anything") is None


def test_a_device_mark_is_signed_and_names_its_operator(operators, tmp_path):
    sessions = store(operators, tmp_path)
    mark = sessions.device_token("oskar")
    device = sessions.device_of(mark, "oskar")
    assert device and sessions.device_of(sessions.device_token("oskar", device), "oskar") == device
    assert sessions.device_of(mark, "bob") is None
    raw, signature = mark.rsplit(".", 1)
    assert sessions.device_of(raw + "." + "0" * len(signature), "oskar") is None
    assert sessions.device_of("not.a.mark", "oskar") is None


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example/",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\/evil.example",
        "//evil.example",
        "https://evil.example/",
        "evil.example",
        "/\x00",
        "",
        "/%0a" * 1000,
    ],
)
def test_the_login_never_leads_to_another_site(target):
    assert safe_target(target) == "/"


@pytest.mark.parametrize("target", ["/", "/actions", "/events?seq=5&topic=action.", "/world/web"])
def test_the_login_leads_back_to_a_page_of_this_ui(target):
    assert safe_target(target) == target
