"""How the fixes of a drift ended, folded from the queue's records (pure)."""

from __future__ import annotations

from actors.domain import attempts


def record(action_id: str, state: str, seq: int, began: int = 4, **end) -> dict:
    return {
        "id": action_id,
        "state": state,
        "drift": {"key": "db/stopped", "seqs": [began, seq]},
        "definition": "d1",
        "history": [
            {"kind": "queue", "at": 1.0, "by": "queue", "seq": 5},
            {"kind": "end", "at": float(seq), "by": "executor", "seq": seq, **end},
        ],
    }


def test_the_ends_are_kept_in_the_order_they_happened_whatever_the_order_read():
    records = [record("a-2", "failed", 20), record("a-1", "succeeded", 10)]
    found = attempts.from_records(records)["db/stopped"]
    assert [a.action for a in found.ended] == ["a-1", "a-2"] and found.count == 2
    live: dict[str, attempts.Attempts] = {}
    for r in reversed(records):
        assert attempts.add(live, r)
    assert not attempts.add(live, records[0])  # the same end again changes nothing
    assert live == attempts.from_records(records)


def test_a_rejection_an_open_action_and_a_superseded_one_are_no_round():
    records = [
        record("a-1", "rejected", 10),
        record("a-2", "pending", 11),
        record("a-3", "obsolete", 12, reason=attempts.SUPERSEDED),
    ]
    assert attempts.from_records(records) == {}


def test_what_never_ran_is_a_round_that_does_not_count():
    found = attempts.from_records(
        [
            record("a-1", "expired", 10, reason="expired after 24 h without a decision"),
            record("a-2", "obsolete", 12, reason="the drift is gone"),
        ]
    )["db/stopped"]
    assert (len(found.ended), found.count) == (2, 0)
    assert found.last.text() == "a-2 obsolete: the drift is gone"
    assert found.ended[0].text() == "a-1 expired after 24 h without a decision"


def test_a_later_occurrence_replaces_an_earlier_one_and_not_the_other_way():
    later = record("a-2", "failed", 30, began=25)
    found = attempts.from_records([record("a-1", "failed", 10), later])["db/stopped"]
    assert found.began == 25 and found.ran == ("a-2",)
    live = {"db/stopped": found}
    assert not attempts.add(live, record("a-0", "failed", 8))  # an end of the earlier one
