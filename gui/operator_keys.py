"""Each UI operator's own bus key (role ``operator:NAME``), so that the UI decides only in
the name of an operator whose session it holds.

``enroll`` (``homelab ui add-user``, the demo, the tests) makes a key pair, allowlists its
public key and keeps the secret key only sealed with the operator's password in the
operators file (``gui.sealing``); ``unlock`` opens it at login, and the session keeps it in
memory. The UI's own key (``service:ui``) may publish no decision.

Order of the writes, each atomic, so that a kill -9 at any point leaves a usable state:

1. the new public key onto the allowlist: cut here, it is a key whose secret died with the
   process, and the operator's old password and key still work;
2. under the operators file's lock, the new password hash and sealed key: from here on the
   new password and key work (the old key is still allowlisted, its sealed copy gone);
3. still under that lock, every other key of ``operator:NAME`` revoked (``keys.prune``),
   which also clears what an earlier run cut short left behind.

The other order would let a cut leave a sealed key the broker does not know, and the
operator unable to decide until someone noticed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bus import keys
from gui import auth, sealing

log = logging.getLogger("homelab.ui")


def role(name: str) -> str:
    return f"operator:{name}"


def enroll(operators: auth.Operators, folder: Path | None, name: str, password: str) -> None:
    """Add operator ``name`` or give them a new password, with a new bus key (the old one
    revoked). ``folder``: the control plane's keys folder; None (CURVE off): no key."""
    auth.check_name(name)
    auth.check_password(password)
    if folder is None:
        operators.add(name, password)
        return
    public, secret = keys.new_pair()
    sealed = sealing.seal(secret, password, name, public)
    keys.allow(folder, role(name), public)
    with operators.locked():
        operators.put(name, password, sealed)
        keys.prune(folder, role(name), keep=[public])


def remove(operators: auth.Operators, folder: Path | None, name: str) -> None:
    """Remove operator ``name``; their bus key is revoked first, so a cut leaves an operator
    who can log in and decide nothing, never a key that no entry accounts for."""
    with operators.locked():
        if operators.get(name) is None:
            raise auth.AuthError(f"no operator {name!r}")
        if folder is not None:
            keys.prune(folder, role(name))
        operators.drop(name)


def unlock(operators: auth.Operators, name: str, password: str) -> keys.Credentials | None:
    """At login (the password is at hand only then): the keys ``name`` decides with, or None
    when they have no sealed key, it does not open, or CURVE is off (the process has none)."""
    own = keys.current()
    entry = operators.get(name)
    if own is None or entry is None or entry.bus_key is None:
        return None
    try:
        secret = sealing.unseal(entry.bus_key, password, name)
        return keys.from_secret(role(name), secret, own.server)
    except (sealing.SealError, keys.KeyProblem) as err:
        log.error("the bus key of operator %s does not open: %s", name, err)
        return None


def why_locked(operators: auth.Operators, name: str) -> str:
    """One line for an operator whose session holds no bus key: what to do."""
    entry = operators.get(name)
    if entry is None or entry.bus_key is None:
        return (
            f"{name} has no bus key yet: run `homelab ui add-user {name}` on the control "
            "plane (it sets a password and makes the key)"
        )
    return "this session holds no bus key (the UI restarted since you logged in): log in again"
