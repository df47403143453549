"""Revoking a key ends its live connections: ``homelab broker`` with CURVE, real sockets.

The broker cannot close one client's connection, so it drops them all (``bus.relisten``);
these tests check that the revoked subscriber hears nothing more while a good one misses
nothing, and that publishes in flight are stored once and acknowledged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus import client, keys
from bus.envelope import Message
from plant import BrokerProcess, homelab, wait_until

HEARD_WAIT = 1.0  # seconds the revoked subscriber is listened to after the good one is done


def drain(subscriber: client.Subscriber, until_seq: int, timeout: float) -> list[Message]:
    """What ``subscriber`` delivers until it has ``until_seq`` (or ``timeout`` passes)."""
    got: list[Message] = []
    wait_until(lambda: _more(subscriber, got) >= until_seq, timeout, f"seq {until_seq}")
    return got


def heard(subscriber: client.Subscriber, seconds: float) -> list[Message]:
    """What ``subscriber`` delivers within ``seconds``; a refused request is nothing heard."""
    got: list[Message] = []
    try:
        wait_until(lambda: _more(subscriber, got) < 0, seconds, "nothing")
    except (AssertionError, client.BusError):
        pass
    return got


def _more(subscriber: client.Subscriber, got: list[Message]) -> int:
    message = subscriber.get(timeout=0.05)
    if message is not None:
        got.append(message)
    return got[-1].seq if got else 0


def relistens(broker: BrokerProcess, credentials: keys.Credentials) -> int:
    return client.ping(broker.endpoint, curve=credentials)["relistens"]


def test_a_revoked_subscriber_hears_nothing_more_and_a_good_one_misses_nothing(guarded, own_keys):
    good, spy, pub = (own_keys.of(r) for r in ("tool:good", "tool:spy", "tool:pub"))
    with (
        client.Subscriber(guarded.endpoint, curve=good) as listener,
        client.Subscriber(guarded.endpoint, curve=spy) as revoked,
        client.Publisher(guarded.endpoint, "emit", timeout=10, curve=pub) as publisher,
    ):
        first = publisher.publish("note.before", {"n": 0})
        assert drain(revoked, first, 10)[-1].topic == "note.before"  # it was listening
        keys.revoke(own_keys.folder, "tool:spy")
        during = []  # published one at a time while the broker drops every connection
        while relistens(guarded, pub) == 0 and len(during) < 200:
            during.append(publisher.publish("note.during", {"n": len(during)}))
        assert relistens(guarded, pub) == 1
        after = [publisher.publish("note.after", {"n": n}) for n in range(20)]
        got = drain(listener, after[-1], 15)
        late = heard(revoked, HEARD_WAIT)
    seqs = [m.seq for m in got]
    assert seqs == list(range(seqs[0], after[-1] + 1))  # every seq, no gap, nothing twice
    assert seqs[0] <= first and set(during) <= set(seqs)
    assert not [m for m in late if m.seq >= after[0]]
    ids = [record["id"] for record in stored(guarded.root, "note.during")]
    assert len(ids) == len(set(ids)) == len(set(during)) == len(during)  # each stored once


def stored(root: Path, topic: str) -> list[dict]:
    """The records of ``topic``, read with ``homelab replay --json``."""
    done = homelab("replay", "--root", str(root), "--json", "--topic", topic, timeout=30)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_key_revoked_just_before_the_broker_is_killed_stays_out_after_its_restart(
    guarded, own_keys
):
    spy, good = own_keys.of("tool:spy"), own_keys.of("tool:good")
    assert client.ping(guarded.endpoint, curve=spy)["seq"] >= 0
    keys.revoke(own_keys.folder, "tool:spy")
    guarded.kill()  # kill -9, right after
    guarded.start()
    with pytest.raises(client.BusUnavailable):
        client.ping(guarded.endpoint, timeout=1.0, curve=spy)
    assert client.ping(guarded.endpoint, curve=good)["relistens"] == 0
