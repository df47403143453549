"""UI operators' bus keys under ``homelab ui add-user`` killed at its worst moments: a real
``homelab`` process, real locks, a real broker that says whether the key still works.

add-user writes the allowlist first, then (under the operators file's lock) the operators
file, then revokes the old key (under the keys folder's lock too). Each test holds one of
those locks, so the process stops exactly between two writes, and kills it there.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bus import client, envelope, keys
from bus.dataroot import DataRoot
from bus.filelog import FileLog
from gui import auth, sealing
from plant import REPO, BrokerProcess, TestKeys, child_env, free_port_pair, homelab, wait_until

pytestmark = pytest.mark.slow
OLD, NEW = "old password", "new password"


@pytest.fixture
def own_keys(tmp_path: Path) -> TestKeys:
    return TestKeys(tmp_path / "keys")


@pytest.fixture
def lab(tmp_path: Path, own_keys: TestKeys) -> Iterator[tuple[Path, BrokerProcess]]:
    """A data root with operator alice (password OLD) and a broker on its own keys."""
    root, env = tmp_path / "root", {"HOMELAB_KEYS": str(own_keys.folder)}
    assert homelab("init", "--root", str(root), **env).returncode == 0
    assert add_user(root, own_keys, OLD).returncode == 0
    broker = BrokerProcess(root, free_port_pair(), env=env, curve=own_keys).start()
    yield root, broker
    broker.stop()


def add_user(root: Path, own_keys: TestKeys, password: str) -> subprocess.CompletedProcess:
    argv = ("ui", "add-user", "alice", "--root", str(root))
    return homelab(*argv, stdin=password + "\n", HOMELAB_KEYS=str(own_keys.folder))


def start_add_user(root: Path, own_keys: TestKeys, password: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "homelab", "ui", "add-user", "alice", "--root", str(root)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(HOMELAB_KEYS=str(own_keys.folder)),
        cwd=REPO,
    )
    assert proc.stdin is not None
    proc.stdin.write(f"{password}\n".encode())
    proc.stdin.close()
    return proc


@contextmanager
def holding(lock_file: Path) -> Iterator[None]:
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def alice_keys(own_keys: TestKeys) -> set[str]:
    allowed = keys.read_allowlist(keys.KeyDir(own_keys.folder).allowlist)
    return {key for key, role in allowed.items() if role == "operator:alice"}


def sealed(root: Path) -> sealing.SealedKey:
    entry = auth.Operators(DataRoot(root).operators).get("alice")
    assert entry is not None and entry.bus_key is not None
    return entry.bus_key


def approves(broker: BrokerProcess, own_keys: TestKeys, password: str) -> bool:
    """alice's sealed key, opened with ``password``, gets a decision stored as ui:alice."""
    secret = sealing.unseal(sealed(broker.root), password, "alice")
    alice = keys.from_secret("operator:alice", secret, own_keys.of("tool:test").server)
    with client.Publisher(broker.endpoint, "ui:alice", timeout=5, curve=alice) as publisher:
        seq = publisher.publish("action.request.approve", {"id": "a-1"})
    found = [envelope.decode_body(b) for b in FileLog(broker.root / "events").read()]
    return any(m.seq == seq and m.source == "ui:alice" for m in found)


def test_killed_after_the_allowlist_alice_keeps_her_old_password_and_key(lab, own_keys):
    root, broker = lab
    before = alice_keys(own_keys)
    with holding(DataRoot(root).operators.with_name("operators.json.lock")):
        proc = start_add_user(root, own_keys, NEW)
        wait_until(lambda: len(alice_keys(own_keys)) == 2, 30, "the new key allowlisted")
        kill9(proc)
    assert auth.Operators(DataRoot(root).operators).verify("alice", OLD)
    assert approves(broker, own_keys, OLD)
    assert add_user(root, own_keys, NEW).returncode == 0  # run again: tidy
    assert alice_keys(own_keys) == {sealed(root).public}
    assert not alice_keys(own_keys) & before
    assert approves(broker, own_keys, NEW)


def test_killed_before_the_old_key_is_revoked_the_new_password_and_key_work(lab, own_keys):
    root, broker = lab
    old_key = sealed(root).public
    with ExitStack() as keys_lock:
        with holding(DataRoot(root).operators.with_name("operators.json.lock")):
            proc = start_add_user(root, own_keys, NEW)
            wait_until(lambda: len(alice_keys(own_keys)) == 2, 30, "the new key allowlisted")
            keys_lock.enter_context(holding(own_keys.folder / ".lock"))
        # the operators file is written; the revocation waits for the keys folder's lock
        wait_until(lambda: sealed(root).public != old_key, 30, "the operators file written")
        kill9(proc)
    assert auth.Operators(DataRoot(root).operators).verify("alice", NEW)
    assert approves(broker, own_keys, NEW)
    assert alice_keys(own_keys) == {old_key, sealed(root).public}  # the old one lingers...
    assert add_user(root, own_keys, NEW).returncode == 0
    assert alice_keys(own_keys) == {sealed(root).public}  # ...until the next run
