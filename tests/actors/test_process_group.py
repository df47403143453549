"""The shared process-group helpers: exits and signals in words, the line worth showing,
and a whole group killed (a real child and grandchild)."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import pytest

from actors import process_group
from plant import wait_until


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-9, "killed by SIGKILL"),
        (-99, "killed by signal 99"),
    ],
)
def test_an_exit_in_words(code, words):
    assert process_group.describe_exit(code) == words


@pytest.mark.parametrize(
    ("text", "last", "first"),
    [
        ("", "", ""),
        ("\n  \n", "", ""),
        ("Traceback:\n  x\nOSError: boom\n\n", "OSError: boom", "Traceback:"),
        (b"one\n\xff two \n", "\ufffd two", "one"),
        ("x" * 300, "x" * 199 + "…", "x" * 199 + "…"),
    ],
)
def test_the_line_worth_showing(text, last, first):
    assert process_group.last_line(text) == last
    assert process_group.first_line(text) == first


def test_killing_a_group_takes_the_grandchildren_too():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        wait_until(lambda: psutil.Process(proc.pid).children(), 10, "the grandchild")
        grandchild = psutil.Process(proc.pid).children()[0]
        process_group.kill_group(proc.pid)
        proc.wait(10)
        grandchild.wait(10)
        assert not grandchild.is_running()
        process_group.kill_group(proc.pid)  # a gone group is fine
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
