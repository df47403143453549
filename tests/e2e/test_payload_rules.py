"""What a stored message may hold, as the operator sees it: whatever a publisher (or a file
dropped into inbox/) put in a source or a payload string, ``homelab replay`` prints it as
text, never as terminal control sequences (clear the screen, set the title, ...)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bus import envelope, filelog
from conftest import child_env

pytestmark = pytest.mark.slow
HOSTILE = "a\x1b]0;owned\x1b\\b\x1b[2Jc\nd\x9be\x7f"  # OSC title, clear screen, C1 CSI, DEL


def replay(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "homelab", "replay", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )


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
