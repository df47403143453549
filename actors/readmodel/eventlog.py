"""Reading back the event log for the pages: one record by sequence number, a range by
sequence or time, the latest messages of one kind (a service's observations, the last
``desired.revision``) and the output a running action has printed so far.

Every read is bounded: a range by ``limit`` records shown, a look back by ``scan`` records
read from the end of the log, so a long history never makes a page slow.

What is read back as the control plane's own (a service's observations, the revision the
supervisor announced, an action's output) is taken only from the part of the control plane
that may publish it (``actors.domain.publishers``): a message any tool can send (``homelab
emit``, the inbox) under such a topic is not shown as if the control plane had sent it.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from actors.domain import publishers, topics
from bus import envelope, filelog
from bus.dataroot import DataRoot
from bus.envelope import Message

SCAN = 5000  # records read back from the end of the log at most, per look back
RECENT_OBSERVATIONS = 20
OUTPUT_SCAN = 200_000  # records read back at most to catch up with a running action's output


def _log(root: Path) -> filelog.FileLog:
    return filelog.FileLog(DataRoot(root).require().events)


def before_history(log: filelog.FileLog, kind: str, value: float) -> str:
    """What to say when a range that starts at ``value`` (a ``kind`` "seq" or "time")
    starts before the history retention kept; "" when it does not."""
    first = log.first_seq
    if first <= 1 or first > log.last_seq:
        return ""
    began = next(iter(log.messages(first - 1, first)))
    if value >= (first if kind == "seq" else began.time):
        return ""
    day = dt.datetime.fromtimestamp(began.time, dt.UTC).strftime("%Y-%m-%d")
    return f"history before seq {first} ({day}) was deleted by retention"


def history_note(root: Path, kind: str, value: float) -> str:
    """``before_history`` for the log under ``root``."""
    return before_history(_log(root), kind, value)


def record(root: Path, seq: int) -> Message | None:
    """The message stored at ``seq``, or None when the log does not hold it."""
    if seq < 1:
        return None
    return next(iter(_log(root).messages(seq - 1, seq)), None)


def by_seq(root: Path, first: int, last: int, prefix: str, limit: int) -> list[Message]:
    """Messages with ``first <= seq <= last`` (and the topic prefix), at most ``limit``."""
    found = _log(root).messages(max(0, first - 1), last, [prefix] if prefix else [])
    return [m for _, m in zip(range(limit), found, strict=False)]


def by_time(root: Path, start: float, end: float, prefix: str, limit: int) -> list[Message]:
    """Messages stamped ``start <= time < end`` (the log's time index finds where to begin:
    nothing before it is read), at most ``limit``."""
    log = _log(root)
    first, stop = log.seq_at(start), log.seq_at(end) - 1
    found = log.messages(first - 1, stop, [prefix] if prefix else [])
    return [m for _, m in zip(range(limit), found, strict=False)]


def latest(
    root: Path,
    prefix: str,
    keep: Callable[[Message], bool] = lambda m: True,
    limit: int = RECENT_OBSERVATIONS,
    scan: int = SCAN,
) -> list[Message]:
    """The last ``limit`` messages under ``prefix`` that ``keep`` accepts, newest first,
    looking at no more than the last ``scan`` records of the log. Only records whose topic
    matches are decoded."""
    log = _log(root)
    after = max(0, log.last_seq - scan)
    found: collections.deque[Message] = collections.deque(maxlen=limit)
    for body in log.read(after, log.last_seq, [prefix]):
        message = envelope.decode_body(body)
        if keep(message):
            found.append(message)
    return list(reversed(found))


def genuine(message: Message) -> bool:
    """Sent by whoever may send its topic: the control plane's topics only by their owner."""
    return publishers.may_publish(message.source, message.topic)


def observations(
    root: Path, node: str, service: str, limit: int = RECENT_OBSERVATIONS, scan: int = SCAN
) -> list[Message]:
    """A service's recent observations (``obs.node.NODE.service.NAME``), newest first. The
    topic must match exactly: the prefix for ``web`` would also take ``web1``."""
    topic = topics.observation(node, service)
    return latest(root, topic, lambda m: m.topic == topic and genuine(m), limit, scan)


def last_revision(root: Path, scan: int = SCAN * 4) -> dict | None:
    """The payload of the last ``desired.revision`` within the last ``scan`` records (it
    says whether that revision was a rollback), or None."""
    found = latest(
        root,
        topics.DESIRED_REVISION,
        lambda m: m.topic == topics.DESIRED_REVISION and genuine(m),
        1,
        scan,
    )
    return found[0].payload if found else None


def action_output(
    root: Path, action_id: str, since: float, lines: int, scan: int = OUTPUT_SCAN
) -> tuple[list[str], int]:
    """What the action printed so far, as its ``action.output`` messages carried it: the
    last ``lines`` lines, read from the first record stamped at ``since`` (when it was
    approved) but no more than ``scan`` records back; and the last seq looked at, so a page
    that caught up this way takes live chunks only after it (none twice, none lost).

    The bus, not ``logs/actions/<id>.log``: the executor writes that file through a buffer,
    so while the action runs it may not hold what was already printed."""
    log = _log(root)
    last = log.last_seq
    after = max(log.seq_at(since) - 1, last - scan, 0)
    chunks: collections.deque[str] = collections.deque(maxlen=max(lines, 1))
    for body in log.read(after, last, [topics.ACTION_OUTPUT]):
        message = envelope.decode_body(body)
        if (
            message.topic == topics.ACTION_OUTPUT
            and message.payload.get("id") == action_id
            and genuine(message)
        ):
            chunks.append(str(message.payload.get("chunk", "")))
    return "".join(chunks).splitlines()[-lines:] if lines > 0 else [], last
