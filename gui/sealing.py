"""An operator's bus secret key, sealed with a key derived from their password.

The UI's operators file keeps each operator's CURVE secret key only in this form: scrypt
turns the password into a 256-bit key (its parameters stored with the blob, so they can be
raised for new seals while old ones still open), AES-GCM encrypts the secret key with a
random salt and nonce, and the operator's name and public key are the associated data, so
a blob moved to another operator's entry does not open. Whoever holds the file can only
guess passwords offline, each guess costing a scrypt. Pure: no file, no bus.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field

VERSION = 1
N, R, P = 2**15, 8, 1  # scrypt: about 32 MiB and 0.1 s per guess on this machine
MAX_LOG2_N = 22  # a blob asking for more than 4 GiB of scrypt is not ours
SALT_BYTES, NONCE_BYTES = 16, 12


class SealError(Exception):
    """The blob does not open: wrong password, another operator's, or tampered with."""


class SealedKey(BaseModel):
    """What the operators file holds of an operator's bus key (binary fields base64)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    version: int = VERSION
    public: str = Field(min_length=40, max_length=40)  # Z85: which key is allowlisted
    kdf: str = "scrypt"
    n: int = Field(gt=1)
    r: int = Field(ge=1, le=64)
    p: int = Field(ge=1, le=16)
    salt: str
    nonce: str
    sealed: str  # AES-GCM ciphertext and tag of the Z85 secret key

    def sealed_parts(self) -> tuple[str, str, str]:
        return self.salt, self.nonce, self.sealed


def seal(secret: bytes, password: str, name: str, public: bytes, n: int = N) -> SealedKey:
    """``secret`` sealed for operator ``name`` (whose public key is ``public``)."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    key = _derive(password, salt, n, R, P)
    sealed = AESGCM(key).encrypt(nonce, secret, _associated(name, public.decode()))
    return SealedKey(
        public=public.decode(),
        n=n,
        r=R,
        p=P,
        salt=_b64(salt),
        nonce=_b64(nonce),
        sealed=_b64(sealed),
    )


def unseal(blob: SealedKey, password: str, name: str) -> bytes:
    """The secret key, or SealError when the password, the name or the blob is not right."""
    if blob.version != VERSION or blob.kdf != "scrypt" or blob.n.bit_length() - 1 > MAX_LOG2_N:
        raise SealError("not a sealed key this version knows")
    try:
        salt, nonce, sealed = (base64.b64decode(v, validate=True) for v in blob.sealed_parts())
        key = _derive(password, salt, blob.n, blob.r, blob.p)
        return AESGCM(key).decrypt(nonce, sealed, _associated(name, blob.public))
    except (InvalidTag, ValueError) as err:
        raise SealError("the sealed key does not open with this password") from err


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    memory = 128 * n * r * p + 1024 * 1024
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=32)


def _associated(name: str, public: str) -> bytes:
    return f"homelab operator bus key v{VERSION}\0{name}\0{public}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
