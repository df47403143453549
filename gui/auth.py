"""Who may use the UI: operators with argon2-hashed passwords, and the UI's secret.

Operators live in one JSON file under the data root (``ui/operators.json``, mode 0600),
rewritten atomically under a lock so two ``homelab ui add-user`` at once lose nothing. The
session secret (``ui/session_secret``, 0600) is made on first start unless configured.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import argon2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actors import atomic
from gui.sealing import SealedKey

NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")
NAME_RULE = "1-32 characters: a-z first, then a-z, 0-9, '_', '.', '-'"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a login request cheap
_hasher = argon2.PasswordHasher()


class AuthError(Exception):
    """A user mistake (bad name, short password, unknown operator): one line for people."""


class Operator(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    hash: str = Field(min_length=1)
    created: float
    bus_key: SealedKey | None = None  # operator:NAME's secret key, sealed (gui.sealing)


class OperatorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: int = 1
    operators: dict[str, Operator] = {}


class Operators:
    """The operators file. Every method reads it afresh: another process may change it."""

    def __init__(self, path: Path):
        self.path = path

    def names(self) -> list[str]:
        return sorted(self._load().operators)

    def hashes(self) -> dict[str, str]:
        """Each operator's password hash: a session lasts while its operator's stays the same."""
        return {name: o.hash for name, o in self._load().operators.items()}

    def get(self, name: str) -> Operator | None:
        return self._load().operators.get(name)

    def add(self, name: str, password: str, bus_key: SealedKey | None = None) -> None:
        """Add ``name`` or give them a new password (and bus key: ``gui.operator_keys``)."""
        with self.locked():
            self.put(name, password, bus_key)

    def put(self, name: str, password: str, bus_key: SealedKey | None = None) -> None:
        """``add`` for a caller that holds ``locked()``."""
        check_name(name)
        check_password(password)
        current = self._load()
        current.operators[name] = Operator(
            hash=_hasher.hash(password), created=time.time(), bus_key=bus_key
        )
        self._save(current)

    def remove(self, name: str) -> None:
        with self.locked():
            self.drop(name)

    def drop(self, name: str) -> None:
        """``remove`` for a caller that holds ``locked()``."""
        current = self._load()
        if current.operators.pop(name, None) is None:
            raise AuthError(f"no operator {name!r}")
        self._save(current)

    def verify(self, name: str, password: str) -> bool:
        """True if ``name`` is an operator with that password. Takes as long for an unknown
        name, so timing does not tell which names exist."""
        operator = self._load().operators.get(name) if NAME.match(name) else None
        if len(password) > MAX_PASSWORD:
            return False
        try:
            _hasher.verify(operator.hash if operator else _dummy_hash(), password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
        return operator is not None

    def _load(self) -> OperatorsFile:
        try:
            return OperatorsFile.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return OperatorsFile()
        except (OSError, ValidationError, ValueError) as err:
            raise AuthError(
                f"{self.path} is not a valid operators file: {_first_line(err)}"
            ) from None

    def _save(self, content: OperatorsFile) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_atomic(self.path, content.model_dump_json(indent=2).encode() + b"\n", 0o600)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive between processes while the file is read and rewritten (not
        re-entrant: ``put`` and ``drop`` are the methods to call inside)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown names: the same work as for a real one."""
    return _hasher.hash(secrets.token_hex(16))


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise AuthError(f"bad operator name {name!r}: {NAME_RULE}")
    return name


def session_secret(path: Path) -> str:
    """The secret that keys the session store and signs device cookies: read, or made once
    (0600, never rewritten)."""
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if len(secret) >= 32:
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile, or it is too short
        secret = path.read_text().strip()
        if len(secret) < 32:
            raise AuthError(f"{path} holds no usable secret: delete it to make a new one") from None
        return secret
    secret = secrets.token_urlsafe(48)
    try:
        os.write(fd, (secret + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return secret


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
