"""``homelab replay`` (from disk, no broker) and ``homelab tap`` (live from the broker)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from actors.readmodel import eventlog, timespec
from bus import client, filelog
from bus.dataroot import DataRoot
from bus.envelope import Message
from homelab.render import Printer
from homelab.settings import Settings
from homelab.user_input import InputError

PROGRESS_ABOVE = 20_000  # records; shorter reads need no progress bar
WAIT_TIMEOUT = 2.0  # seconds without an answer before the tap says it waits for the broker
STOP_CHECK = 0.5  # seconds between looks at the stop flag while following the bus


class NothingInRange(Exception):
    """The range given to ``replay`` holds no message of the log (exit 1, not an error)."""


def replay(
    settings: Settings, start: str | None, end: str | None, prefixes: Sequence[str], as_json: bool
) -> int:
    now = time.time()
    _check_order(start, end, now)
    log = filelog.FileLog(DataRoot(settings.root).require().events)
    after = _position(log, start, now, default=1) - 1
    until = _position(log, end, now, default=log.last_seq, inclusive_end=True)
    trimmed = _trimmed(log, start, now)
    if trimmed and until < log.first_seq:
        raise NothingInRange(f"nothing in range: {trimmed}")
    _check_not_empty(log.last_seq, after, until)
    if trimmed:
        print(trimmed, file=sys.stderr, flush=True)
    printer = Printer(as_json)
    messages = log.messages(after, until, prefixes)
    total = max(0, until - after)
    if total > PROGRESS_ABOVE and sys.stderr.isatty():
        messages = _with_progress(messages, total, after, printer)
    for message in messages:
        printer(message)
    printer.flush()
    return 0


def _trimmed(log: filelog.FileLog, start: str | None, now: float) -> str:
    """What to say when the range starts before the history retention kept ('' if not)."""
    kind, value = timespec.parse(start, now) if start is not None else ("seq", 1)
    return eventlog.before_history(log, kind, value)


def _check_order(start: str | None, end: str | None, now: float) -> None:
    """--from after --to (both SEQ or both TIME) is a mistake, not an empty answer."""
    if start is None or end is None:
        return
    (start_kind, first), (end_kind, last) = timespec.parse(start, now), timespec.parse(end, now)
    if start_kind == end_kind and first > last:
        raise InputError(f"--from {start} is after --to {end}: nothing can match")


def _check_not_empty(last_seq: int, after: int, until: int) -> None:
    if last_seq == 0:
        raise NothingInRange("nothing in range: the log is empty")
    if after >= last_seq:
        raise NothingInRange(f"nothing in range: the log ends at seq {last_seq}")
    if after >= until:
        raise NothingInRange(f"nothing in range: --to is before seq {after + 1}, where --from is")


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
    """Follow the bus until Ctrl-C or SIGTERM (exit 0). With no broker, say so once on
    stderr and keep waiting for it; after losing it, go on from the last message shown."""
    printer = Printer(as_json)
    waiting = _Waiting(settings.bus)
    with _stop_on_signals() as stop:
        first = _first_seq(settings.bus, since, waiting, stop)
        while not stop.requested:
            try:
                with client.Subscriber(
                    settings.bus, *prefixes, since=first, timeout=WAIT_TIMEOUT
                ) as subscriber:
                    waiting.over()
                    while not stop.requested:
                        message = subscriber.get(timeout=STOP_CHECK)
                        if message is not None:
                            printer(message)
                            printer.flush()
                            first = message.seq + 1
            except client.BusUnavailable:
                waiting.say()
    return 0


def _first_seq(endpoint: str, since: str | None, waiting: _Waiting, stop: _Stop) -> int | None:
    if since is None:
        return None
    kind, value = timespec.parse(since, time.time())
    if kind == "seq":
        return int(value)
    while not stop.requested:  # a time needs the broker's index: wait for it like the tap
        try:
            return client.seq_at(endpoint, value, timeout=WAIT_TIMEOUT)
        except client.BusUnavailable:
            waiting.say()
    return None


class _Waiting:
    """One line on stderr per time the broker is missing, not one per retry."""

    def __init__(self, endpoint: str):
        self.endpoint, self.said = endpoint, False

    def say(self) -> None:
        if not self.said:
            print(
                f"waiting for the broker at {self.endpoint} (is `homelab broker` running?)",
                file=sys.stderr,
                flush=True,
            )
            self.said = True

    def over(self) -> None:
        self.said = False


class _Stop:
    """A signal handler that interrupts a blocking wait (KeyboardInterrupt) and leaves a
    flag: an exception raised while Python runs a finaliser (a zmq socket's ``__del__``)
    is swallowed, and then the flag ends the loop within ``STOP_CHECK`` or ``WAIT_TIMEOUT``."""

    requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    """Ctrl-C and SIGTERM stop the tap, even when started as a shell's background job (which
    starts with SIGINT ignored, so Python installs no KeyboardInterrupt for it)."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook

    def quiet(unraisable) -> None:  # no "Exception ignored in ..." for our own interrupt
        if not (stop.requested and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            hook(unraisable)

    sys.unraisablehook = quiet
    try:
        yield stop
    finally:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
