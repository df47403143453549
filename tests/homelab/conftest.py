"""Fixtures for the CLI's tests in this process: ``homelab(*args)`` runs ``cli.main`` and
gives its exit code and what it printed; ``one_line(err)`` is an error said in one line;
``data_root`` is a data root with nothing in it yet."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from homelab import cli


class Ran(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def homelab(capsys, monkeypatch) -> Callable[..., Ran]:
    """``homelab ARGS`` as ``cli.main``; ``stdin``: what it reads (text, or a stream)."""

    def run(*args: str, stdin: str | io.StringIO = "") -> Ran:
        stream = stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
        monkeypatch.setattr("sys.stdin", stream)
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture
def one_line() -> Callable[[str], str]:
    """The error ``err`` says, which must be one line and no traceback."""

    def line(err: str) -> str:
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        return lines[0]

    return line


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A data root with an empty event log and state/ (what the read-only commands need)."""
    root = tmp_path / "root"
    for folder in ("events", "state"):
        (root / folder).mkdir(parents=True)
    return root
