"""The broker under kill -9: publishers ride through restarts, torn tails are cut off,
corruption before the tail stops it.

Everything here runs real ``homelab broker`` processes on loopback ports; the recovery of a
torn tail is also checked in-process at every byte offset of the last record.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bus import client, envelope, filelog, records
from bus.protocol import Envelope
from bus.sequencer import Sequencer
from plant import BrokerProcess, child_env, free_port_pair, homelab, wait_until

pytestmark = pytest.mark.slow

PUBLISHERS = 3
ROUNDS = 20
PER_ROUND = 200
KILLS = 5
PACE = 0.1  # seconds each publisher rests between rounds (~6,000 messages/s in all)
TOTAL = PUBLISHERS * ROUNDS * PER_ROUND

DRIVER = textwrap.dedent(
    """
    import os
    import sys
    import time

    from pathlib import Path

    from bus import keys
    from bus.client import Publisher

    keys.use(keys.client(Path(os.environ["HOMELAB_KEYS"]), "tool:test"))
    endpoint, acked = sys.argv[1], sys.argv[5]
    k, rounds, per = map(int, sys.argv[2:5])
    PACE = float(sys.argv[6])
    fd = os.open(acked, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with Publisher(endpoint, source=f"p{k}", timeout=30, batch_size=50) as pub:
        for r in range(rounds):
            ids = [f"p{k}-{i}" for i in range(r * per, (r + 1) * per)]
            for msg_id in ids:
                n = int(msg_id.rsplit("-", 1)[1])
                pub.submit(f"obs.crash.p{k}", {"p": k, "n": n}, id=msg_id)
            pub.flush()
            os.write(fd, ("\\n".join(ids) + "\\n").encode())
            os.fsync(fd)
            time.sleep(PACE)  # a steady load, so the kills land while it is running
    os.close(fd)
    """
)


def read_log(root: Path) -> list[envelope.Message]:
    return [envelope.decode_body(body) for body in filelog.FileLog(root / "events").read()]


def acked_ids(paths: list[Path]) -> list[str]:
    return [line for p in paths if p.exists() for line in p.read_text().split("\n") if line]


def test_publishers_ride_through_repeated_kill_9(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    root = tmp_path / "root"
    root.mkdir()
    port = free_port_pair()
    broker = BrokerProcess(root, port, "--fsync", "batch", "--stats-interval", "0.2").start()
    driver = tmp_path / "publisher.py"
    driver.write_text(DRIVER)
    acks = [tmp_path / f"acked-{k}.txt" for k in range(PUBLISHERS)]
    errs = [tmp_path / f"publisher-{k}.err" for k in range(PUBLISHERS)]
    procs = []
    try:
        for k in range(PUBLISHERS):
            argv = [
                sys.executable,
                str(driver),
                broker.endpoint,
                str(k),
                str(ROUNDS),
                str(PER_ROUND),
                str(acks[k]),
                str(PACE),
            ]
            with open(errs[k], "wb") as err:
                procs.append(
                    subprocess.Popen(
                        argv, stdout=err, stderr=subprocess.STDOUT, env=child_env(), cwd=tmp_path
                    )
                )
        # Each kill waits for a random amount of acknowledged progress since the restart,
        # and comes early enough that the publishers are still sending.
        for n in range(KILLS):
            target = len(acked_ids(acks)) + rng.choice([1, 200, 400, 600, 800, 1000, 1200])
            target = min(target, TOTAL - (KILLS - n) * 1000)
            wait_until(
                lambda t=target: (
                    len(acked_ids(acks)) >= t or all(p.poll() is not None for p in procs)
                ),
                30,
                "publisher progress",
            )
            time.sleep(rng.uniform(0, 0.05))  # jitter: land anywhere in the broker's loop
            assert any(p.poll() is None for p in procs), "publishers finished before the kill"
            broker.kill()
            print(f"kill {n + 1}: {len(acked_ids(acks))} acknowledged")
            if n == KILLS - 1:  # the last one publishes no bus.stats: the log stands still
                broker = BrokerProcess(root, port, "--fsync", "batch", "--stats-interval", "0")
            broker.start()
        for k, proc in enumerate(procs):
            rc = proc.wait(60)
            assert rc == 0, f"publisher {k} exited {rc}: {errs[k].read_text()}"

        acked = acked_ids(acks)
        assert len(acked) == TOTAL
        assert len(set(acked)) == len(acked)
        head = client.ping(broker.endpoint)["seq"]

        with client.Subscriber(broker.endpoint, since=1, timeout=10) as sub:
            delivered = []
            for _ in range(head):
                message = sub.get(timeout=10)
                assert message is not None, f"subscriber stalled after {delivered[-1:]}"
                delivered.append((message.seq, message.id))
                if message.seq >= head:
                    break
        assert broker.stop() == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        broker.kill()

    log = read_log(root)
    recovered = [m.payload["report"] for m in log if m.topic == "bus.log.recovered"]
    print(f"{len(log)} records, torn tails cut: {recovered}")
    seqs = [m.seq for m in log]
    assert seqs == list(range(1, len(log) + 1)), "sequence numbers are not 1..N gapless"
    assert len(log) == head
    ids = [m.id for m in log]
    assert len(set(ids)) == len(ids), "an id was stored twice"
    ours = [m for m in log if not m.topic.startswith("bus.")]
    assert sorted(m.id for m in ours) == sorted(acked), "the log differs from what was acked"
    for m in ours:  # every stored message is intact
        k, n = m.id[1:].split("-")
        assert (m.topic, m.source, m.payload) == (
            f"obs.crash.p{k}",
            f"p{k}",
            {"p": int(k), "n": int(n)},
        )
    for k in range(PUBLISHERS):  # each flush waited for its round: rounds are stored in order
        rounds = [m.payload["n"] // PER_ROUND for m in ours if m.payload["p"] == k]
        assert rounds == sorted(rounds), f"publisher {k}'s rounds are out of order"

    assert delivered == [(m.seq, m.id) for m in log], "the subscriber's replay differs from the log"

    replay = homelab("replay", "--json", "--root", str(root))
    assert replay.returncode == 0, replay.stderr
    lines = [json.loads(line) for line in replay.stdout.splitlines()]
    assert [(r["seq"], r["id"]) for r in lines] == [(m.seq, m.id) for m in log]


# -- the last record cut at every byte offset -----------------------------------------------


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose log holds three messages, written by a real broker stopped cleanly."""
    root = tmp_path_factory.mktemp("small") / "root"
    root.mkdir()
    broker = BrokerProcess(root, free_port_pair(), "--stats-interval", "0").start()
    try:
        with client.Publisher(broker.endpoint, source="small", timeout=10) as pub:
            seqs = [pub.publish("obs.small", {"n": n}, id=f"m{n}") for n in (1, 2, 3)]
        assert seqs == [1, 2, 3]
        assert broker.stop() == 0
    finally:
        broker.kill()
    return root


def copy_root(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / "broker-stderr.log").unlink(missing_ok=True)
    (dst / "logs" / "broker.log").unlink(missing_ok=True)
    return dst


def only_segment(root: Path) -> Path:
    segments = filelog.list_segments(root / "events")
    assert len(segments) == 1
    return segments[0].path


def distinct_ports(count: int) -> list[int]:
    """Port pairs for brokers started side by side (one may not be bound before the next
    is chosen, so make sure no two pairs overlap)."""
    ports: list[int] = []
    for _ in range(100):
        port = free_port_pair()
        if all(abs(port - other) > 1 for other in ports):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise AssertionError(f"no {count} distinct port pairs")


def record_offsets(data: bytes) -> list[int]:
    return [offset for offset, _ in records.walk(data)]


def test_torn_last_record_is_cut_at_every_byte_offset(small_root: Path, tmp_path: Path) -> None:
    segment = only_segment(small_root)
    data = segment.read_bytes()
    offsets = record_offsets(data)
    assert len(offsets) == 3
    last = offsets[-1]
    assert len(data) - last < 200  # small, so every offset is cheap

    # In-process, every cut: the torn record goes, the two before it stay, appends continue.
    for cut in range(last, len(data)):
        events = tmp_path / f"cut-{cut}" / "events"
        target = events / segment.relative_to(small_root / "events")
        target.parent.mkdir(parents=True)
        target.write_bytes(data[:cut])
        log, report = filelog.FileLog.open_for_append(events)
        if cut == last:  # a clean record boundary: nothing is torn
            assert report == []
        else:
            assert len(report) == 1 and "torn" in report[0], (cut, report)
            assert f"byte offset {last}" in report[0], (cut, report)
        assert log.last_seq == 2, cut
        assert target.stat().st_size == last, cut
        sequencer = Sequencer(log.last_seq)
        wire = envelope.encode_wire("obs.small", "after", "test", {"cut": cut})
        item = Envelope(wire, "obs.small", "after", "test")
        bodies, _, seqs = sequencer.stamp([item], time.time())
        assert seqs == [3]
        log.append(bodies)
        log.close()
        stored = [envelope.decode_body(b) for b in filelog.FileLog(events).read()]
        assert [(m.seq, m.id) for m in stored] == [(1, "m1"), (2, "m2"), (3, "after")], cut

    # Real brokers at three representative cuts, started side by side.
    cuts = {"header": last + 4, "body": last + records.HEADER_SIZE + 5, "one short": len(data) - 1}
    brokers = {}
    try:
        for (name, cut), port in zip(cuts.items(), distinct_ports(len(cuts)), strict=True):
            root = copy_root(small_root, tmp_path / f"broker-{name.replace(' ', '-')}")
            only_segment(root).write_bytes(data[:cut])
            brokers[name] = BrokerProcess(root, port, "--stats-interval", "0")
            brokers[name].start(wait=False)
        for name, broker in brokers.items():
            wait_until(broker.answers, 15, f"the broker with a {name} cut to answer")
            assert "torn" in broker.output(), name
            assert "torn" in (broker.root / "logs" / "broker.log").read_text(), name
            # seq 3 is the broker's own bus.log.recovered report, so a new message is seq 4
            assert client.ping(broker.endpoint)["seq"] == 3, name
            with client.Publisher(broker.endpoint, source="test", timeout=10) as pub:
                assert pub.publish("obs.small", {"after": name}, id="after") == 4, name
            assert broker.stop() == 0, name
            stored = read_log(broker.root)
            assert [m.id for m in stored[:2]] == ["m1", "m2"], name
            assert stored[2].topic == "bus.log.recovered" and "torn" in stored[2].payload["report"]
            assert [(m.seq, m.id) for m in stored[3:]] == [(4, "after")], name
    finally:
        for broker in brokers.values():
            broker.kill()


def test_corruption_before_the_tail_stops_the_broker(small_root: Path, tmp_path: Path) -> None:
    data = only_segment(small_root).read_bytes()
    offsets = record_offsets(data)
    brokers, flipped, started = {}, {}, {}
    try:
        for index, port in zip((0, 1), distinct_ports(2), strict=True):  # records with more after
            root = copy_root(small_root, tmp_path / f"flip-{index}")
            at = offsets[index] + records.HEADER_SIZE + 12  # inside the body
            damaged = bytearray(data)
            damaged[at] ^= 0x40
            flipped[index] = bytes(damaged)
            only_segment(root).write_bytes(flipped[index])
            brokers[index] = BrokerProcess(root, port, "--stats-interval", "0")
            started[index] = time.monotonic()
            brokers[index].start(wait=False)
        for index, broker in brokers.items():
            rc = broker.proc.wait(15)
            assert time.monotonic() - started[index] < 10, "the broker took long to give up"
            output = broker.output()
            assert rc != 0, output
            lines = output.strip().splitlines()
            assert len(lines) == 1, output
            assert "Traceback" not in output
            assert str(only_segment(broker.root)) in lines[0], output
            assert f"byte offset {offsets[index]}" in lines[0], output
            assert only_segment(broker.root).read_bytes() == flipped[index], "it changed the file"
    finally:
        for broker in brokers.values():
            broker.kill()


def _framed_message() -> bytes:
    wire = envelope.encode_wire("obs.inner", "inner", "test", {"k": 1})
    return records.frame(envelope.stamp(wire, 1, time.time()))


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"\xd7\x01" + bytes(8), id="empty-record-bytes"),
        pytest.param(_framed_message(), id="a-framed-record"),
    ],
)
def test_torn_record_whose_payload_looks_like_a_record_is_still_a_torn_tail(
    tmp_path: Path, blob: bytes
) -> None:
    root = tmp_path / "root"
    events = root / "events"
    log, _ = filelog.FileLog.open_for_append(events)
    sequencer = Sequencer()
    payloads = [{"n": 1}, {"n": 2}, {"blob": blob, "tail": "x" * 20}]
    items = []
    for n, payload in enumerate(payloads, 1):
        wire = envelope.encode_wire("obs.blob", f"m{n}", "test", payload)
        items.append(Envelope(wire, "obs.blob", f"m{n}", "test"))
    bodies, _, _ = sequencer.stamp(items, time.time())
    log.append(bodies)
    log.close()
    segment = only_segment(root)
    segment.write_bytes(segment.read_bytes()[:-5])  # a crash cut the last write short

    broker = BrokerProcess(root, free_port_pair(), "--stats-interval", "0")
    try:
        broker.start()
        assert client.ping(broker.endpoint)["seq"] == 3  # m1, m2 and the recovery report
    finally:
        broker.kill()
