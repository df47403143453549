"""``homelab ui``: run the operator UI, and manage who may log in to it.

``add-user`` and ``remove-user`` change the operators file (``ui/operators.json`` under
the data root) and the bus's allowlist: each operator has a key of role ``operator:NAME``,
its secret kept only sealed with their password (``gui.operator_keys``), so they run on the
control plane (or in its ui container), where the keys folder is. They need no running
broker or UI; a running UI sees the change at the next login (``gui.auth.Operators`` reads
the file afresh each time) and ends the operator's sessions.
"""

from __future__ import annotations

import sys
from typing import TextIO

import click

from bus import errors
from bus.dataroot import DataRoot
from homelab import bus_keys, layout, procs, user_input
from homelab.settings import Settings

READY_TIMEOUT = 0.5  # seconds per readiness request


class OperatorsError(errors.HomelabError):
    """No such operator, or an operators file that cannot be read: one line, exit 1."""


def serve(s: Settings) -> int:
    """Run the UI in this process until it is stopped; refuse in one line first when its
    port is taken or the data root is missing."""
    DataRoot(s.root).require()
    layout.ensure(s.root)  # a read-only root is one line here, not a traceback later
    check_port_free(s.ui_host, s.ui_port)
    bus_keys.use(s, "service:ui")
    try:
        from gui import app
    except ImportError as err:  # the UI's code or one of its libraries is not installed
        raise procs.StartupError(f"the UI cannot start: {err}") from None
    from gui import auth
    from gui.config import UiConfig

    if not auth.Operators(DataRoot(s.root).operators).names():
        click.echo(
            "homelab: no operator can log in yet: add one with `homelab ui add-user NAME`",
            err=True,
        )
    config = UiConfig(
        root=s.root,
        bus=s.bus,
        host=s.ui_host,
        port=s.ui_port,
        public_urls=s.public_urls,
        storage_secret=s.ui_secret,
        trusted_proxies=s.trusted_proxies,
        summary_token=s.summary_token,
    )
    return app.serve(config)


def check_port_free(host: str, port: int) -> None:
    """Bind the UI's port for a moment (as its web server will, with SO_REUSEADDR), or
    refuse in one line."""
    procs.claim_port(
        host,
        port,
        f"port {port} is taken (by another program or another UI): "
        "set HOMELAB_UI_PORT (or --port) to another port",
    )


def url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the UI."""
    local = {"0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{local.strip('[]')}]:{port}" if ":" in local else f"http://{local}:{port}"


def answers(base_url: str) -> bool:
    """True once the UI answers HTTP at all: any status (503 while the bus is down, say)
    proves the web server is up. Never through a proxy: the UI is on this machine."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base_url + "/healthz", timeout=READY_TIMEOUT):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


# -- operators --------------------------------------------------------------------------------


def add_user(s: Settings, name: str, from_stdin: bool, stdin: TextIO | None = None) -> str:
    """Add operator ``name`` (or set a new password, and a new bus key); the line to print."""
    from gui import auth, operator_keys

    stdin = stdin or sys.stdin
    path = DataRoot(s.root).require().operators
    _check_name(name)
    if from_stdin or not stdin.isatty():
        password = _password_from(stdin)
    else:
        password = click.prompt(f"Password for {name}", hide_input=True)
        if click.prompt("Repeat the password", hide_input=True) != password:
            raise user_input.InputError("the two passwords differ: operator not changed")
    if not auth.MIN_PASSWORD <= len(password) <= auth.MAX_PASSWORD:
        raise user_input.InputError(
            f"a password has {auth.MIN_PASSWORD} to {auth.MAX_PASSWORD} characters"
        )
    operators = auth.Operators(path)
    existed = name in _names(operators)
    try:
        operator_keys.enroll(operators, bus_keys.folder_if_on(s), name, password)
    except auth.AuthError as err:  # the file is damaged: not the user's input
        raise OperatorsError(str(err)) from None
    return f"operator {name} {'updated' if existed else 'added'}{_with_key(s, name)}"


def remove_user(s: Settings, name: str) -> str:
    from gui import auth, operator_keys

    operators = auth.Operators(DataRoot(s.root).require().operators)
    try:
        operator_keys.remove(operators, bus_keys.folder_if_on(s), name)
    except auth.AuthError as err:
        raise OperatorsError(str(err)) from None
    return f"operator {name} removed{'' if s.curve == 'off' else ', and their bus key revoked'}"


def _with_key(s: Settings, name: str) -> str:
    if s.curve == "off":
        return " (no bus key: CURVE is off; run add-user again once it is on)"
    return f", with a new bus key (operator:{name})"


def users(s: Settings) -> list[str]:
    from gui import auth

    return _names(auth.Operators(DataRoot(s.root).require().operators))


def _names(operators) -> list[str]:
    from gui import auth

    try:
        return operators.names()
    except auth.AuthError as err:
        raise OperatorsError(str(err)) from None


def _check_name(name: str) -> None:
    from gui import auth

    try:
        auth.check_name(name)
    except auth.AuthError as err:
        raise user_input.InputError(str(err)) from None


def _password_from(stdin: TextIO) -> str:
    """One line of ``stdin`` without its line ending (scripts: ``... | homelab ui add-user``)."""
    from gui import auth

    line = stdin.readline(auth.MAX_PASSWORD + 3)
    if not line:
        raise user_input.InputError("no password on stdin (give it as one line)")
    password = line.removesuffix("\n").removesuffix("\r")
    if len(password) > auth.MAX_PASSWORD:  # longer than the read, or than the rule
        raise user_input.InputError(
            f"a password has {auth.MIN_PASSWORD} to {auth.MAX_PASSWORD} characters"
        )
    return password
