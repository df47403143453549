"""``homelab replay`` (from disk, no broker) and ``homelab tap`` (live from the broker)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bus import client, filelog
from bus.envelope import Message
from homelab import timespec
from homelab.render import Printer
from homelab.settings import Settings

PROGRESS_ABOVE = 20_000  # records; shorter reads need no progress bar


def replay(
    settings: Settings, start: str | None, end: str | None, prefixes: Sequence[str], as_json: bool
) -> int:
    events = settings.root / "events"
    if not events.is_dir():
        raise FileNotFoundError(f"no event log at {events} (wrong HOMELAB_ROOT or --root?)")
    log = filelog.FileLog(events)
    now = time.time()
    after = _position(log, start, now, default=1) - 1
    until = _position(log, end, now, default=log.last_seq, inclusive_end=True)
    printer = Printer(as_json)
    messages = log.messages(after, until, prefixes)
    total = max(0, until - after)
    if total > PROGRESS_ABOVE and sys.stderr.isatty():
        messages = _with_progress(messages, total, after, printer)
    for message in messages:
        printer(message)
    printer.flush()
    return 0


def _position(
    log: filelog.FileLog, spec: str | None, now: float, default: int, inclusive_end: bool = False
) -> int:
    if spec is None:
        return default
    kind, value = timespec.parse(spec, now)
    if kind == "seq":
        return int(value)
    seq = log.seq_at(value)
    return seq - 1 if inclusive_end else seq


def _with_progress(
    messages: Iterable[Message], total: int, after: int, printer: Printer
) -> Iterator[Message]:
    console = Console(stderr=True)
    if sys.stdout.isatty():
        printer.console = console  # one console, so lines print above the bar
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replay", total=total)
        last = after
        for message in messages:
            if message.seq - last >= 5000:
                progress.update(task, completed=message.seq - after)
                last = message.seq
            yield message


def tap(settings: Settings, prefixes: Sequence[str], since: str | None, as_json: bool) -> int:
    first: int | None = None
    if since is not None:
        kind, value = timespec.parse(since, time.time())
        first = int(value) if kind == "seq" else client.seq_at(settings.bus, value)
    printer = Printer(as_json)
    with client.Subscriber(settings.bus, *prefixes, since=first) as subscriber:
        for message in subscriber:
            printer(message)
            printer.flush()
    return 0
