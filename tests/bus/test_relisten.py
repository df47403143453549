"""When the broker drops every connection after a revocation: once per revocation seen,
at most once a second, and what counts as a revocation."""

from __future__ import annotations

import pytest

from bus import keys
from bus.relisten import Relisten


def test_a_new_revocation_is_due_at_once_and_the_same_one_never_again():
    relisten = Relisten(seen=3)
    assert not relisten.due(3, now=0.0)  # what the broker saw at start: nothing to do
    assert relisten.due(4, now=10.0)
    assert not relisten.due(4, now=20.0)


def test_a_storm_of_revocations_is_handled_at_most_once_a_second():
    relisten = Relisten()
    due = [relisten.due(n, now=n * 0.1) for n in range(1, 31)]  # 30 in 3 seconds
    assert due.count(True) == 3
    assert relisten.due(30, now=10.0)  # the last ones are not lost, only put off


def test_one_seen_within_the_second_is_handled_when_the_second_is_over():
    relisten = Relisten()
    assert relisten.due(1, now=5.0)
    assert not relisten.due(2, now=5.5)
    assert relisten.due(2, now=6.0)


A, B = b"A" * 40, b"B" * 40


@pytest.mark.parametrize(
    ("before", "after", "revoked"),
    [
        ({A: "agent:web1"}, {A: "agent:web1", B: "tool:cli"}, False),  # a key added
        ({A: "agent:web1", B: "tool:cli"}, {A: "agent:web1"}, True),  # one taken off
        ({A: "agent:web1"}, {A: "agent:web2"}, True),  # same key, another role
        ({A: "agent:web1"}, {}, True),  # a damaged allowlist: none pass
        ({}, {}, False),
    ],
    ids=["added", "removed", "role-changed", "emptied", "empty"],
)
def test_what_counts_as_a_revocation(before, after, revoked):
    assert keys.revoked(before, after) is revoked
