"""An operator's bus key sealed with their password: only that password, that name and that
very blob open it."""

from __future__ import annotations

import base64

import pytest

from bus import keys
from gui import sealing

PASSWORD = "correct horse"
FAST = 2**10  # scrypt's cost for these tests; the stored n is what unseal uses


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return keys.new_pair()


@pytest.fixture
def sealed(pair) -> sealing.SealedKey:
    public, secret = pair
    return sealing.seal(secret, PASSWORD, "alice", public, n=FAST)


def test_the_password_opens_the_secret_key(sealed, pair):
    assert sealing.unseal(sealed, PASSWORD, "alice") == pair[1]


def test_the_blob_holds_no_secret_in_clear_and_names_its_parameters(sealed, pair):
    text = sealed.model_dump_json()
    assert pair[1].decode() not in text
    assert (sealed.kdf, sealed.n, sealed.r, sealed.p, sealed.public) == (
        "scrypt",
        FAST,
        8,
        1,
        pair[0].decode(),
    )


def test_two_seals_of_one_key_differ(pair):
    one, two = (sealing.seal(pair[1], PASSWORD, "alice", pair[0], n=FAST) for _ in range(2))
    assert (one.salt, one.nonce, one.sealed) != (two.salt, two.nonce, two.sealed)


def test_a_wrong_password_does_not_open_it(sealed):
    with pytest.raises(sealing.SealError):
        sealing.unseal(sealed, "wrong horse", "alice")


def test_another_operators_blob_does_not_open_for_this_name(sealed):
    with pytest.raises(sealing.SealError):  # bob's entry given alice's blob
        sealing.unseal(sealed, PASSWORD, "bob")


@pytest.mark.parametrize("field", ["sealed", "nonce", "salt", "public"])
def test_a_tampered_blob_does_not_open(sealed, field):
    if field == "public":
        changed = sealed.model_copy(update={"public": keys.new_pair()[0].decode()})
    else:
        raw = bytearray(base64.b64decode(getattr(sealed, field)))
        raw[0] ^= 1
        changed = sealed.model_copy(update={field: base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(sealing.SealError):
        sealing.unseal(changed, PASSWORD, "alice")


@pytest.mark.parametrize("n", [3 * 1024, 2**40])
def test_parameters_that_are_not_ours_fail_as_a_seal_error(sealed, n):
    with pytest.raises(sealing.SealError):
        sealing.unseal(sealed.model_copy(update={"n": n}), PASSWORD, "alice")


def test_a_stronger_seal_still_opens_with_its_stored_parameters(pair):
    strong = sealing.seal(pair[1], PASSWORD, "alice", pair[0], n=2 * sealing.N)
    assert sealing.unseal(strong, PASSWORD, "alice") == pair[1]
