"""Who is logged in: server-side sessions named by a random token in a cookie.

A login makes a *new* token (never one the browser brought along, so a cookie planted by a
sibling subdomain can never become a logged-in session); a logout ends it. The store keeps
only a keyed hash of each token (HMAC with the UI's secret), in ``ui/sessions.json`` (0600,
written atomically), so the UI's restart keeps people logged in and the file alone opens
nothing. Changing the secret ends every session.

A session is valid while it has not expired and its operator still exists *with the
password they logged in with*: a password change or a removal (``homelab ui add-user`` /
``remove-user``, from another process) ends it. ``Credentials`` notices such a change by
the operators file's stat, looked at no more than twice a second.

The operator's bus keys, unsealed at login (``gui.operator_keys``), stay in this process's
memory only, beside the session, never in the file or a cookie: they go when the session
ends, and a session the UI's restart kept has none (its operator logs in again to decide).

A second, long-lived cookie marks a browser where an operator logged in before (``device``,
signed, naming the operator): the login limiter lets it through when others are locked out.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from actors import atomic
from bus import keys
from gui import auth

log = logging.getLogger("homelab.ui")

LIFETIME = 14 * 86400.0  # seconds a login lasts
DEVICE_LIFETIME = 365 * 86400.0
MAX_SESSIONS = 1000  # in the store at most; the oldest go first
MAX_PER_OPERATOR = 50
LOOK_EVERY = 0.5  # seconds between looks at the operators file
SESSION_COOKIE, DEVICE_COOKIE = "homelab-session", "homelab-device"
SECURE_PREFIX = "__Host-"  # over https: Secure, Path=/, no Domain (a sibling cannot set it)


def cookie_name(base: str, https: bool) -> str:
    return SECURE_PREFIX + base if https else base


def cookie_attributes(https: bool, max_age: float) -> dict:
    """For ``Response.set_cookie``: never readable by scripts, sent on top-level navigation
    from other sites (links) but not on their forms or frames, Secure over https."""
    return {
        "max_age": int(max_age),
        "path": "/",
        "httponly": True,
        "samesite": "lax",
        "secure": https,
    }


@dataclasses.dataclass(frozen=True)
class Session:
    key: str  # HMAC of the token: what the store and the open pages know it by
    operator: str
    credential: str  # a digest of the operator's password hash when they logged in
    created: float
    expires: float


class Credentials:
    """Each operator's credential digest, from the operators file, re-read when it changes."""

    def __init__(self, operators: auth.Operators, clock: Callable[[], float] = time.monotonic):
        self.operators, self.clock = operators, clock
        self._stamp: tuple | None = None
        self._looked = -LOOK_EVERY
        self._digests: dict[str, str] = {}

    def of(self, name: str) -> str | None:
        """The digest of ``name``'s password hash now; None if there is no such operator."""
        now = self.clock()
        if now - self._looked >= LOOK_EVERY:
            self._looked = now
            stamp = _stamp(self.operators.path)
            if stamp != self._stamp:
                self._stamp = stamp
                self._digests = self._read()
        return self._digests.get(name)

    def _read(self) -> dict[str, str]:
        try:
            hashes = self.operators.hashes()
        except auth.AuthError as err:  # a damaged file lets nobody in until it is mended
            log.error("%s", err)
            return {}
        return {name: digest(h) for name, h in hashes.items()}


class SessionStore:
    def __init__(
        self,
        path: Path,
        secret: str,
        credentials: Credentials,
        lifetime: float = LIFETIME,
        clock: Callable[[], float] = time.time,
    ):
        self.path, self.credentials, self.lifetime, self.clock = path, credentials, lifetime, clock
        self._secret = secret.encode()
        self._sessions: dict[str, Session] = self._load()
        # each session's operator's bus keys, unsealed at login: memory only, never saved
        self._bus_keys: dict[str, keys.Credentials] = {}

    # -- sessions ---------------------------------------------------------------------------

    def create(self, operator: str, bus_key: keys.Credentials | None = None) -> str:
        """A new session for ``operator`` (who just gave the right password): its token.
        ``bus_key``: the operator's bus keys, held in memory while the session lasts."""
        credential = self.credentials.of(operator) or ""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(self.key(token), operator, credential, now, now + self.lifetime)
        self._sessions[session.key] = session
        if bus_key is not None:
            self._bus_keys[session.key] = bus_key
        self._bound(operator)
        self._save()
        return token

    def get(self, token: str | None) -> Session | None:
        """The valid session a cookie's token names, or None."""
        if not token or len(token) > 100:
            return None
        return self.valid(self.key(token))

    def valid(self, key: str | None) -> Session | None:
        """The session stored under ``key`` if it is still valid."""
        session = self._sessions.get(key or "")
        if session is None:
            return None
        if session.expires <= self.clock():
            self.end(session.key)
            return None
        current = self.credentials.of(session.operator)
        if current is None or not hmac.compare_digest(current, session.credential):
            self._bus_keys.pop(session.key, None)
            return None  # the password changed, or the operator is gone
        return session

    def bus_key(self, key: str | None) -> keys.Credentials | None:
        """The bus keys of the valid session stored under ``key`` (None: none unlocked)."""
        session = self.valid(key)
        return self._bus_keys.get(session.key) if session else None

    def end(self, key: str) -> None:
        self._bus_keys.pop(key, None)
        if self._sessions.pop(key, None) is not None:
            self._save()

    def key(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    # -- devices ----------------------------------------------------------------------------

    def device_token(self, operator: str, device: str | None = None) -> str:
        """A signed mark that this browser logged in as ``operator`` (keeps its id)."""
        body = {
            "op": operator,
            "id": device or secrets.token_urlsafe(12),
            "exp": int(self.clock() + DEVICE_LIFETIME),
        }
        encoded = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode())
        raw = encoded.decode().rstrip("=")  # no '=': a cookie value without quotes
        return f"{raw}.{self._sign(raw)}"

    def device_of(self, token: str | None, operator: str) -> str | None:
        """The device id if ``token`` is a valid mark for ``operator``, else None."""
        if not token or len(token) > 400 or "." not in token:
            return None
        raw, signature = token.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(raw)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, TypeError):
            return None
        if not isinstance(body, dict) or body.get("op") != operator:
            return None
        if not isinstance(body.get("exp"), int) or body["exp"] <= self.clock():
            return None
        device = body.get("id")
        return device if isinstance(device, str) else None

    def _sign(self, raw: str) -> str:
        return hmac.new(self._secret, b"device:" + raw.encode(), hashlib.sha256).hexdigest()

    # -- storage ----------------------------------------------------------------------------

    def _bound(self, operator: str) -> None:
        """Forget expired sessions, then the oldest beyond the limits."""
        now = self.clock()
        kept = sorted(
            (s for s in self._sessions.values() if s.expires > now), key=lambda s: s.created
        )
        mine = [s for s in kept if s.operator == operator]
        drop = {s.key for s in mine[: max(0, len(mine) - MAX_PER_OPERATOR)]}
        kept = [s for s in kept if s.key not in drop]
        self._sessions = {s.key: s for s in kept[-MAX_SESSIONS:]}
        self._bus_keys = {k: c for k, c in self._bus_keys.items() if k in self._sessions}

    def _load(self) -> dict[str, Session]:
        try:
            entries = json.loads(self.path.read_bytes()).get("sessions", [])
            found = [Session(**entry) for entry in entries]
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError) as err:
            log.warning("%s is unreadable (%s): everyone logs in again", self.path, err)
            return {}
        now = self.clock()
        return {s.key: s for s in found if s.expires > now}

    def _save(self) -> None:
        body = {"version": 1, "sessions": [dataclasses.asdict(s) for s in self._sessions.values()]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_atomic(self.path, json.dumps(body, indent=1).encode() + b"\n", 0o600)


def digest(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
