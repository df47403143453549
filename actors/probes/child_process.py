"""Running a command line from asyncio: no shell, bounded in time and output, nothing left over.

The child gets its own session (so its process group id is its pid), stdin from /dev/null and
pipes for stdout and stderr, each kept up to a cap while the rest is read and dropped (a
chatty child never blocks on a full pipe). On timeout the whole process group is killed with
SIGKILL and the child is reaped; after a normal exit, whatever the child left running in its
group (a background grandchild) is killed too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from collections.abc import Sequence
from typing import Literal

from actors import process_group

OUTPUT_CAP = 64 * 1024
LINGER = 0.5  # after the child exits: how long to wait for its pipes to close
REAP_TIMEOUT = 5.0  # after SIGKILL: how long to wait for the exit status

Keep = Literal["head", "tail"]


@dataclasses.dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    returncode: int | None
    """The exit status (negative: killed by that signal); None when it timed out."""
    stdout: bytes
    stderr: bytes
    truncated: bool
    """Some output went over the cap and was dropped."""
    elapsed: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


class _Capture:
    def __init__(self, cap: int, keep: Keep):
        self.cap, self.keep = cap, keep
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        if self.keep == "tail":
            self.data += chunk
            if len(self.data) > self.cap:
                del self.data[: len(self.data) - self.cap]
                self.truncated = True
            return
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk


class _Collector(asyncio.SubprocessProtocol):
    """Collects both pipes as the data arrives; says when the child exited and when both
    pipes closed (``Process.wait()`` waits for both, and a grandchild can hold the pipes)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, cap: int, keep: Keep):
        self.out, self.err = _Capture(cap, keep), _Capture(cap, keep)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.out if fd == 1 else self.err).add(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open and not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


async def _within(future: asyncio.Future[None], timeout: float) -> bool:
    """Whether ``future`` is done within ``timeout`` seconds (it is not cancelled)."""
    if not future.done() and timeout > 0:
        await asyncio.wait({future}, timeout=timeout)
    return future.done()


async def run_cli(
    argv: Sequence[str],
    *,
    timeout: float,
    cap: int = OUTPUT_CAP,
    keep: Keep = "head",
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> CliResult:
    """Runs ``argv`` (no shell) for at most ``timeout`` seconds and returns what it did.

    Keeps the first (``keep='head'``, for JSON) or last (``'tail'``, for a log's last line)
    ``cap`` bytes of each stream. Raises ``OSError`` when ``argv[0]`` cannot be executed
    (``FileNotFoundError``: not installed; ``PermissionError``: not executable). On
    cancellation the process group is killed before the cancellation propagates.
    """
    argv = tuple(argv)
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    transport, collector = await loop.subprocess_exec(
        lambda: _Collector(loop, cap, keep),
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
        cwd=cwd,
    )
    pid = transport.get_pid()
    timed_out = False
    try:
        if not await _within(collector.exited, timeout):
            timed_out = True
            process_group.kill_group(pid)
            await _within(collector.exited, REAP_TIMEOUT)
        else:
            # Output written just before the exit may still be in the pipes; a grandchild
            # that holds them open must not hold us up for long.
            await _within(collector.closed, min(LINGER, started + timeout - time.monotonic()))
            process_group.kill_group(pid)  # whatever the child left behind in its group
        await _within(collector.closed, LINGER)
    finally:
        if transport.get_returncode() is None:
            process_group.kill_group(
                pid
            )  # cancelled, or unkillable: the child watcher reaps it later
        transport.close()
    returncode = transport.get_returncode()
    return CliResult(
        argv=argv,
        returncode=None if timed_out else returncode,
        stdout=bytes(collector.out.data),
        stderr=bytes(collector.err.data),
        truncated=collector.out.truncated or collector.err.truncated,
        elapsed=time.monotonic() - started,
    )
