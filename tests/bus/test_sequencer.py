"""Stamping: gapless seqs, the time as given, duplicates answered with the first seq."""

from __future__ import annotations

import msgpack
import pytest

from bus import envelope
from bus.protocol import Envelope
from bus.sequencer import Sequencer


def item(msg_id: str, topic: str = "obs.a") -> Envelope:
    return Envelope(envelope.encode_wire(topic, msg_id, "t", {"k": msg_id}), topic, msg_id, "t")


def test_seqs_continue_from_the_last_one_without_gaps():
    sequencer = Sequencer(last_seq=41)
    bodies, topics, seqs = sequencer.stamp([item("a"), item("b"), item("c")], now=10.0)
    assert seqs == [42, 43, 44]
    assert [envelope.body_seq(b) for b in bodies] == [42, 43, 44]
    assert topics == ["obs.a"] * 3
    assert sequencer.last_seq == 44


def test_a_body_decodes_to_the_publishers_message_with_seq_time_and_who_sent_it():
    bodies, _, _ = Sequencer().stamp([item("a", "world.x")], now=123.5, identities=["tool:t"])
    message = envelope.decode_body(bodies[0])
    assert message == envelope.Message(1, 123.5, "world.x", "a", "t", {"k": "a"}, "tool:t")


def test_each_message_of_a_batch_keeps_its_own_sender_and_none_given_is_anonymous():
    bodies, _, _ = Sequencer().stamp([item("a"), item("b")], 1.0, ["agent:web1", "tool:cli"])
    assert [envelope.decode_body(b).identity for b in bodies] == ["agent:web1", "tool:cli"]
    (body,), _, _ = Sequencer().stamp([item("a")], now=1.0)
    assert envelope.decode_body(body).identity == envelope.ANONYMOUS


def test_a_body_stored_before_identities_reads_with_none_and_the_same_fields():
    wire = envelope.encode_wire("obs.a", "a", "t", {"k": 1})
    old, new = envelope.stamp(wire, 7, 2.5), envelope.stamp(wire, 7, 2.5, "tool:t")
    assert (old[0], new[0]) == (0x96, 0x97)  # arrays of 6 and of 7
    assert envelope.decode_body(old) == envelope.Message(7, 2.5, "obs.a", "a", "t", {"k": 1})
    assert envelope.decode_body(old).identity is None
    assert envelope.decode_body(new)[:6] == envelope.decode_body(old)[:6]
    for body in (old, new):  # what readers take without decoding
        assert (envelope.body_seq(body), envelope.body_time(body)) == (7, 2.5)
        assert (envelope.body_topic(body), envelope.body_key(body)) == ("obs.a", ("t", "a"))


def test_the_time_is_stamped_as_given_also_when_the_clock_went_back():
    sequencer = Sequencer()
    first, _, _ = sequencer.stamp([item("a")], now=100.0)
    second, _, seqs = sequencer.stamp([item("b")], now=99.0)
    assert (envelope.body_time(first[0]), envelope.body_time(second[0])) == (100.0, 99.0)
    assert seqs == [2]  # the seq is the order


def test_a_resent_id_is_not_stored_again_and_gets_its_first_seq():
    sequencer = Sequencer()
    sequencer.stamp([item("a"), item("b")], now=1.0)
    bodies, _, seqs = sequencer.stamp([item("b"), item("c"), item("c")], now=2.0)
    assert seqs == [2, 3, 3]
    assert [envelope.body_seq(b) for b in bodies] == [3]


def test_ids_recovered_from_the_log_are_remembered_after_a_restart():
    sequencer = Sequencer(last_seq=2, recent=[(("t", "a"), 1), (("t", "b"), 2)])
    bodies, _, seqs = sequencer.stamp([item("a"), item("z")], now=1.0)
    assert seqs == [1, 3] and len(bodies) == 1


def test_the_dedup_window_remembers_at_least_half_of_it_and_forgets_older_ids():
    sequencer = Sequencer(window=4)
    sequencer.stamp([item(x) for x in "abcdef"], now=1.0)
    _, _, seqs = sequencer.stamp([item("a"), item("e"), item("f")], now=1.0)
    assert seqs == [7, 5, 6]


def test_the_same_id_from_two_sources_is_two_messages():
    other = Envelope(envelope.encode_wire("obs.a", "a", "u", {}), "obs.a", "a", "u")
    _, _, seqs = Sequencer().stamp([item("a"), other], now=1.0)
    assert seqs == [1, 2]


def test_undo_forgets_the_stamps_of_a_batch_the_log_could_not_store():
    sequencer = Sequencer(window=4)
    sequencer.stamp([item("a")], now=5.0)
    mark = sequencer.mark()
    sequencer.stamp([item(x) for x in "bcdefg"], now=9.0)  # two generations replaced
    sequencer.undo(mark)
    assert sequencer.last_seq == 1
    bodies, _, seqs = sequencer.stamp([item("a"), item("b"), item("c")], now=9.0)
    assert seqs == [1, 2, 3]  # "a" still known; "b" and "c" were forgotten: stored anew
    assert [envelope.body_seq(b) for b in bodies] == [2, 3]


def test_fields_a_later_broker_appends_are_left_out_and_too_few_are_refused():
    later = msgpack.packb([7, 2.5, "obs.a", "a", "t", {"k": 1}, "tool:t", "what comes next"])
    assert envelope.decode_body(later) == envelope.Message(
        7, 2.5, "obs.a", "a", "t", {"k": 1}, "tool:t"
    )
    with pytest.raises(envelope.DecodeError, match="at least 6 fields"):
        envelope.decode_body(msgpack.packb([7, 2.5, "obs.a", "a", "t"]))
