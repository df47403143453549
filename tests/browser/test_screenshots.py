"""scripts/screenshots.py makes the README's images from the demo, run for real into a
temporary folder: the images are those of the demo at 1280 px (and 390 px), nothing of the
demo is left running, and docs/screenshots/ is untouched (the tests never write there)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from chromium import CHROMIUM

from plant import REPO, child_env

pytestmark = pytest.mark.slow
DOCS = REPO / "docs" / "screenshots"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_the_screenshots_are_made_from_the_demo_into_the_folder_given(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    before = {p.name: p.read_bytes() for p in DOCS.glob("*.png")}
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "screenshots.py"), "--out", str(tmp_path), "--phone"],
        capture_output=True, text=True, timeout=300, env=child_env(), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "action-queue-phone.png",
        "action-queue.png",
        "dashboard.png",
    ]
    assert png_size(tmp_path / "dashboard.png")[0] == 1280
    assert png_size(tmp_path / "action-queue.png")[0] == 1280
    assert png_size(tmp_path / "action-queue-phone.png")[0] == 390
    assert {p.name: p.read_bytes() for p in DOCS.glob("*.png")} == before
    assert not [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any("homelab-screenshots-" in arg for arg in p.info["cmdline"] or [])
    ], "the demo outlived the script"
