"""Atomic rewrites: deterministic JSON, no torn file even under kill -9."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from actors import atomic
from bus import durable
from plant import child_env, wait_until


def test_write_json_is_deterministic_sorted_indented_utf8_with_a_newline(tmp_path: Path):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    written = atomic.write_json(a, {"b": 1, "a": {"z": [1, 2], "é": "ünï ✓"}})
    atomic.write_json(b, {"a": {"é": "ünï ✓", "z": [1, 2]}, "b": 1})
    assert a.read_bytes() == b.read_bytes() == written
    assert (
        written
        == (
            '{\n  "a": {\n    "z": [\n      1,\n      2\n    ],\n    "é": "ünï ✓"\n  },\n  "b": 1\n}\n'
        ).encode()
    )
    assert oct(a.stat().st_mode & 0o777) == "0o644"


def test_not_json_is_refused_before_the_file_is_touched(tmp_path: Path):
    target = tmp_path / "x.json"
    target.write_text("old")
    for bad in ({"n": float("nan")}, {"inf": float("inf")}, {"set": {1}}):
        with pytest.raises((ValueError, TypeError)):
            atomic.write_json(target, bad)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic.write_atomic(target, b"old")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable.os, "fsync", broken_fsync)  # where the write lives
    with pytest.raises(OSError, match="Input/output"):
        atomic.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_remove_stale_temps_only_touches_the_files_of_that_target(tmp_path: Path):
    target = tmp_path / "world.json"
    stale = [tmp_path / ".world.json.abc123.tmp", tmp_path / ".world.json.zz.tmp"]
    keep = [tmp_path / ".other.json.abc.tmp", tmp_path / "world.json.tmp", target]
    for path in stale + keep:
        path.write_text("x")
    assert sorted(atomic.remove_stale_temps(target)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(keep)


WRITER = textwrap.dedent(
    """
    import hashlib, json, sys
    from actors import atomic

    path = sys.argv[1]
    try:
        n = json.load(open(path))["n"] + 1
    except FileNotFoundError:
        n = 0
    while True:  # rewrite forever, each version complete and self-checking
        filler = hashlib.sha256(str(n).encode()).hexdigest() * 8192  # ~512 KiB
        atomic.write_json(path, {"n": n, "filler": filler, "sum": len(filler)})
        n += 1
    """
)


def check_complete(path: Path) -> int:
    data = json.loads(path.read_bytes())
    n = data["n"]
    assert data["filler"] == hashlib.sha256(str(n).encode()).hexdigest() * 8192
    assert data["sum"] == len(data["filler"])
    return n


@pytest.mark.slow
def test_kill_9_while_rewriting_leaves_the_old_or_the_new_file_never_a_torn_one(tmp_path: Path):
    seed = int.from_bytes(os.urandom(4), "big")
    print(f"random seed {seed}")
    rng = random.Random(seed)
    target = tmp_path / "state.json"
    kills, mid_write, versions = 30, 0, []
    for _ in range(kills):
        before = check_complete(target) if target.exists() else -1
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], env=child_env(), start_new_session=True
        )
        try:
            # Wait until it has written at least once, then kill it at a random moment.
            wait_until(
                lambda b=before: target.exists() and check_complete(target) > b,
                timeout=20,
                what="the writer to write a new version",
            )
            time.sleep(rng.uniform(0, 0.05))
        finally:
            child.kill()
            child.wait(10)
        mid_write += bool(atomic.remove_stale_temps(target))  # it died inside a write
        versions.append(check_complete(target))  # raises if torn or half-written
        assert versions[-1] > before
    print(f"{kills} kills, {mid_write} of them in the middle of a write; versions {versions}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_state_file_nested_too_deep_reads_as_nothing_yet(tmp_path: Path):
    """A hostile state file is "nothing yet", as an unreadable one, never a RecursionError
    out of ``homelab status`` or a page."""
    target = tmp_path / "drift.json"
    target.write_text("[" * 100_000)
    assert atomic.read_json_object(target) == {}
