"""The subscriber's decisions, frame by frame, with no sockets."""

from __future__ import annotations

from bus import envelope, records
from bus.subscription import Tracker
from helpers import body


def live(tracker: Tracker, seq: int, topic: str = "obs.a"):
    """One message alone in a publication frame: the message delivered, or None."""
    delivered = tracker.on_live(records.frame(body(seq, topic)))
    assert len(delivered) <= 1
    return delivered[0] if delivered else None


def test_a_live_only_subscriber_starts_at_the_head_and_delivers_the_next_seq():
    tracker = Tracker()
    tracker.start_at(10)
    assert live(tracker, 10) is None  # already happened before we started
    assert live(tracker, 11).seq == 11
    assert tracker.position == 11 and not tracker.behind


def test_a_gap_stops_delivery_until_the_log_fills_it():
    tracker = Tracker(position=5)
    tracker.on_fetched(head=5, scanned_to=5, bodies=[])
    assert live(tracker, 8) is None and tracker.behind
    assert live(tracker, 9) is None  # nothing is delivered past a gap
    fetched = tracker.on_fetched(head=9, scanned_to=9, bodies=[body(s) for s in (6, 7, 8, 9)])
    assert [m.seq for m in fetched] == [6, 7, 8, 9]
    assert not tracker.behind
    assert live(tracker, 9) is None and live(tracker, 10).seq == 10


def test_since_means_catch_up_first():
    tracker = Tracker(position=0)
    assert tracker.behind
    assert live(tracker, 1) is None


def test_other_topics_advance_the_position_but_are_not_delivered():
    tracker = Tracker(["world."], position=0)
    tracker.on_fetched(head=0, scanned_to=0, bodies=[])
    assert live(tracker, 1, "obs.a") is None
    assert live(tracker, 2, "world.n").topic == "world.n"
    assert not tracker.behind


def test_a_fetch_that_stops_short_of_the_head_keeps_fetching():
    tracker = Tracker(position=0)
    tracker.on_fetched(head=100, scanned_to=40, bodies=[body(s) for s in range(1, 41)])
    assert tracker.behind and tracker.fetch_after() == 40


def test_duplicates_from_a_fetch_overlapping_live_frames_are_dropped():
    tracker = Tracker(position=3)
    tracker.on_fetched(head=3, scanned_to=3, bodies=[])
    assert live(tracker, 4).seq == 4
    fetched = tracker.on_fetched(head=5, scanned_to=5, bodies=[body(4), body(5)])
    assert [m.seq for m in fetched] == [5]
    assert envelope.body_seq(body(5)) == 5


def test_a_frame_of_many_records_delivers_up_to_a_gap_and_stops_there():
    tracker = Tracker(position=0)
    tracker.on_fetched(head=0, scanned_to=0, bodies=[])
    frame = b"".join(records.frame(body(s)) for s in (1, 2, 4, 5))
    assert [m.seq for m in tracker.on_live(frame)] == [1, 2]
    assert tracker.behind and tracker.position == 2 and tracker.gaps == 1


def test_a_lossy_subscriber_goes_on_past_a_gap_and_counts_what_it_missed():
    tracker = Tracker(skip_gaps=True)
    tracker.start_at(10)
    assert live(tracker, 11).seq == 11
    assert live(tracker, 15).seq == 15  # 12, 13 and 14 are never fetched
    assert not tracker.behind and tracker.skipped == 3 and tracker.gaps == 1
    assert live(tracker, 15) is None and live(tracker, 16).seq == 16
