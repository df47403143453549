"""Shared fixtures: a data root in tmp_path, free loopback ports, a real broker process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bus import client

REPO = Path(__file__).resolve().parent.parent


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65000:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free pair of ports")


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition"):
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class BrokerProcess:
    """``homelab broker`` as a real child process on free loopback ports."""

    def __init__(self, root: Path, port: int, *args: str, env: dict[str, str] | None = None):
        """``env``: settings for this broker (``HOMELAB_DISK_RESERVE``, ...)."""
        self.root, self.port, self.args, self.env = root, port, args, env or {}
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = root / "broker-stderr.log"

    def start(self, wait: bool = True) -> BrokerProcess:
        argv = [
            sys.executable,
            "-m",
            "homelab",
            "broker",
            "--root",
            str(self.root),
            "--bus",
            self.endpoint,
            *self.args,
        ]
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(**self.env),
                start_new_session=True,
            )
        if wait:
            wait_until(self.answers, 15, "the broker to answer")
        return self

    def answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"broker exited {self.proc.returncode}: {self.output()}")
        try:
            client.ping(self.endpoint, timeout=0.3)
            return True
        except client.BusError:
            return False

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode if self.proc else 0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def broker(root: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(root, free_port_pair(), "--stats-interval", "0.5").start()
    yield process
    process.stop()
