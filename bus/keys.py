"""CURVE keys on disk: the broker's key pair, a key pair per client, and the allowlist.

    keys/                      (``HOMELAB_KEYS``; the data root's ``keys/`` by default)
    ├── .lock                  taken while the folder is changed (flock)
    ├── broker.key             the broker's public key (ZeroMQ certificate format)
    ├── broker.key_secret      its secret key, 0600
    ├── allowlist.json         public key (Z85) -> role: who may connect, and as whom
    └── clients/
        ├── service-observer.key, service-observer.key_secret (0600)
        ├── agent-web1.key, agent-web1.key_secret
        └── tool-cli.key, tool-cli.key_secret ...

A role says who a key is: ``service:NAME`` (the control plane's own processes),
``agent:NODE``, ``operator:NAME``, ``tool:NAME``. The broker (``bus.broker``) takes a
client's role from the key it proved (ZAP), never from what a message says.

The certificate files are those of ``zmq.auth`` (pyzmq and czmq read them), written here
atomically (temporary file, fsync, rename) with secrets 0600 from the first byte.
A client gets its keys from ``use`` (once per process); the sockets of ``bus.client`` and
``bus.aio`` apply them. Knows nothing of actors.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from bus import errors
from bus.durable import write_atomic

KINDS = ("service", "agent", "operator", "tool")
SERVICES = ("broker", "observer", "supervisor", "executor", "ui")
NAME = r"[a-z0-9][a-z0-9_-]{0,62}"  # as an inventory's node names
OPERATOR = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # as `homelab actions approve --by`
ROLE = re.compile(rf"^(service:({'|'.join(SERVICES)})|(agent|tool):{NAME}|operator:{OPERATOR})$")
Z85_KEY = re.compile(r"^[0-9a-zA-Z.:+=^!/*?&<>()\[\]{}@%$#-]{40}$")
ALLOWLIST_BYTES = 4 * 1024 * 1024  # a file larger than this is not ours
CERT_BYTES = 4096
log = logging.getLogger("homelab.bus.keys")


class KeyProblem(errors.HomelabError):
    """A key or the allowlist is missing or damaged: one line saying what to do."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a client socket needs: its own key pair and the broker's public key (Z85)."""

    role: str
    public: bytes
    secret: bytes
    server: bytes

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.curve_serverkey = self.server


# A process's keys: one Credentials, or a function of the source a publisher claims (None
# for a reader) that picks them; None: the NULL mechanism (HOMELAB_CURVE=off).
Provider = Credentials | Callable[[str | None], "Credentials | None"] | None
_provider: Provider = None
PROCESS = object()  # ``secure``'s default: the keys ``use`` set for this process


def use(provider: Provider) -> None:
    """Set the keys every bus socket of this process connects with from now on."""
    global _provider
    _provider = provider


def current(source: str | None = None, keys: Provider | object = PROCESS) -> Credentials | None:
    """The keys for a socket of a client that publishes as ``source`` (None: reads): from
    ``keys``, or by default the process's (``use``); None: the NULL mechanism."""
    provider = _provider if keys is PROCESS else keys
    return provider(source) if callable(provider) else provider  # type: ignore[return-value]


def secure(sock: zmq.Socket, source: str | None = None, keys: Provider | object = PROCESS) -> None:
    """Apply the keys (``current``) to a client socket before it connects."""
    chosen = current(source, keys)
    if chosen is not None:
        chosen.apply(sock)


def check_role(role: str) -> str:
    """``role`` if it is one (``service:observer``, ``agent:web1``...); ValueError if not."""
    if not isinstance(role, str) or not ROLE.match(role):
        raise ValueError(
            f"bad role {role!r}: expected service:{'|'.join(SERVICES)}, agent:NODE, "
            "tool:NAME (a-z, 0-9, _ and -, at most 63) or operator:NAME (also A-Z and .)"
        )
    return role


def file_stem(role: str) -> str:
    """``agent:web1`` -> ``agent-web1``: the name of its files in ``clients/``."""
    return check_role(role).replace(":", "-", 1)


# -- the folder -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KeyDir:
    path: Path

    @property
    def broker_public(self) -> Path:
        return self.path / "broker.key"

    @property
    def broker_secret(self) -> Path:
        return self.path / "broker.key_secret"

    @property
    def allowlist(self) -> Path:
        return self.path / "allowlist.json"

    @property
    def clients(self) -> Path:
        return self.path / "clients"

    def client_public(self, role: str) -> Path:
        return self.clients / f"{file_stem(role)}.key"

    def client_secret(self, role: str) -> Path:
        return self.clients / f"{file_stem(role)}.key_secret"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive while the folder is changed: services of one root start together."""
        self.clients.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def ensure(folder: Path, roles: Iterable[str] = ()) -> list[str]:
    """Make what is missing: the broker's key pair, and a key pair for each of ``roles``
    (allowlisted with that role). Returns what was made (``broker``, roles). OSError when
    the folder cannot be written; KeyProblem when what is there is damaged."""
    keydir = KeyDir(folder)
    wanted = [check_role(role) for role in roles]
    if _all_there(keydir, wanted):
        return []
    made = []
    with keydir.locked():
        if not keydir.broker_secret.exists() and keydir.broker_public.exists():
            raise KeyProblem(
                f"{keydir.path} holds only the broker's public key (not the control plane): "
                f"copy the keys of {', '.join(wanted) or 'this client'} from "
                "`homelab keys add ...` there"
            )
        if not keydir.broker_secret.exists():
            public, secret = zmq.curve_keypair()
            _write_cert(keydir.broker_public, keydir.broker_secret, public, secret)
            made.append("broker")
        allowed = read_allowlist(keydir.allowlist) if keydir.allowlist.exists() else {}
        for role in wanted:
            if keydir.client_secret(role).exists():
                continue
            public, secret = zmq.curve_keypair()
            _write_cert(keydir.client_public(role), keydir.client_secret(role), public, secret)
            allowed[public.decode()] = role
            made.append(role)
        if made or not keydir.allowlist.exists():
            write_allowlist(keydir.allowlist, allowed)
    return made


def _all_there(keydir: KeyDir, roles: list[str]) -> bool:
    paths = [keydir.broker_secret, keydir.allowlist, *map(keydir.client_secret, roles)]
    return all(path.exists() for path in paths)


def add(folder: Path, role: str) -> Credentials:
    """A new key pair for ``role``, allowlisted; its files replace any of that role."""
    keydir = KeyDir(folder)
    check_role(role)
    ensure(folder)
    with keydir.locked():
        public, secret = zmq.curve_keypair()
        allowed = read_allowlist(keydir.allowlist)
        old = keydir.client_public(role)
        if old.exists():  # rotate: the old key goes
            allowed.pop(load_public(old).decode(), None)
        _write_cert(keydir.client_public(role), keydir.client_secret(role), public, secret)
        allowed[public.decode()] = role
        write_allowlist(keydir.allowlist, allowed)
    return client(folder, role)


def revoke(folder: Path, what: str) -> list[str]:
    """Take a role (every key of it) or one public key (Z85) off the allowlist, and delete
    the role's files here; the keys revoked. The broker refuses them from then on."""
    keydir = KeyDir(folder)
    with keydir.locked():
        allowed = read_allowlist(keydir.allowlist)
        gone = [key for key, role in allowed.items() if what in (key, role)]
        for key in gone:
            role = allowed.pop(key)
            public = keydir.client_public(role)
            if public.exists() and load_public(public).decode() == key:
                keydir.client_secret(role).unlink(missing_ok=True)
                public.unlink()
        if gone:
            write_allowlist(keydir.allowlist, allowed)
    return gone


def new_pair() -> tuple[bytes, bytes]:
    """A fresh CURVE key pair (public, secret), both Z85, written nowhere."""
    return zmq.curve_keypair()


def allow(folder: Path, role: str, public: bytes) -> None:
    """Put ``public`` on the allowlist as ``role``, beside the role's other keys; its secret
    key stays with the caller (an operator's of the UI is kept sealed, never in a file)."""
    keydir = KeyDir(folder)
    check_role(role)
    if not Z85_KEY.match(public.decode("ascii", "replace")):
        raise ValueError("not a Z85 public key")
    ensure(folder)
    with keydir.locked():
        allowed = read_allowlist(keydir.allowlist)
        allowed[public.decode()] = role
        write_allowlist(keydir.allowlist, allowed)


def prune(folder: Path, role: str, keep: Iterable[bytes] = ()) -> list[str]:
    """Revoke every key of ``role`` but ``keep`` and the one whose files are in this folder
    (``homelab actions approve --by`` on the control plane); the keys revoked. Idempotent,
    so a run cut short is finished by the next."""
    keydir = KeyDir(folder)
    check_role(role)
    kept = {key.decode() for key in keep}
    with keydir.locked():
        allowed = read_allowlist(keydir.allowlist)
        local = keydir.client_public(role)
        if local.exists():
            kept.add(load_public(local).decode())
        gone = [key for key, owner in allowed.items() if owner == role and key not in kept]
        for key in gone:
            del allowed[key]
        if gone:
            write_allowlist(keydir.allowlist, allowed)
    return gone


def from_secret(role: str, secret: bytes, server: bytes) -> Credentials:
    """The keys of a client whose secret key was kept elsewhere (an operator's, unsealed at
    login): its public key is derived from it."""
    if not Z85_KEY.match(secret.decode("ascii", "replace")):
        raise KeyProblem("damaged secret key (expected 40 Z85 characters)")
    return Credentials(check_role(role), zmq.curve_public(secret), secret, server)


def client(folder: Path, role: str) -> Credentials:
    """The keys a client of ``role`` connects with (its pair, the broker's public key)."""
    keydir = KeyDir(folder)
    public, secret = _load_secret(keydir.client_secret(role))
    return Credentials(check_role(role), public, secret, load_public(keydir.broker_public))


def from_files(secret_file: Path, broker_file: Path, role: str) -> Credentials:
    """The keys of a client on another machine, from the two files ``homelab keys add``
    told to copy there: its own secret key file (0600, as ssh wants of its keys) and the
    broker's public key. KeyProblem (one line) if either will not do."""
    public, secret = _load_secret(secret_file)
    if not secret_mode_ok(secret_file):
        raise KeyProblem(
            f"{secret_file}: others may read this secret key (chmod 600 {secret_file})"
        )
    return Credentials(check_role(role), public, secret, load_public(broker_file))


def server(folder: Path) -> tuple[bytes, bytes]:
    """The broker's (public, secret) key pair."""
    return _load_secret(KeyDir(folder).broker_secret)


def load_public(path: Path) -> bytes:
    public, _ = _load(path)
    return public


def _load_secret(path: Path) -> tuple[bytes, bytes]:
    public, secret = _load(path)
    if secret is None:
        raise KeyProblem(f"{path}: no secret key in it (copy the .key_secret file)")
    return public, secret


def _load(path: Path) -> tuple[bytes, bytes | None]:
    """A certificate's keys, checked; KeyProblem (one line) if missing or damaged."""
    try:
        if path.stat().st_size > CERT_BYTES:
            raise KeyProblem(f"{path}: not a key file (larger than {CERT_BYTES} bytes)")
        public, secret = zmq.auth.load_certificate(path)
    except FileNotFoundError:
        raise KeyProblem(
            f"no key at {path}: run `homelab init` on the control plane, or copy it there "
            "from `homelab keys add ...`"
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise KeyProblem(f"{path}: not a readable key file: {err}") from None
    for key in (public, secret):
        if key is not None and not Z85_KEY.match(key.decode("ascii", "replace")):
            raise KeyProblem(f"{path}: damaged key (expected 40 Z85 characters)")
    if public is None:
        raise KeyProblem(f"{path}: no public key in it")
    if secret is not None and zmq.curve_public(secret) != public:
        raise KeyProblem(f"{path}: its secret key does not match its public key")
    return public, secret


# -- the allowlist --------------------------------------------------------------------------


def read_allowlist(path: Path) -> dict[str, str]:
    """Public key (Z85) -> role, checked entry by entry; KeyProblem if damaged."""
    try:
        with open(path, "rb") as file:
            data = file.read(ALLOWLIST_BYTES + 1)
    except FileNotFoundError:
        raise KeyProblem(f"no allowlist at {path}: run `homelab init`") from None
    except OSError as err:
        raise KeyProblem(f"cannot read the allowlist {path}: {err.strerror or err}") from None
    if len(data) > ALLOWLIST_BYTES:
        raise KeyProblem(f"{path}: larger than {ALLOWLIST_BYTES} bytes")
    try:
        doc = json.loads(data)
        entries = doc["keys"]
        allowed = {}
        for entry in entries:
            key, role = entry["key"], check_role(entry["role"])
            if not isinstance(key, str) or not Z85_KEY.match(key):
                raise ValueError(f"bad key {key!r}")
            allowed[key] = role
    except RecursionError:  # nested deeper than json can read: not an allowlist
        raise KeyProblem(f"{path}: damaged allowlist: nested too deep") from None
    except (ValueError, KeyError, TypeError) as err:
        raise KeyProblem(f"{path}: damaged allowlist: {err}") from None
    return allowed


def write_allowlist(path: Path, allowed: dict[str, str]) -> None:
    entries = [{"key": key, "role": role} for key, role in sorted(allowed.items(), key=_by_role)]
    text = json.dumps({"keys": entries}, indent=2) + "\n"
    write_atomic(path, text.encode(), 0o644)


def _by_role(item: tuple[str, str]) -> tuple[str, str]:
    return item[1], item[0]


class Allowlist:
    """The allowlist as the broker sees it: read again whenever the file changes, so a key
    added or revoked counts without a restart. Safe to use from the ZAP thread too."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._roles: dict[bytes, str] = {}
        self.problem: str | None = None  # why the file could not be read (then: none pass)
        self.revocations = 0  # reads that took a key off (or changed its role): counted
        self.refresh()

    def refresh(self) -> bool:
        """Read the file again if it changed; True if it did."""
        try:
            info = os.stat(self.path)
            seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            seen = None
        if seen == self._seen and seen is not None:
            return False
        with self._lock:
            try:
                roles = {key.encode(): role for key, role in read_allowlist(self.path).items()}
                self.problem = None
            except KeyProblem as err:
                roles, self.problem = {}, str(err)
            if revoked(self._roles, roles):
                self.revocations += 1
            self._roles, self._seen = roles, seen
        return True

    def role(self, key: bytes) -> str | None:
        """The role of a public key (Z85), None if it is not allowed."""
        return self._roles.get(key)

    def __len__(self) -> int:
        return len(self._roles)

    # the ZAP handler's credentials provider (zmq.auth.Authenticator.configure_curve_callback)
    def callback(self, domain: str, key: bytes) -> bool:
        self.refresh()
        return key in self._roles


def revoked(before: dict[bytes, str], after: dict[bytes, str]) -> bool:
    """Whether a key allowed ``before`` is not allowed ``after``, or as another role: its
    live connections must end (``bus.relisten``)."""
    return any(after.get(key) != role for key, role in before.items())


ZAP_DOMAIN = "homelab"


class Server:
    """The broker's side: its key pair, the allowlist, and the ZAP handler (pyzmq's
    ``zmq.auth`` in a thread) that lets in only allowlisted keys. The User-Id of every
    frame a client sends is then its public key (Z85); ``Allowlist.role`` says who that is."""

    def __init__(self, public: bytes, secret: bytes, allowlist: Allowlist):
        self.public, self.secret, self.allowlist = public, secret, allowlist
        self._auth: ThreadAuthenticator | None = None

    @classmethod
    def load(cls, folder: Path) -> Server:
        public, secret = server(folder)
        allowlist = Allowlist(KeyDir(folder).allowlist)
        if allowlist.problem:
            raise KeyProblem(allowlist.problem)
        return cls(public, secret, allowlist)

    def start(self, ctx: zmq.Context) -> None:
        """Answer ZAP requests of the sockets of ``ctx`` (one handler per context)."""
        self._auth = ThreadAuthenticator(ctx, log=log)
        self._auth.start()
        self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self.allowlist)

    def secure(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server whose clients the ZAP handler checks."""
        sock.zap_domain = ZAP_DOMAIN.encode()
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def stop(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


# -- files ----------------------------------------------------------------------------------


def _write_cert(public_path: Path, secret_path: Path, public: bytes, secret: bytes) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    head = f"#   ****  Generated on {stamp} by homelab (pyzmq format)  ****\n"
    write_atomic(
        secret_path,
        (
            head + "#   ZeroMQ CURVE **Secret** Certificate\n"
            "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
            f'metadata\ncurve\n    public-key = "{public.decode()}"\n'
            f'    secret-key = "{secret.decode()}"\n'
        ).encode(),
        0o600,
    )
    write_atomic(
        public_path,
        (
            head + "#   ZeroMQ CURVE Public Certificate\n\n"
            f'metadata\ncurve\n    public-key = "{public.decode()}"\n'
        ).encode(),
        0o644,
    )


def secret_mode_ok(path: Path) -> bool:
    """True if no one but the owner may read the secret file at ``path``."""
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
