"""Running an action's argv lists in order: no shell, bounded in time and output, logged.

``run`` spawns each command (from ``drivers.commands``) in its own session with stdin from
/dev/null and stdout + stderr on one pipe, stops at the first non-zero exit, and gives the
whole list one deadline. Output is read in chunks as it comes: appended to a log file up to a
cap (then counted and dropped, with one marker line at the end) and handed, rate-limited, to
``on_output`` for live streaming. Memory stays bounded whatever the children print.

On timeout the command's process group gets SIGTERM, up to ``GRACE`` seconds to go, then
SIGKILL; the child is reaped. A command that exits on its own is not killed after the fact:
whatever it started in the background (a ``start`` command's daemon) is left running; if that
holds the pipe open, reading stops ``LINGER`` seconds after the child's exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import selectors
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from actors import process_group
from actors.domain import states

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
GRACE = 2.0  # after SIGTERM: how long the group gets before SIGKILL
LINGER = 0.5  # after a child's exit: how long to wait for its pipe to close
POLL = 0.1  # while the pipe is open: how often to look whether the child exited
REAP_TIMEOUT = 5.0  # after SIGKILL: how long to wait for the exit status
TAIL = 4096  # bytes of a command's output kept for the last line in ``detail``
SKIPPED = "\n[\u2026 {} bytes skipped]\n"


@dataclasses.dataclass(frozen=True)
class RunResult:
    outcome: str
    """``states.SUCCEEDED``, ``FAILED`` or ``TIMED_OUT``."""
    exit_code: int | None
    """Of the last command run (negative: killed by that signal); None when timed out or
    when it could not be started."""
    failed_command: int | None
    """Index in the list of the command that failed or timed out; None on success."""
    log_bytes: int
    """Bytes appended to the log file (including the cut marker)."""
    truncated: bool
    seconds: float
    detail: str
    """One line for people."""


def run(
    commands: Sequence[Sequence[str]],
    *,
    log_path: Path,
    timeout: float,
    cap_bytes: int = 1_048_576,
    on_output: Callable[[bytes], None] | None = None,
    chunk_every: float = 0.5,
    chunk_bytes: int = 16_384,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Runs ``commands`` in order within ``timeout`` seconds in all, appending to ``log_path``.

    Each command is logged as ``$ <argv>`` and ``[exit N]``. ``on_output`` gets at most one
    chunk (at most ``chunk_bytes``, plus a "[… N bytes skipped]" marker) per ``chunk_every``
    seconds, plus a final one; it is called synchronously and must be fast.
    """
    argvs = [list(argv) for argv in commands]
    if any(not argv for argv in argvs):
        raise ValueError("an empty command line")
    started = time.monotonic()
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as file:
        sink = _Sink(file, cap_bytes, _Stream(on_output, chunk_every, chunk_bytes))
        try:
            outcome, exit_code, index, detail = _Runner(
                sink, started + timeout, timeout, None if env is None else dict(env)
            ).run_all(argvs)
        finally:
            sink.finish()
            file.flush()
            os.fsync(file.fileno())
    return RunResult(
        outcome=outcome,
        exit_code=exit_code,
        failed_command=index,
        log_bytes=sink.written,
        truncated=sink.dropped > 0,
        seconds=time.monotonic() - started,
        detail=detail,
    )


class _Stream:
    """Rate-limited chunks for ``on_output``: the start of what came since the last call."""

    def __init__(self, fn: Callable[[bytes], None] | None, every: float, limit: int):
        self.fn, self.every, self.limit = fn, every, limit
        self.buf = bytearray()
        self.skipped = 0
        self.last: float | None = None

    def add(self, data: bytes) -> None:
        if self.fn is None:
            return
        room = max(self.limit - len(self.buf), 0)
        self.buf += data[:room]
        self.skipped += max(len(data) - room, 0)

    def wait(self, now: float) -> float | None:
        """Seconds until a pending chunk may go; None when nothing is pending."""
        if not (self.buf or self.skipped):
            return None
        return 0.0 if self.last is None else max(self.last + self.every - now, 0.0)

    def emit(self, now: float, final: bool = False) -> None:
        due = self.wait(now)
        if due is None or (due > 0 and not final) or self.fn is None:
            return
        chunk = bytes(self.buf)
        if self.skipped:
            chunk += SKIPPED.format(self.skipped).encode()
        self.buf.clear()
        self.skipped = 0
        self.last = now
        try:
            self.fn(chunk)
        except Exception:  # a broken viewer must not break the action
            log.exception("on_output failed; no more live output for this run")
            self.fn = None


class _Sink:
    """The log file up to ``cap`` bytes (the rest counted), and the live stream."""

    def __init__(self, file: BinaryIO, cap: int, stream: _Stream):
        self.file, self.cap, self.stream = file, cap, stream
        self.kept = 0
        self.dropped = 0
        self.written = 0

    def add(self, data: bytes) -> None:
        room = max(self.cap - self.kept, 0)
        if room:
            self.file.write(data[:room])
            self.file.flush()  # the log is read while the action runs (`actions show`, the UI)
            self.kept += min(room, len(data))
        self.dropped += max(len(data) - room, 0)
        self.stream.add(data)

    def note(self, text: str) -> None:
        self.add(text.encode())

    def finish(self) -> None:
        self.written = self.kept
        if self.dropped:
            marker = f"\n[output cut at {self.cap} bytes; {self.dropped} more bytes not kept]\n"
            self.file.write(marker.encode())
            self.written += len(marker.encode())
        self.stream.emit(time.monotonic(), final=True)


class _Runner:
    def __init__(self, sink: _Sink, deadline: float, timeout: float, env: dict[str, str] | None):
        self.sink, self.deadline, self.timeout, self.env = sink, deadline, timeout, env

    def run_all(self, argvs: list[list[str]]) -> tuple[str, int | None, int | None, str]:
        timed_out = f"timed out after {self.timeout:g} s; killed the process group"
        code: int | None = None
        for index, argv in enumerate(argvs):
            self.sink.note(f"$ {shlex.join(argv)}\n")
            if time.monotonic() >= self.deadline:
                self.sink.note("[timed out before this command started]\n")
                return states.TIMED_OUT, None, index, f"timed out after {self.timeout:g} s"
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    env=self.env,
                )
            except OSError as error:
                why = f"cannot run {argv[0]}: {error.strerror or error}"
                self.sink.note(f"[{why}]\n")
                return states.FAILED, None, index, why
            code, tail = self._watch(proc)
            if code is None:
                self.sink.note(f"[{timed_out}]\n")
                return states.TIMED_OUT, None, index, timed_out
            self.sink.note(f"[exit {code}]\n")
            if code != 0:
                how = (
                    f"exited {code}"
                    if code > 0
                    else f"was killed by {process_group.signal_name(-code)}"
                )
                line = process_group.last_line(tail)
                detail = f"command {index + 1} {how}" + (f": {line}" if line else "")
                return states.FAILED, code, index, detail
        return states.SUCCEEDED, code, None, f"exit {code}"

    def _watch(self, proc: subprocess.Popen[bytes]) -> tuple[int | None, bytes]:
        """Reads the command's output until it is done; its exit status (None: timed out)."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        tail = bytearray()
        try:
            eof, exited_at = False, None
            while not eof:
                now = time.monotonic()
                if exited_at is None and _exited(proc.pid):
                    exited_at = now
                if now >= self.deadline and exited_at is None:
                    self._kill(proc, selector)
                    return None, bytes(tail)
                if exited_at is not None and now >= min(exited_at + LINGER, self.deadline):
                    break  # something it left behind holds the pipe: stop reading
                eof = self._read(selector, self._wait(now, POLL), tail)
            while True:  # the pipe is closed; wait for the exit status
                now = time.monotonic()
                if now >= self.deadline:
                    if _exited(proc.pid):
                        break
                    self._kill(proc, selector)
                    return None, bytes(tail)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(self._wait(now, self.deadline - now))
                    break
                self.sink.stream.emit(time.monotonic())
            return proc.wait(), bytes(tail)
        finally:
            selector.close()
            proc.stdout.close()
            if proc.returncode is None:  # an exception on the way: leave nothing
                if not _exited(proc.pid):
                    process_group.kill_group(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(REAP_TIMEOUT)

    def _wait(self, now: float, most: float) -> float:
        pending = self.sink.stream.wait(now)
        wait = min(most, self.deadline - now)
        return max(min(wait, pending) if pending is not None else wait, 0.0)

    def _read(self, selector: selectors.BaseSelector, wait: float, tail: bytearray) -> bool:
        """Reads what is there within ``wait`` seconds; True at the end of the pipe."""
        eof = False
        if selector.select(wait):
            fd = next(iter(selector.get_map()))
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                data = None
            if data == b"":
                eof = True
            elif data:
                self.sink.add(data)
                tail += data
                del tail[:-TAIL]
        self.sink.stream.emit(time.monotonic())
        return eof

    def _kill(self, proc: subprocess.Popen[bytes], selector: selectors.BaseSelector) -> None:
        """SIGTERM to the group, up to ``GRACE`` s (draining the pipe), SIGKILL, reap.

        The child is not reaped before the SIGKILL, so its pid (the group id) cannot have been
        reused by then."""
        process_group.kill_group(proc.pid, signal.SIGTERM)
        grace_end = min(time.monotonic() + GRACE, self.deadline + GRACE)
        eof, scratch = False, bytearray()
        while time.monotonic() < grace_end and not (eof and _exited(proc.pid)):
            wait = min(POLL, grace_end - time.monotonic())
            if eof:
                time.sleep(0.02)  # the pipe is closed; poll for the child's exit
            else:
                eof = self._read(selector, max(wait, 0.0), scratch)
        process_group.kill_group(
            proc.pid, signal.SIGKILL
        )  # whatever is left of the group, TERM or not
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(REAP_TIMEOUT)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True  # reaped already
    return info is not None
