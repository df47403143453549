"""The bounded history with a real broker: sealed segments compressed, old ones deleted,
every reader (a subscriber's catch-up, ``homelab replay``) starting where history begins,
and a kill -9 of the broker in the middle of it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bus import client, envelope
from bus.filelog import FileLog, list_segments
from plant import BrokerProcess, free_port_pair, homelab, wait_until

pytestmark = pytest.mark.slow

DAY = 86400.0


def old_log(events: Path, days: int, per_day: int, segment_bytes: int) -> int:
    """``days`` days of history ending yesterday; its last seq. More than the broker's
    de-duplication window (131,072 records), which retention always keeps."""
    start = time.time() // DAY * DAY - days * DAY
    log, _ = FileLog.open_for_append(events, segment_bytes)
    seq = 1
    for day in range(days):
        for step in range(per_day // 500):
            when = start + day * DAY + step * 60
            wires = [
                envelope.encode_wire(f"obs.node.n{s % 3}", f"old-{s}", "agent:n", {"s": s})
                for s in range(seq, seq + 500)
            ]
            log.append([envelope.stamp(w, s, when) for s, w in enumerate(wires, seq)])
            seq += 500
    log.close()
    return seq - 1


def settled(events: Path, first: int = 2) -> bool:
    log = FileLog(events)
    return log.first_seq >= first and all(s.compressed for s in log.segments[:-1])


def test_the_broker_compresses_keeps_30_days_and_readers_start_where_history_begins(root):
    events = root / "events"
    last_old = old_log(events, 40, 5000, 256 * 1024)
    broker = BrokerProcess(
        root, free_port_pair(), "--stats-interval", "0.5", "--retention-days", "30"
    ).start()
    try:
        first = 10 * 5000 + 1  # the first day younger than 30 days
        wait_until(lambda: settled(events, first), 30, "old days deleted, the rest compressed")
        assert FileLog(events).first_seq == first
        with client.Subscriber(broker.endpoint, since=1) as subscriber:  # from before it
            seen = []
            while not seen or seen[-1].payload.get("first_seq") != first:
                message = subscriber.get(timeout=10)
                assert message is not None, "the catch-up stalled"
                seen.append(message)
        assert [m.seq for m in seen] == list(range(first, first + len(seen)))
        said = [m for m in seen if m.topic == "bus.log.retention"]
        assert [m.payload["why"] for m in said] == [["older than 30 days"]] * len(said)
        assert said[-1].payload["to_seq"] == first - 1 and said[-1].source == "broker"
        history = json.loads((root / "state" / "history.json").read_text())
        assert history["first_seq"] == first and history["policy"]["days"] == 30
        status = homelab("status", "--json", "--root", str(root), "--bus", broker.endpoint)
        shown = json.loads(status.stdout)["disk"]
        assert shown["history"]["first_seq"] == first and shown["parts"]["events"] > 0
        said = homelab("status", "--root", str(root), "--bus", broker.endpoint).stdout
        assert f"history from seq {first} (" in said and "kept 30 days or 4.0 GiB" in said
    finally:
        broker.stop()
    kept = FileLog(events)
    day = list_segments(events)[0].day
    replayed = homelab("replay", "--root", str(root), "--from", "1", "--topic", "obs.", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stderr.strip() == (
        f"history before seq {first} ({day}) was deleted by retention"
    )
    shown = [json.loads(line)["seq"] for line in replayed.stdout.splitlines()]
    assert shown == list(range(first, last_old + 1))
    before = homelab("replay", "--root", str(root), "--to", str(first - 1))
    assert before.returncode == 1
    assert before.stderr.strip() == (
        f"homelab: nothing in range: history before seq {first} ({day}) was deleted by retention"
    )
    inside = homelab("replay", "--root", str(root), "--from", str(first), "--to", str(first))
    assert inside.returncode == 0 and inside.stderr == ""
    assert kept.last_seq > last_old  # the broker's own messages, after the history


def test_kill_9_of_the_broker_while_it_deletes_and_compresses_loses_nothing_kept(root):
    events = root / "events"
    last_old = old_log(events, 60, 4000, 64 * 1024)
    port = free_port_pair()
    states = []  # (first seq, compressed segments) after each kill
    for delay in (0.0, 0.05, 0.1, 0.2, 0.4):
        broker = BrokerProcess(root, port, "--stats-interval", "0.1", "--retention-days", "30")
        broker.start()
        time.sleep(delay)
        broker.kill()
        log = FileLog(events)
        found = [envelope.body_seq(b) for b in log.read()]
        assert found == list(range(log.first_seq, log.last_seq + 1))  # gapless, every time
        assert log.last_seq > last_old
        states.append((log.first_seq, sum(s.compressed for s in log.segments)))
    assert states[0] != states[-1], states  # the first kill came in the middle of the work
    broker = BrokerProcess(root, port, "--retention-days", "30").start()
    try:
        wait_until(lambda: settled(events), 30, "the work to be finished")
        assert not list(events.glob("*/*.tmp"))  # what a kill left half-done is cleared
        assert client.ping(broker.endpoint)["seq"] == FileLog(events).last_seq
    finally:
        assert broker.stop() == 0
    log = FileLog(events)
    assert [envelope.body_seq(b) for b in log.read()] == list(
        range(log.first_seq, log.last_seq + 1)
    )
