"""What a stored message may hold, as the operator sees it: whatever a publisher (or a file
dropped into inbox/) put in a source or a payload string, ``homelab replay`` prints it as
text, never as terminal control sequences (clear the screen, set the title, ...)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgpack
import pytest

from bus import envelope, filelog
from plant import homelab

pytestmark = pytest.mark.slow
HOSTILE = "a\x1b]0;owned\x1b\\b\x1b[2Jc\nd\x9be\x7f"  # OSC title, clear screen, C1 CSI, DEL


def replay(root: Path, *args: str) -> subprocess.CompletedProcess:
    return homelab("replay", "--root", str(root), *args)


def test_replay_shows_control_characters_as_text(tmp_path):
    root = tmp_path / "root"
    log, _ = filelog.FileLog.open_for_append(root / "events")
    wire = envelope.encode_wire("obs.x", "i-1", "tool\x1b[31m", {"v": HOSTILE, "n": [HOSTILE]})
    log.append([envelope.stamp(wire, 1, 1_800_000_000.0)])
    log.close()
    shown = replay(root)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("\n") == 1  # one message, one line
    assert not any(c in shown.stdout for c in "\x1b\x9b\x7f\r")
    assert "owned" in shown.stdout and "\\x1b" in shown.stdout and "\\n" in shown.stdout
    as_json = replay(root, "--json")  # programs get the exact strings back
    assert json.loads(as_json.stdout)["payload"]["v"] == HOSTILE


def test_replay_renders_records_stored_before_the_payload_rule(tmp_path):
    """A log written before the broker enforced the payload rule may hold bin keys, NaN and
    infinities: replay shows them (and what follows them) as strict JSON, no traceback."""
    root = tmp_path / "root"
    log, _ = filelog.FileLog.open_for_append(root / "events")
    payloads = [
        {"a": {b"k": 1, "z": 2}, b"top": [b"\x00\x01"]},
        {"n": float("nan"), "i": [float("inf"), float("-inf")], "b": b"\xff"},
        {"ok": 1},
    ]
    log.append(
        [
            envelope.stamp(msgpack.packb(["obs.x", f"i{n}", "s", p], use_bin_type=True), n, 1.8e9)
            for n, p in enumerate(payloads, 1)
        ]
    )
    log.close()
    pretty = replay(root)
    assert pretty.returncode == 0 and pretty.stderr == "" and pretty.stdout.count("\n") == 3
    as_json = replay(root, "--json")
    assert as_json.returncode == 0 and as_json.stderr == ""
    lines = [json.loads(line, parse_constant=refuse) for line in as_json.stdout.splitlines()]
    assert [m["payload"] for m in lines] == [
        {"a": {"k": 1, "z": 2}, "top": [{"base64": "AAE="}]},
        {"n": None, "i": [None, None], "b": {"base64": "/w=="}},
        {"ok": 1},
    ]


def refuse(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")
