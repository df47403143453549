"""The docs are enough and cannot drift from the code.

The minimal reader in ``docs/log-format.md`` reads a log written by the real ``FileLog`` and
returns (and refuses) what ``FileLog.read()`` returns (and refuses); the byte examples,
limits, defaults and refusal reasons in ``docs/protocol.md`` and ``docs/log-format.md`` are
what the code produces and uses now.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest

from bus import (
    broker,
    client,
    compression,
    envelope,
    filelog,
    housekeeping,
    keys,
    protocol,
    records,
    retention,
    sequencer,
    space,
    wallclock,
)
from bus.filelog import FileLog
from bus.sequencer import Sequencer
from bus.subscription import Tracker
from homelab import settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
READER_HEADING = "## A minimal reader"
EXAMPLE_HEADING = "## Worked example"
RECORD_HEADING = "## Example record"
LIMITS_HEADING = "## Limits"
PUB_HEADING = "### `pub`: publish envelopes"
ALLOWED_IMPORTS = {"struct", "zlib", "pathlib", "msgpack", "zstandard"}

EXAMPLE_TOPIC = "obs.node.web1"
EXAMPLE_WIRE_ARGS = (EXAMPLE_TOPIC, "m1", "agent:web1", {"up": True})
EXAMPLE_SEQ = 42
EXAMPLE_IDENTITY = "agent:web1"  # the role of the key the agent's connection proved
EXAMPLE_TIME = 1795685400.25  # 2026-11-26T09:30:00.25Z
EXAMPLE_MESSAGE = (EXAMPLE_SEQ, EXAMPLE_TIME, *EXAMPLE_WIRE_ARGS, EXAMPLE_IDENTITY)

KIB, MIB = 1024, 1024 * 1024
UNITS = {"KiB": KIB, "MiB": MIB}

Reader = Callable[..., Iterator[tuple]]


def doc_text(doc: str) -> str:
    return (DOCS / doc).read_text(encoding="utf-8")


def section(doc: str, heading: str) -> str:
    """The text of ``heading`` in ``docs/<doc>``, up to the next heading of its level."""
    text = doc_text(doc)
    start = text.find("\n" + heading + "\n")
    assert start != -1, f"docs/{doc} has no heading {heading!r}"
    level = heading.split(" ")[0]
    end = re.search(rf"^#{{1,{len(level)}}} ", text[start + len(heading) + 2 :], re.M)
    return text[start : start + len(heading) + 2 + end.start() if end else len(text)]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


def hex_blocks(doc: str, heading: str) -> list[bytes]:
    return [bytes.fromhex(block) for block in code_blocks(section(doc, heading), "text")]


def table(text: str) -> dict[str, list[str]]:
    """The rows of the first markdown table in ``text``: first cell -> the other cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1:]
    rows.pop(next(iter(rows)))  # the header row
    return rows


def size(n: int) -> str:
    """How the docs write a byte count: ``262144 bytes (256 KiB)``."""
    unit = "MiB" if n % MIB == 0 else "KiB"
    return f"{n} bytes ({n // UNITS[unit]} {unit})"


def default(callable_: Callable, name: str):
    return inspect.signature(callable_).parameters[name].default


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
    # Old bodies (before identities) and new ones, mixed: a log written across the upgrade.
    return envelope.stamp(wire, seq, time, None if seq % 3 == 0 else "tool:docs")


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


def record_offsets(data: bytes) -> list[int]:
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset = records.hop(data, offset, 1)
    return offsets


# -- the minimal reader ------------------------------------------------------------------


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


def compress_sealed(events: Path) -> None:
    for segment in filelog.list_segments(events)[:-1]:
        compression.compress(segment.path)


@pytest.mark.parametrize("after", [0, 19, 57, 120])
def test_the_doc_reader_reads_compressed_segments_like_filelog(
    events: Path, read_events: Reader, after: int
):
    expected = from_filelog(events, after)
    compress_sealed(events)
    assert all(s.compressed for s in filelog.list_segments(events)[:-1])
    assert list(read_events(events, after=after)) == from_filelog(events, after) == expected


def test_the_doc_reader_follows_a_segment_compressed_after_it_listed_it(
    events: Path, read_events: Reader
):
    expected = from_filelog(events)
    reading = read_events(events)
    first = next(reading)  # the segments are listed, the first one read
    compress_sealed(events)  # every sealed .log it listed is gone now
    assert [first, *reading] == expected


def test_the_doc_reader_reads_from_where_retention_left_the_log(events: Path, read_events: Reader):
    log, _ = FileLog.open_for_append(events, 4096)
    policy = retention.Policy(days=0, bytes=1, keep_records=0)
    retention.apply(log, policy, at_once=2)
    compress_sealed(events)
    first = FileLog(events).first_seq
    assert first > 1
    assert [r[0] for r in read_events(events)] == list(range(first, 121))
    assert list(read_events(events)) == from_filelog(events)


def test_the_documented_retention_defaults_are_the_settings():
    fields = settings.Settings.model_fields
    assert fields["retention_bytes"].default == retention.BYTES
    assert fields["retention_days"].default == retention.DAYS


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
    with pytest.raises(records.CorruptLog, match=f"corrupt record at byte offset {second}"):
        from_filelog(events)
    with pytest.raises(ValueError, match=f"bad record at byte offset {second}"):
        list(read_events(events))


def test_a_torn_end_of_a_sealed_segment_is_corruption_for_both_readers(
    events: Path, read_events: Reader
):
    oldest = filelog.list_segments(events)[0].path
    data = oldest.read_bytes()
    last = record_offsets(data)[-1]
    oldest.write_bytes(data[:-7])  # what a torn tail looks like, but not in the newest segment
    with pytest.raises(records.CorruptLog, match=f"corrupt record at byte offset {last}"):
        from_filelog(events)
    with pytest.raises(ValueError, match=f"bad record at byte offset {last}"):
        list(read_events(events))


def test_a_sealed_segment_that_ends_early_is_corruption_for_both_readers(
    events: Path, read_events: Reader
):
    first, second = filelog.list_segments(events)[:2]
    data = first.path.read_bytes()
    offsets = record_offsets(data)
    first.path.write_bytes(data[: offsets[-1]])  # the last record is gone, cleanly
    missing = first.first_seq + len(offsets) - 1
    assert missing + 1 == second.first_seq
    with pytest.raises(records.CorruptLog, match=f"ends before seq {missing}"):
        from_filelog(events)
    with pytest.raises(ValueError, match=f"ends before seq {missing}"):
        list(read_events(events))


# -- byte examples -----------------------------------------------------------------------


def example_body() -> tuple[bytes, bytes]:
    wire = envelope.encode_wire(*EXAMPLE_WIRE_ARGS)
    return wire, envelope.stamp(wire, EXAMPLE_SEQ, EXAMPLE_TIME, EXAMPLE_IDENTITY)


def test_the_protocol_example_bytes_are_what_the_code_makes():
    wire, body = example_body()
    (live,) = broker.live_frames([records.frame(body)])
    expected = [
        wire,
        protocol.encode_publish(1, [wire]),
        protocol.encode("ack", 1, [EXAMPLE_SEQ]),
        body,
        live,
    ]
    assert hex_blocks("protocol.md", EXAMPLE_HEADING) == expected
    assert envelope.decode_body(body) == EXAMPLE_MESSAGE
    assert msgpack.unpackb(body, raw=False) == list(EXAMPLE_MESSAGE)
    assert len(body) == len(wire) + 18 + 1 + len(EXAMPLE_IDENTITY)  # a fixstr: 1 byte more
    assert envelope.body_seq(body) == EXAMPLE_SEQ
    assert envelope.body_time(body) == EXAMPLE_TIME


def test_the_example_publication_frame_is_the_log_record_and_subscribers_read_it():
    _, body = example_body()
    live = hex_blocks("protocol.md", EXAMPLE_HEADING)[-1]
    assert live == records.frame(body) == hex_blocks("log-format.md", RECORD_HEADING)[0]
    tracker = Tracker()
    tracker.start_at(EXAMPLE_SEQ - 1)
    assert tracker.on_live(live) == [EXAMPLE_MESSAGE]


def test_the_log_format_example_record_is_what_the_code_makes(read_events: Reader, tmp_path):
    _, body = example_body()
    (record,) = hex_blocks("log-format.md", RECORD_HEADING)
    assert record == records.frame(body)
    segment = tmp_path / "events" / "2026-11-26" / f"{EXAMPLE_SEQ:020d}.log"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(record)
    assert list(read_events(tmp_path / "events")) == [EXAMPLE_MESSAGE]


def test_publication_frames_group_records_as_documented():
    small = [records.frame(make_body(seq, EXAMPLE_TIME)) for seq in range(1, 5001)]
    big = records.frame(
        envelope.stamp(
            envelope.encode_wire("obs.big", "big", "s", {"x": b"x" * broker.LIVE_FRAME_BYTES}),
            5001,
            EXAMPLE_TIME,
        )
    )
    framed = [*small, big, small[0]]
    frames = list(broker.live_frames(framed))
    assert b"".join(frames) == b"".join(framed)  # in order, nothing between or around
    assert big in frames  # a record larger than the limit goes alone
    assert all(len(f) <= broker.LIVE_FRAME_BYTES for f in frames if f != big)
    assert len(frames) > 3  # the small records did not fit in one frame
    assert [bytes(b) for f in frames for b in records.bodies(f)] == [
        bytes(r[records.HEADER_SIZE :]) for r in framed
    ]


# -- limits, defaults and rules ------------------------------------------------------------


def amounts(cell: str) -> list[int]:
    """The whole numbers in a table cell; each ``N bytes (M KiB|MiB)`` must agree with itself."""
    for n, m, unit in re.findall(r"(\d+) bytes \((\d+) (KiB|MiB)\)", cell):
        assert int(n) == int(m) * UNITS[unit], cell
    cell = re.sub(r"\(\d+ (KiB|MiB)\)", "", cell)
    return [int(n) for n in re.findall(r"(?<![\w.])\d+(?![\w.])", cell)]


def fetch_prefix_limits() -> tuple[int, int]:
    """How many fetch prefixes the broker accepts, and how long each may be."""

    def accepted(prefixes: list[str]) -> bool:
        try:
            protocol.decode_request(protocol.encode("fetch", 1, 0, 1, prefixes))
            return True
        except protocol.ProtocolError:
            return False

    count = next(n for n in range(1, 1000) if not accepted(["obs."] * n)) - 1
    chars = next(n for n in range(1, 1000) if not accepted(["o" * n])) - 1
    return count, chars


def setting(name: str):
    return settings.Settings.model_fields[name].default


def test_the_brokers_own_default_limits_are_the_settings_defaults():
    assert broker.CLIENT_LIMITS.messages == setting("client_rate")
    assert broker.CLIENT_LIMITS.bytes == setting("client_bandwidth") * MIB
    assert broker.CLIENT_LIMITS.burst == setting("client_burst")
    assert space.FLOOR_SHARE == 4  # "a quarter" in the docs


MESSAGE_BYTES_RANGE = [
    m.ge if hasattr(m, "ge") else m.le
    for m in settings.Settings.model_fields["max_message_bytes"].metadata
]

LIMITS = {
    "protocol.md": {
        "Topic length": [envelope.MAX_TOPIC_CHARS],
        "Id length": [1, envelope.MAX_ID_CHARS],
        "Source length": [1, envelope.MAX_SOURCE_CHARS],
        "Wire envelope size": [envelope.MAX_MESSAGE_BYTES],
        "Request frame size": [protocol.MAX_FRAME_BYTES],
        "`fetch` limit": [1, protocol.MAX_FETCH],
        "`fetch` prefixes": list(fetch_prefix_limits()),
        "`fetch` reply size": [broker.FETCH_REPLY_BYTES],
        "`fetch` filtered scan": [broker.FETCH_SCAN],
        "Frames taken per broker wake-up": [broker.MAX_DRAIN],
        "Publication frame size": [broker.LIVE_FRAME_BYTES],
        "Broker queue per subscriber": [
            default(broker.Broker, "subscriber_bytes") // 1024 // 1024,
            broker.frames_for(default(broker.Broker, "subscriber_bytes")),
            broker.LIVE_FRAME_BYTES // 1024,
        ],
        "`fetch` replies held per client": [
            default(broker.Broker, "subscriber_bytes") // 1024 // 1024
        ],
        "De-duplication window": [sequencer.DEDUP_WINDOW, sequencer.DEDUP_WINDOW // 2],
        "Python `Subscriber` receive queue": [default(client.Subscriber, "hwm")],
        "Python `Publisher` batch": [default(client.Publisher, "batch_size"), client.BATCH_BYTES],
        "Python `Publisher` message size": [client.BATCH_BYTES],
        "Python `Publisher` batches in flight": [default(client.Publisher, "window")],
        "Python `Publisher` timings": None,  # durations: see the test below
        "Publish limit per client": [
            int(setting("client_rate")),
            int(setting("client_bandwidth")),
            int(setting("client_burst")),
        ],
        "Disk reserve": [int(setting("disk_reserve"))],
        "`retry` after a full disk": [int(space.RETRY_AFTER)],
        "`bus.stats` while a disk alarm is active": [int(broker.ALARM_STATS_EVERY)],
        "Smallest step of the wall clock announced (`bus.clock`)": [int(wallclock.STEP_THRESHOLD)],
    },
    "log-format.md": {
        "Segment size before a new segment starts": [filelog.SEGMENT_BYTES],
        "Record header": [records.HEADER_SIZE],
        "Smallest body length `L` of a good record": [records.MIN_BODY],
        "Largest body length `L` of a good record": [records.MAX_BODY],
        "Records read at start for de-duplication": [sequencer.DEDUP_WINDOW],
        "Retention by age, by default": [retention.DAYS],
        "Retention by size, by default": [retention.BYTES],
        "Records retention always keeps": [retention.Policy().keep_records],
        "Segments deleted per broker tick, at most": [retention.AT_ONCE],
        "Plain segments compressed at a time, at most": [housekeeping.BATCH_BYTES],
        "zstd compression level": [compression.LEVEL],
    },
}


@pytest.mark.parametrize("doc", sorted(LIMITS))
def test_every_documented_limit_is_checked(doc):
    assert list(table(section(doc, LIMITS_HEADING))) == list(LIMITS[doc])


@pytest.mark.parametrize(
    ("doc", "name", "values"),
    [(doc, name, values) for doc, rows in LIMITS.items() for name, values in rows.items()],
)
def test_the_documented_limits_are_the_code_limits(doc, name, values):
    value = table(section(doc, LIMITS_HEADING))[name][0]
    if values is not None:
        assert amounts(value) == values, f"docs/{doc}, {name}: {value}"


def test_the_documented_message_size_range_is_the_settings_range():
    where = table(section("protocol.md", LIMITS_HEADING))["Wire envelope size"][1]
    assert amounts(where) == MESSAGE_BYTES_RANGE
    assert MESSAGE_BYTES_RANGE[0] <= envelope.MAX_MESSAGE_BYTES <= MESSAGE_BYTES_RANGE[1]


def test_the_documented_publisher_timings_are_the_defaults():
    value = table(section("protocol.md", LIMITS_HEADING))["Python `Publisher` timings"][0]
    seconds = [
        float(n) / (1000 if unit == "ms" else 1)
        for n, unit in re.findall(r"(\d+(?:\.\d+)?) (ms|s)\b", value)
    ]
    assert seconds == pytest.approx(
        [
            default(client.Publisher, "quiet"),
            default(client.Publisher, "linger"),
            client.RESEND_AFTER,
            default(client.Publisher, "timeout"),
        ]
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


SMALLEST_BODY = len(envelope.stamp(envelope.encode_wire("a", "a", "a", {}), 1, 0.0))
DEDUP_HALF = sequencer.DEDUP_WINDOW // 2

# Limits repeated in the running text, built from the code's values (whitespace-normalised).
PHRASES = {
    "protocol.md": [
        envelope.TOPIC_PATTERN,
        f"At most {envelope.MAX_TOPIC_CHARS} characters.",
        f"1 to {envelope.MAX_ID_CHARS} characters",
        f"1 to {envelope.MAX_SOURCE_CHARS} characters",
        f"must be at most **{size(envelope.MAX_MESSAGE_BYTES)}**",
        "`HOMELAB_MAX_MESSAGE_BYTES` ({} to {})".format(*MESSAGE_BYTES_RANGE),
        f"frames of at most **{size(broker.LIVE_FRAME_BYTES)}**",
        f"A request frame may be at most **{size(protocol.MAX_FRAME_BYTES)}**",
        f"it takes up to {broker.MAX_DRAIN} waiting frames",
        f"int, 1 to {protocol.MAX_FETCH}",
        "array of at most {} str, each at most {} characters".format(*fetch_prefix_limits()),
        f"the bodies total at least {size(broker.FETCH_REPLY_BYTES)}",
        f"with `prefixes`: {broker.FETCH_SCAN} records looked at",
        f"half the window of **{sequencer.DEDUP_WINDOW}** messages",
        f"when the newer generation holds {DEDUP_HALF} keys",
        f"remembered while fewer than {DEDUP_HALF} messages have been stored after it, "
        f"and forgotten once {sequencer.DEDUP_WINDOW - 1} have",
        f"the last {sequencer.DEDUP_WINDOW} records of the log",
        f"at least the last {DEDUP_HALF} stored messages are remembered across a restart",
        f"holds at most {default(broker.Broker, 'subscriber_bytes') // 2**20} MiB for a subscriber",
        f"its own; {broker.frames_for(default(broker.Broker, 'subscriber_bytes'))} frames by "
        f"default, at least {broker.frames_for(0)})",
        f"handed back to the system every {broker.TRIM_EVERY:.0f} seconds",
        f"the Python `Subscriber` uses {default(client.Subscriber, 'hwm')} frames",
        f"at least {ms(default(client.Publisher, 'quiet'))} (`quiet`)",
        f"holds {default(client.Publisher, 'batch_size')} messages (`batch_size`), "
        f"or {size(client.BATCH_BYTES)} of envelopes (`BATCH_BYTES`)",
        f"waiting for {ms(default(client.Publisher, 'linger'))} (`linger`)",
        f"A message whose envelope is larger than {size(client.BATCH_BYTES)} is refused locally",
        f"Up to {default(client.Publisher, 'window')} batches are in flight",
        f"resent after {client.RESEND_AFTER:g} s",
        f"for `timeout` seconds ({default(client.Publisher, 'timeout'):g} s)",
        f"limit={client.FETCH_LIMIT}",
        f"(`HOMELAB_DISK_RESERVE`, in MiB, {setting('disk_reserve'):g} by default)",
        f"`HOMELAB_CLIENT_RATE` messages ({setting('client_rate'):g})",
        f"`HOMELAB_CLIENT_BANDWIDTH` MiB ({setting('client_bandwidth'):g})",
        f"`HOMELAB_CLIENT_BURST` seconds' worth ({setting('client_burst'):g})",
        f"`bus.stats` is stored every {broker.ALARM_STATS_EVERY:g} s",
        f"every {broker.ALARM_STATS_EVERY:g} s while a disk alarm is active",
        f"a difference of {wallclock.STEP_THRESHOLD:g} s or more is a step",
        f"the log's last stamp is {wallclock.STEP_THRESHOLD:g} s or more ahead of its clock",
        f"after a step back of under {wallclock.STEP_THRESHOLD:g} s, which is not announced",
        f"answers `retry` to every frame of the batch and goes on (the [disk's alarm](#a-full-disk) "
        f"holds for at least {space.RETRY_AFTER:g} s)",
    ],
    "log-format.md": [
        f"at least 16 MiB ({filelog.SEGMENT_BYTES} bytes)",
        f"under {filelog.SEGMENT_BYTES // MIB} MiB",
        f"`L` is at least {records.MIN_BODY} (`MIN_BODY`) and at most {records.MAX_BODY} "
        f"({records.MAX_BODY // MIB} MiB, `MAX_BODY`)",
        f"The smallest body the broker writes is {SMALLEST_BODY} bytes",
        f"`{records.MIN_BODY} <= L <= {records.MAX_BODY}`",
        f"a length of at least {records.MIN_BODY},",
        f"the broker reads the last {sequencer.DEDUP_WINDOW} records",
        f"every {filelog.MARK_EVERY}th record",
        f"a {records.HEADER_SIZE}-byte header",
        f"up to 64 MiB ({housekeeping.BATCH_BYTES} bytes) of plain segments at a time",
        f"at zstd level {compression.LEVEL}.",
        f"`HOMELAB_RETENTION_DAYS` ({retention.DAYS:g};",
        f"`HOMELAB_RETENTION_BYTES` (4G, i.e. {retention.BYTES} bytes;",
        f"any of the last {retention.Policy().keep_records} records",
        f"At most {retention.AT_ONCE} segments go per tick",
        f"checked every minute ({housekeeping.RETENTION_EVERY:g} s)",
    ],
}


@pytest.mark.parametrize(
    ("doc", "phrase"), [(doc, phrase) for doc, phrases in PHRASES.items() for phrase in phrases]
)
def test_limits_in_the_running_text_are_the_code_limits(doc, phrase):
    assert phrase in " ".join(doc_text(doc).split())


def test_the_smallest_body_is_not_below_the_smallest_good_record():
    assert records.MIN_BODY <= SMALLEST_BODY


def wire(topic="obs.a", msg_id="i1", source="s", payload=None) -> bytes:
    return msgpack.packb([topic, msg_id, source, {"a": 1} if payload is None else payload])


def _nested(levels: int) -> dict:
    """A payload with ``levels`` maps inside it (the payload itself is one more)."""
    payload: dict = {}
    for _ in range(levels):
        payload = {"x": payload}
    return payload


REFUSALS = [
    (msgpack.packb(["obs.a", "i1", "s"]), "envelope: must be [topic, id, source, payload]"),
    (wire(topic="Obs.a"), "topic: "),
    (wire(msg_id=""), "id: "),
    (wire(source=""), "source: "),
    (
        wire(payload={"x": b"x" * envelope.MAX_MESSAGE_BYTES}),
        "message of N bytes exceeds the limit of M",
    ),
    (wire(topic="bus.stats"), "topic: bus.* is reserved for the broker"),
    (wire(payload=[1]), "payload: must be a map"),
    (wire(payload={b"k": 1}), "payload: keys must be strings"),
    (wire(payload={"a": float("nan")}), "payload: numbers must be finite"),
    (wire(payload={"a": b"raw"}), "payload: bytes values are not allowed"),
    (wire(payload=_nested(32)), "payload: nested deeper than 32 levels"),
]


def test_the_documented_refusal_reasons_are_the_codes_in_its_order():
    reasons = table(section("protocol.md", PUB_HEADING).split("Refused envelopes", 1)[1])
    assert [cells[0].strip("`") for cells in reasons.values()] == [r for _, r in REFUSALS]


@pytest.mark.parametrize(("bad", "reason"), REFUSALS)
def test_each_documented_refusal_is_what_the_broker_answers(bad, reason):
    (item,) = protocol.decode_request(protocol.encode_publish(7, [bad])).items
    assert isinstance(item, str)
    pattern = re.escape(reason).replace("N", r"\d+").replace("M", r"\d+")
    assert re.match(pattern, item), item


@pytest.mark.parametrize(
    "bad",
    [
        wire(payload={"a": {1: "a nested int key"}}),
        wire(payload={"a": "xx"})[:-3] + b"\xa2\xff\xfe",  # a str that is not UTF-8
    ],
)
def test_a_bad_key_or_str_anywhere_refuses_the_whole_frame_naming_the_batch(bad):
    with pytest.raises(protocol.ProtocolError, match="bad publish frame") as refused:
        protocol.decode_request(protocol.encode_publish(7, [wire(), bad]))
    assert refused.value.number == 7
    assert '`["err", batch, "bad publish frame: ..."]`' in doc_text("protocol.md")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"a": {b"k": 1}}, "payload: keys must be strings"),
        ({"a": float("nan")}, "payload: numbers must be finite"),
        ({"a": [float("inf")]}, "payload: numbers must be finite"),
        ({"a": b"raw"}, "payload: bytes values are not allowed"),
        ({"a": msgpack.ExtType(5, b"x")}, "payload: ExtType values are not allowed"),
        (_nested(32), "payload: nested deeper than 32 levels"),
    ],
)
def test_payloads_outside_the_documented_rules_are_refused_one_by_one(payload, reason):
    publish = protocol.decode_request(
        protocol.encode_publish(7, [wire(payload=payload), wire(payload={"ok": [1.5, None]})])
    )
    assert publish.items[0] == reason and not isinstance(publish.items[1], str)
    assert "ext types, NaN and infinities" in doc_text("protocol.md")


def test_the_deepest_allowed_payload_is_stored_and_renders():
    (item,) = protocol.decode_request(protocol.encode_publish(7, [wire(payload=_nested(31))])).items
    assert not isinstance(item, str)


def test_the_documented_dedup_memory_is_what_the_sequencer_keeps():
    """Remembered while fewer than half the window came after it; never past window - 1."""
    window = 16

    def forgotten_after(earlier: int) -> int:
        """How many newer messages it takes to forget a key stamped after ``earlier``."""
        sequencer_ = Sequencer(window=window)
        for n in range(earlier):
            sequencer_.stamp([protocol.Envelope(b"\x94", "t", f"old{n}", "s")], 1.0)
        key = protocol.Envelope(b"\x94", "t", "key", "s")
        sequencer_.stamp([key], 1.0)
        newer = 0
        while not sequencer_.stamp([key], 1.0)[0]:
            sequencer_.stamp([protocol.Envelope(b"\x94", "t", f"new{newer}", "s")], 1.0)
            newer += 1
        return newer

    counts = {forgotten_after(earlier) for earlier in range(window)}
    assert min(counts) == window // 2
    assert max(counts) == window - 1


def test_the_documented_clock_step_is_what_the_broker_announces_and_logs():
    text = section("protocol.md", "### Clock steps")
    (example,) = code_blocks(text, "json")
    payload = wallclock.payload(-120.0, "running")
    assert json.loads(example) == payload
    logged = re.search(r"\(`(clock: .*?)\.\.\.`\)", " ".join(text.split())).group(1)
    assert f"clock: {payload['report']}".startswith(logged)


def test_the_documented_identity_refusal_is_the_brokers_and_every_role_is_documented():
    protocol_md, security_md = doc_text("protocol.md"), doc_text("security.md")
    assert f"starts with `{broker.IDENTITY}`" in protocol_md
    for service in keys.SERVICES:
        assert service in security_md
    for kind in keys.KINDS:
        assert f"`{kind}:" in protocol_md and f"{kind}:" in security_md
