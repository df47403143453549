"""What ``homelab up --demo`` says about the login: the password of the demo operator once,
when it is made, and on every later start how to log in and set a new password. Real
operators files, no processes."""

from __future__ import annotations

from pathlib import Path

from bus.dataroot import DataRoot
from gui import auth
from homelab import up
from homelab.demo import setup
from homelab.settings import Settings


def screen(root: Path, login: str | None, hint: str) -> str:
    settings = Settings(root=root, ui_port=8099)
    return up.Screen(settings, root, None, True, login, None, demo=True, hint=hint).ui_line()


def test_the_first_demo_start_shows_the_password_once(tmp_path):
    password = setup.demo_operator(tmp_path, up.DEMO_OPERATOR)
    assert password and setup.demo_operator(tmp_path, up.DEMO_OPERATOR) is None
    line = screen(tmp_path, password, "")
    assert line == (
        f"UI: http://127.0.0.1:8099  login: demo / {password} (shown once; change it with "
        "`homelab ui add-user demo`)"
    )


def test_a_later_demo_start_says_the_password_was_shown_and_how_to_set_a_new_one(tmp_path):
    setup.demo_operator(tmp_path, up.DEMO_OPERATOR)
    line = screen(tmp_path, None, setup.login_hint(tmp_path, up.DEMO_OPERATOR))
    assert line == (
        "UI: http://127.0.0.1:8099  login: demo, with the password shown at the first start "
        "(to set a new one: `homelab ui add-user demo`)"
    )


def test_a_demo_whose_operators_are_the_users_own_points_at_them(tmp_path):
    auth.Operators(DataRoot(tmp_path).operators).add("alice", "a long password")
    hint = setup.login_hint(tmp_path, up.DEMO_OPERATOR)
    assert hint == (
        "login: an operator of `homelab ui users` (to add one: `homelab ui add-user NAME`)"
    )
