"""ProcessGroup with real child processes (small ``python -c`` programs)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from homelab.procs import ProcessGroup, ServiceSpec, StartupError, last_line

REPO = Path(__file__).resolve().parents[2]
SLEEP = "import time; time.sleep(60)"


def py(code: str, *args: object) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code), *map(str, args))


def wait_for(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (PID 1 may not be a reaper)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def written(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture
def make_group(tmp_path: Path) -> Iterator[Callable[..., ProcessGroup]]:
    groups: list[ProcessGroup] = []

    def make(specs: list[ServiceSpec], **kwargs: float) -> ProcessGroup:
        groups.append(ProcessGroup(specs, tmp_path / "logs", **kwargs))
        return groups[-1]

    yield make
    for group in groups:
        group.stop()


@contextlib.contextmanager
def supervising(group: ProcessGroup) -> Iterator[None]:
    """``run()`` in a thread (so without signal handlers); ``stop()`` from this one."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(group.run()), daemon=True)
    thread.start()
    try:
        yield
    finally:
        group.stop()
        thread.join(15)
        assert not thread.is_alive()
        assert result == [0]


def status(group: ProcessGroup, name: str) -> dict:
    return next(s for s in group.status() if s["name"] == name)


def test_service_names_must_be_unique(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        ProcessGroup([ServiceSpec("a", py(SLEEP)), ServiceSpec("a", py(SLEEP))], tmp_path)


# ProcessGroup: real processes


@pytest.mark.slow
def test_next_service_starts_only_after_the_previous_is_ready(
    tmp_path: Path, make_group: Callable[..., ProcessGroup]
) -> None:
    flag, second_at = tmp_path / "first-ready", tmp_path / "second-started"
    ready_at: list[float] = []

    def first_ready() -> bool:
        if flag.exists():
            ready_at.append(time.time())
            return True
        return False

    first = py(
        """
        import os, sys, time
        time.sleep(0.3)
        open(sys.argv[1] + ".tmp", "w").write(repr(time.time()))
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(60)
        """,
        flag,
    )
    second = py("import sys, time; open(sys.argv[1], 'w').write(repr(time.time()))", second_at)
    group = make_group(
        [ServiceSpec("first", first, ready=first_ready), ServiceSpec("second", second)]
    )
    group.start()
    wait_for(lambda: written(second_at), "the second service to record its start")
    assert float(second_at.read_text()) >= ready_at[0] >= float(flag.read_text())


@pytest.mark.slow
def test_crashed_child_is_restarted_and_its_log_keeps_every_run(
    tmp_path: Path, make_group: Callable[..., ProcessGroup]
) -> None:
    crasher = py("import os; print('run', os.getpid(), flush=True); raise SystemExit(3)")
    group = make_group([ServiceSpec("crasher", crasher), ServiceSpec("sleeper", py(SLEEP))])
    group.start()
    with supervising(group):
        wait_for(lambda: status(group, "crasher")["restarts"] >= 1, "a first restart")
        wait_for(lambda: status(group, "crasher")["restarts"] >= 2, "a second restart")
        wait_for(lambda: status(group, "crasher")["last_exit"] == 3, "an exit code")
        assert status(group, "sleeper") | {"pid": 0} == {
            "name": "sleeper",
            "pid": 0,
            "running": True,
            "restarts": 0,
            "last_exit": None,
        }
    # Two restarts mean two runs have exited (the third may have been stopped before printing).
    runs = (tmp_path / "logs" / "crasher.log").read_text().splitlines()
    assert len(runs) >= 2 and all(line.startswith("run ") for line in runs)
    assert len(set(runs)) == len(runs)  # a different pid each run, appended not truncated


@pytest.mark.slow
def test_child_exiting_zero_is_restarted_and_logged(
    make_group: Callable[..., ProcessGroup], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="homelab.up")
    group = make_group([ServiceSpec("quitter", py("pass"))])
    group.start()
    with supervising(group):
        wait_for(lambda: status(group, "quitter")["restarts"] >= 1, "a restart")
    assert "quitter exited with code 0 although it should run forever" in caplog.text
    assert "restarting in 1 s" in caplog.text
    assert "restarted quitter: pid " in caplog.text


@pytest.mark.slow
def test_stop_kills_what_ignores_sigterm_and_leaves_nothing(
    tmp_path: Path, make_group: Callable[..., ProcessGroup]
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    stubborn = py(
        """
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild too
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(sys.argv[1] + ".tmp", "w").write(str(grandchild.pid))
        os.replace(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(60)
        """,
        pidfile,
    )
    group = make_group([ServiceSpec("stubborn", stubborn, ready=pidfile.exists)], stop_timeout=1)
    group.start()
    child, grandchild = status(group, "stubborn")["pid"], int(pidfile.read_text())
    began = time.monotonic()
    group.stop()
    took = time.monotonic() - began
    assert 0.9 <= took < 5
    assert status(group, "stubborn")["last_exit"] == -signal.SIGKILL
    assert not status(group, "stubborn")["running"]
    assert gone(child)
    wait_for(lambda: gone(grandchild), "the grandchild to die with its process group")
    group.stop()  # idempotent


@pytest.mark.slow
def test_ready_timeout_raises_names_the_log_and_stops_everything(
    tmp_path: Path, make_group: Callable[..., ProcessGroup]
) -> None:
    group = make_group(
        [
            ServiceSpec("broker", py(SLEEP)),
            ServiceSpec("agent", py(SLEEP), ready=lambda: False, ready_timeout=0.5),
        ]
    )
    with pytest.raises(StartupError, match=r"^agent did not become ready within 0.5 s") as err:
        group.start()
    assert str(tmp_path / "logs" / "agent.log") in str(err.value)
    pids = [s["pid"] for s in group.status()]
    assert None not in pids and all(gone(pid) for pid in pids)
    assert not any(s["running"] for s in group.status())


@pytest.mark.slow
def test_child_exiting_during_startup_raises_at_once(
    make_group: Callable[..., ProcessGroup],
) -> None:
    group = make_group([ServiceSpec("broker", py("raise SystemExit(2)"), ready=lambda: False)])
    began = time.monotonic()
    with pytest.raises(StartupError, match=r"^broker exited with code 2 during startup"):
        group.start()
    assert time.monotonic() - began < 5  # long before the 15 s ready timeout


@pytest.mark.slow
def test_a_crash_during_startup_shows_the_exception_line_and_where_the_rest_is(
    tmp_path: Path, make_group: Callable[..., ProcessGroup]
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "broker.log").write_text("an older run's last words\n")
    crash = py("print('starting', flush=True); raise OSError(98, 'Address already in use')")
    group = make_group([ServiceSpec("broker", crash, ready=lambda: False)])
    with pytest.raises(StartupError) as err:
        group.start()
    log_path = tmp_path / "logs" / "broker.log"
    assert str(err.value) == (
        "broker exited with code 1 during startup: OSError: [Errno 98] Address already in use "
        f"(full output in {log_path})"
    )


@pytest.mark.slow
def test_a_crashed_childs_last_error_line_is_logged_not_only_its_exit_code(
    tmp_path: Path, make_group: Callable[..., ProcessGroup], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="homelab.up")
    crash = py(
        "import sys; print('working'); print('ValueError: bad inventory', file=sys.stderr)"
        "; print(); raise SystemExit(1)"
    )
    silent = py("raise SystemExit(4)")
    group = make_group([ServiceSpec("crasher", crash), ServiceSpec("mute", silent)])
    group.start()
    with supervising(group):
        wait_for(lambda: status(group, "crasher")["restarts"] >= 1, "a restart")
        wait_for(lambda: status(group, "mute")["restarts"] >= 2, "two restarts of the mute one")
    logs = tmp_path / "logs"
    assert (
        f"crasher exited with code 1: ValueError: bad inventory "
        f"(full output in {logs / 'crasher.log'}) -> restarting in" in caplog.text
    )
    # A run that printed nothing is not blamed on an earlier run's output.
    assert f"mute exited with code 4 (full output in {logs / 'mute.log'})" in caplog.text


def test_last_line_skips_blank_lines_and_reads_only_after_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"old run\nTraceback...\n  File x\nKeyError: 'a'\n\n  \n")
    assert last_line(path) == "KeyError: 'a'"
    assert last_line(path, offset=path.stat().st_size) == ""
    assert last_line(tmp_path / "missing.log") == ""
    path.write_bytes(b"x" * 500)
    assert last_line(path) == "x" * 199 + "…"


@pytest.mark.slow
def test_unstartable_program_raises_and_stops_the_rest(
    make_group: Callable[..., ProcessGroup],
) -> None:
    group = make_group(
        [ServiceSpec("broker", py(SLEEP)), ServiceSpec("ui", ("/nonexistent/homelab-ui",))]
    )
    with pytest.raises(StartupError, match="^ui could not be started"):
        group.start()
    assert gone(status(group, "broker")["pid"])


DRIVER = """
import sys
from pathlib import Path

from homelab.procs import ProcessGroup, ServiceSpec

CHILD = '''
import os, signal, sys, time

def bye(signum, frame):
    print("got SIGTERM", flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, bye)
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(1)
'''
tmp = Path(sys.argv[1])
specs = [
    ServiceSpec(name, (sys.executable, "-c", CHILD, str(tmp / name)), ready=(tmp / name).exists)
    for name in ("broker", "agent")
]
sys.exit(ProcessGroup(specs, tmp / "logs", stop_timeout=5).run())
"""


@contextlib.contextmanager
def driver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """``run()`` in its own process, as ``homelab up`` would; yields it and its children."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: written(tmp_path / "agent") or proc.poll() is not None, "children")
        assert proc.poll() is None, proc.communicate()
        yield proc, [int(written(tmp_path / name)) for name in ("broker", "agent")]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_run_stops_cleanly_on_a_signal(tmp_path: Path, signum: signal.Signals) -> None:
    with driver(tmp_path) as (proc, children):
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"received {signum.name}" in stderr
    assert "stopping agent, broker" in stderr and stderr.rstrip().endswith("stopped")
    for pid in children:
        assert gone(pid)
    for name in ("broker", "agent"):  # asked politely, not killed
        assert "got SIGTERM" in (tmp_path / "logs" / f"{name}.log").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    with driver(tmp_path) as (proc, children):
        proc.kill()
        proc.wait(10)
        for pid in children:
            wait_for(lambda pid=pid: gone(pid), f"child {pid} to die")


@pytest.mark.slow
def test_stop_cancels_a_restart_in_back_off_and_starts_nothing_after(
    tmp_path: Path, make_group: Callable[..., ProcessGroup], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="homelab.up")
    runs = tmp_path / "runs"
    crasher = py("import os, sys; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')", runs)
    group = make_group([ServiceSpec("crasher", crasher)])
    group.start()
    with supervising(group):  # leaving it stops the group
        wait_for(lambda: "crasher exited with code 0" in caplog.text, "the first exit")
        assert status(group, "crasher")["running"] is False  # waiting its 1 s
    stopped_at, pids = time.monotonic(), written(runs).split()
    assert len(pids) == 1
    # Past the moment the restart was due, and a little more: still one run.
    time.sleep(max(0.0, stopped_at + 1.5 - time.monotonic()))
    assert written(runs).split() == pids
    assert "restarted crasher" not in caplog.text


def test_key_files_named_in_the_shell_are_not_passed_to_the_control_planes_services(
    tmp_path: Path, make_group: Callable[..., ProcessGroup], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node's key exported for a `homelab tap` must not become every service's key."""
    monkeypatch.setenv("HOMELAB_KEY", "tool-check.key_secret")
    monkeypatch.setenv("HOMELAB_BROKER_KEY", "broker.key")
    monkeypatch.setenv("HOMELAB_KEYS", str(tmp_path / "keys"))
    seen = tmp_path / "seen"
    code = "import os, sys; open(sys.argv[1], 'w').write(repr(sorted(k for k in os.environ if k.startswith('HOMELAB_KEY'))))"
    group = make_group([ServiceSpec("child", py(code, seen))])
    group.start()
    wait_for(lambda: written(seen), "the child to write what it was given")
    assert seen.read_text() == "['HOMELAB_KEYS']"
