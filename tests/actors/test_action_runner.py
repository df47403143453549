"""actors.action_runner: commands in order, one deadline, capped log, rate-limited live output."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from actors.action_runner import SKIPPED, run

PY = sys.executable
pytestmark = pytest.mark.slow


def _py(code: str) -> list[str]:
    return [PY, "-c", code]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_gone(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return all(_gone(pid) for pid in pids)


def test_two_commands_succeed(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "a.log"
    result = run([_py("print('one')"), _py("print('two')")], log_path=log, timeout=10)
    text = log.read_text()
    assert result.outcome == "succeeded"
    assert (result.exit_code, result.failed_command, result.detail) == (0, None, "exit 0")
    assert f"$ {PY} -c 'print('\"'\"'one'\"'\"')'\none\n[exit 0]\n" in text
    assert text.index("one") < text.index("two")
    assert text.count("[exit 0]") == 2
    assert result.log_bytes == len(text.encode()) and not result.truncated


def test_stops_at_the_first_failure(tmp_path: Path) -> None:
    marker = tmp_path / "third-ran"
    log = tmp_path / "a.log"
    log.write_bytes(b"earlier run\n")
    result = run(
        [
            _py("print('fine')"),
            _py("import sys; print('disk full'); print(); sys.exit(3)"),
            _py(f"open({str(marker)!r}, 'w').close()"),
        ],
        log_path=log,
        timeout=10,
    )
    assert (result.outcome, result.exit_code, result.failed_command) == ("failed", 3, 1)
    assert result.detail == "command 2 exited 3: disk full"
    assert not marker.exists()
    text = log.read_text()
    assert text.startswith("earlier run\n") and text.endswith("[exit 3]\n")
    assert result.log_bytes == len(text) - len("earlier run\n")


def test_killed_by_signal(tmp_path: Path) -> None:
    result = run([_py("import os; os.kill(os.getpid(), 9)")], log_path=tmp_path / "l", timeout=10)
    assert (result.outcome, result.exit_code) == ("failed", -9)
    assert result.detail == "command 1 was killed by SIGKILL"


STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = os.fork()
if grandchild == 0:
    while True:
        time.sleep(0.1)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {grandchild}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def test_timeout_kills_the_group_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    script, pids_file = tmp_path / "stubborn.py", tmp_path / "pids"
    script.write_text(STUBBORN)
    marker = tmp_path / "next-ran"
    started = time.monotonic()
    result = run(
        [[PY, str(script), str(pids_file)], _py(f"open({str(marker)!r}, 'w').close()")],
        log_path=tmp_path / "a.log",
        timeout=1,
    )
    took = time.monotonic() - started
    assert result.outcome == "timed_out" and result.exit_code is None
    assert result.failed_command == 0 and not marker.exists()
    assert result.detail == "timed out after 1 s; killed the process group"
    assert 1 <= took < 4.5, took
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 2
    assert _wait_gone(pids), [psutil.Process(p).status() for p in pids if psutil.pid_exists(p)]
    text = (tmp_path / "a.log").read_text()
    assert "ready\n" in text and text.endswith("killed the process group]\n")


def test_a_background_grandchild_holding_the_pipe_does_not_hang_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('started')\n"
    )
    started = time.monotonic()
    result = run([_py(code)], log_path=tmp_path / "a.log", timeout=10)
    try:
        assert result.outcome == "succeeded"
        assert time.monotonic() - started < 3
        # A command that exits on its own keeps what it started (a daemon, say).
        assert not _gone(int(pid_file.read_text()))
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_output_beyond_the_cap_is_counted_not_kept(tmp_path: Path) -> None:
    total, cap = 50 * 1024 * 1024, 100 * 1024
    code = (
        "import sys\nblock = b'x' * 65536\n"
        f"for _ in range({total // 65536}):\n    sys.stdout.buffer.write(block)\n"
    )
    me = psutil.Process()
    before = me.memory_info().rss
    peak = [before]

    def sample(chunk: bytes) -> None:
        peak.append(me.memory_info().rss)

    log = tmp_path / "big.log"
    result = run(
        [_py(code)], log_path=log, timeout=30, cap_bytes=cap, on_output=sample, chunk_every=0.05
    )
    peak.append(me.memory_info().rss)
    assert result.outcome == "succeeded" and result.truncated
    data = log.read_bytes()
    marker = data[data.rindex(b"\n[output cut at") :]
    dropped = int(marker.split(b"; ")[1].split()[0])
    assert marker == f"\n[output cut at {cap} bytes; {dropped} more bytes not kept]\n".encode()
    assert len(data) == cap + len(marker) == result.log_bytes
    # Kept plus dropped is everything: the header, the output and the exit line.
    header = f"$ {shlex.join([PY, '-c', code])}\n"
    assert cap + dropped == len(header.encode()) + total + len(b"[exit 0]\n")
    assert max(peak) - before < 20 * 1024 * 1024, (max(peak) - before) / 1e6


def test_on_output_is_rate_limited_and_capped(tmp_path: Path) -> None:
    code = (
        "import sys, time\nend = time.monotonic() + 1.2\ni = 0\n"
        "while time.monotonic() < end:\n"
        "    print(f'line {i} ' + 'y' * 200, flush=True); i += 1; time.sleep(0.002)\n"
    )
    calls: list[tuple[float, bytes]] = []
    every, limit = 0.2, 1000
    result = run(
        [_py(code)],
        log_path=tmp_path / "a.log",
        timeout=10,
        on_output=lambda chunk: calls.append((time.monotonic(), chunk)),
        chunk_every=every,
        chunk_bytes=limit,
    )
    assert result.outcome == "succeeded"
    assert 3 <= len(calls) <= result.seconds / every + 2, len(calls)
    longest_marker = len(SKIPPED.format(10**9).encode())
    assert all(len(chunk) <= limit + longest_marker for _, chunk in calls)
    times = [t for t, _ in calls]
    assert all(b - a >= every * 0.95 for a, b in zip(times[:-2], times[1:-1], strict=True))
    assert calls[0][1].startswith(f"$ {PY}".encode())
    assert b"bytes skipped]" in b"".join(chunk for _, chunk in calls)
    # The final call brings what is left, capped like the others.
    assert calls[-1][1].endswith((b"[exit 0]\n", b" bytes skipped]\n"))


@pytest.mark.parametrize("kind", ["missing", "not executable"])
def test_a_command_that_cannot_start_fails_and_nothing_else_runs(tmp_path: Path, kind: str) -> None:
    program = tmp_path / "tool"
    if kind == "not executable":
        program.write_text("#!/bin/sh\n")
    marker = tmp_path / "ran"
    children = len(psutil.Process().children(recursive=True))
    result = run(
        [[str(program), "--help"], _py(f"open({str(marker)!r}, 'w').close()")],
        log_path=tmp_path / "a.log",
        timeout=10,
    )
    assert (result.outcome, result.exit_code, result.failed_command) == ("failed", None, 0)
    assert result.detail.startswith(f"cannot run {program}: ")
    assert not marker.exists()
    assert len(psutil.Process().children(recursive=True)) == children
    assert (tmp_path / "a.log").read_text().endswith(f"[{result.detail}]\n")


def test_the_log_holds_each_line_while_the_command_still_runs(tmp_path: Path) -> None:
    """`homelab actions show` and the UI read the log of a running action: a line printed
    is in the file before the command ends, not at its end."""
    import threading

    log, release = tmp_path / "a.log", tmp_path / "release"
    code = (
        "import os, sys, time\n"
        "print('first line', flush=True)\n"
        f"deadline = time.monotonic() + 20\n"
        f"while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
    )
    done: list = []
    worker = threading.Thread(
        target=lambda: done.append(run([_py(code)], log_path=log, timeout=30))
    )
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"first line" not in (
            log.read_bytes() if log.exists() else b""
        ):
            time.sleep(0.02)
        assert b"first line" in log.read_bytes() and not done
    finally:
        release.touch()
        worker.join(timeout=30)
    assert done and done[0].outcome == "succeeded"
