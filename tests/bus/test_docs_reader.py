"""The docs are enough and cannot drift from the code.

The minimal reader in ``docs/log-format.md`` reads a log written by the real ``FileLog`` and
returns what ``FileLog.read()`` returns; the byte examples and limits in ``docs/protocol.md``
and ``docs/log-format.md`` are what the code produces and uses now.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus import broker, envelope, filelog, protocol, records, sequencer
from bus.filelog import FileLog

DOCS = Path(__file__).resolve().parents[2] / "docs"
READER_HEADING = "## A minimal reader"
EXAMPLE_HEADING = "## Worked example"
RECORD_HEADING = "## Example record"
ALLOWED_IMPORTS = {"struct", "zlib", "pathlib", "msgpack"}

EXAMPLE_TOPIC = "obs.node.web1"
EXAMPLE_WIRE_ARGS = (EXAMPLE_TOPIC, "m1", "agent:web1", {"up": True})
EXAMPLE_SEQ = 42
EXAMPLE_TIME = 1795685400.25  # 2026-11-26T09:30:00.25Z

Reader = Callable[..., Iterator[tuple]]


def section(doc: str, heading: str) -> str:
    """The text of ``heading`` in ``docs/<doc>``, up to the next level-2 heading."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    start = text.find("\n" + heading + "\n")
    assert start != -1, f"docs/{doc} has no heading {heading!r}"
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


def hex_blocks(doc: str, heading: str) -> list[bytes]:
    return [bytes.fromhex(block) for block in code_blocks(section(doc, heading), "text")]


def reader_source() -> str:
    blocks = code_blocks(section("log-format.md", READER_HEADING), "python")
    assert blocks, f"no python block under {READER_HEADING!r} in docs/log-format.md"
    return blocks[0]


@pytest.fixture(scope="module")
def read_events() -> Reader:
    namespace: dict = {"__name__": "doc_reader"}
    exec(compile(reader_source(), "docs/log-format.md", "exec"), namespace)
    return namespace["read_events"]


def make_body(seq: int, time: float) -> bytes:
    payload = {
        "n": seq,
        "blob": bytes(range(seq % 40)),
        "text": "é" * (seq % 5),
        "nested": {"list": [1, 2.5, None, True], "empty": {}},
    }
    wire = envelope.encode_wire(f"obs.node.web{seq % 3}", f"id-{seq}", "test:docs", payload)
    return envelope.stamp(wire, seq, time)


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """120 records in 6 appends of 20, across a UTC midnight, in small segments."""
    events_dir = tmp_path / "events"
    log, report = FileLog.open_for_append(events_dir, segment_bytes=4096)
    assert report == []
    before_midnight = dt.datetime(2026, 11, 26, 23, 59, 58, tzinfo=dt.UTC).timestamp()
    seq = 0
    for batch in range(6):
        time = before_midnight + batch + 0.125  # one time per append, as the broker does
        bodies = []
        for _ in range(20):
            seq += 1
            bodies.append(make_body(seq, time))
        log.append(bodies)
    log.close()
    return events_dir


def from_filelog(events_dir: Path, after: int = 0) -> list[tuple]:
    return [tuple(envelope.decode_body(b)) for b in FileLog(events_dir).read(after=after)]


def test_the_reader_uses_only_the_standard_library_and_msgpack():
    imported = set()
    for node in ast.walk(ast.parse(reader_source())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


def test_the_test_log_spans_segments_and_days(events: Path):
    segments = filelog.list_segments(events)
    assert len(segments) >= 2
    assert {s.day for s in segments} == {"2026-11-26", "2026-11-27"}
    assert [s.first_seq for s in segments] == sorted(s.first_seq for s in segments)


def test_the_doc_reader_returns_what_filelog_returns(events: Path, read_events: Reader):
    expected = from_filelog(events)
    got = list(read_events(events))
    assert len(expected) == 120
    assert [(r[0], r[2], r[5]) for r in got] == [(m[0], m[2], m[5]) for m in expected]
    assert got == expected  # time, id and source too


@pytest.mark.parametrize("after", [0, 1, 19, 20, 21, 57, 119, 120, 500])
def test_the_doc_reader_starts_after_a_seq_like_filelog(
    events: Path, read_events: Reader, after: int
):
    assert list(read_events(events, after=after)) == from_filelog(events, after)


def test_the_doc_reader_stops_at_a_torn_tail_like_filelog(events: Path, read_events: Reader):
    newest = filelog.list_segments(events)[-1].path
    with open(newest, "ab") as f:
        f.write(records.frame(make_body(121, EXAMPLE_TIME))[:-7])
    expected = from_filelog(events)
    assert [m[0] for m in expected] == list(range(1, 121))
    assert list(read_events(events)) == expected


def test_the_doc_reader_refuses_a_bad_record_in_an_older_segment(events: Path, read_events: Reader):
    oldest = filelog.list_segments(events)[0].path
    data = bytearray(oldest.read_bytes())
    second = records.HEADER_SIZE + records.HEADER.unpack_from(data, 0)[2]
    data[second + records.HEADER_SIZE + 5] ^= 0xFF  # inside the second record's body
    oldest.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"bad record at byte offset {second}"):
        list(read_events(events))


def test_the_protocol_example_bytes_are_what_the_code_makes():
    wire = envelope.encode_wire(*EXAMPLE_WIRE_ARGS)
    body = envelope.stamp(wire, EXAMPLE_SEQ, EXAMPLE_TIME)
    expected = [
        wire,
        protocol.encode_publish(1, [wire]),
        protocol.encode("ack", 1, [EXAMPLE_SEQ]),
        body,
        envelope.pub_frame(EXAMPLE_TOPIC, body),
    ]
    assert hex_blocks("protocol.md", EXAMPLE_HEADING) == expected
    assert envelope.decode_body(body) == (EXAMPLE_SEQ, EXAMPLE_TIME, *EXAMPLE_WIRE_ARGS)
    assert len(body) == len(wire) + 18
    assert envelope.body_seq(body) == EXAMPLE_SEQ
    assert envelope.body_time(body) == EXAMPLE_TIME


def test_the_log_format_example_record_is_what_the_code_makes(read_events: Reader, tmp_path):
    body = envelope.stamp(envelope.encode_wire(*EXAMPLE_WIRE_ARGS), EXAMPLE_SEQ, EXAMPLE_TIME)
    (record,) = hex_blocks("log-format.md", RECORD_HEADING)
    assert record == records.frame(body)
    segment = tmp_path / "events" / "2026-11-26" / f"{EXAMPLE_SEQ:020d}.log"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(record)
    assert list(read_events(tmp_path / "events")) == [
        (EXAMPLE_SEQ, EXAMPLE_TIME, *EXAMPLE_WIRE_ARGS)
    ]


@pytest.mark.parametrize(
    ("doc", "text", "value", "constant"),
    [
        ("protocol.md", "262144 bytes (256 KiB)", 262144, envelope.MAX_MESSAGE_BYTES),
        ("protocol.md", "8388608 bytes (8 MiB)", 8388608, protocol.MAX_FRAME_BYTES),
        ("protocol.md", "1 to 5000", 5000, protocol.MAX_FETCH),
        ("protocol.md", "131072", 131072, sequencer.DEDUP_WINDOW),
        ("protocol.md", "1048576 bytes (1 MiB)", 1048576, broker.FETCH_REPLY_BYTES),
        ("protocol.md", "50000 records", 50000, broker.FETCH_SCAN),
        ("protocol.md", "4096 waiting frames", 4096, broker.MAX_DRAIN),
        ("protocol.md", "200 characters", 200, envelope.MAX_TOPIC_CHARS),
        ("protocol.md", "1 to 64 characters", 64, envelope.MAX_ID_CHARS),
        ("protocol.md", "1 to 128 characters", 128, envelope.MAX_SOURCE_CHARS),
        ("protocol.md", envelope.TOPIC_PATTERN, None, None),
        ("log-format.md", "16 MiB (16777216 bytes)", 16777216, filelog.SEGMENT_BYTES),
        (
            "protocol.md",
            "100000 frames by default",
            100000,
            inspect.signature(broker.Broker).parameters["subscriber_queue"].default,
        ),
    ],
)
def test_the_documented_limits_are_the_code_limits(doc, text, value, constant):
    assert text in (DOCS / doc).read_text(encoding="utf-8")
    assert value == constant
