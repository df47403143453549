"""Recording stand-ins for the CLIs our code runs (docker, systemctl, ssh, ...).

A stand-in is a small Python executable in a folder that the test puts first on PATH
(``first_on_path``). Each call appends one JSON line, ``{"tool", "argv", "pid"}``, to
``calls.jsonl`` in that folder (one log for all the stand-ins there, in call order), then
answers as planned: writes the stdout and stderr it was given, sleeps, exits with the code.
``on(words...)`` gives a different answer to calls whose arguments hold those words in a row.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SCRIPT = """#!{python}
import json, os, sys, time
here, name = os.path.split(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps({{"tool": name, "argv": args, "pid": os.getpid()}}) + "\\n")
with open(os.path.join(here, name + ".plan.json")) as f:
    plan = json.load(f)


def holds(words):
    return any(args[i : i + len(words)] == words for i in range(len(args) - len(words) + 1))


answer = next((a for a in plan["on"] if holds(a["words"])), plan["default"])
sys.stdout.write(answer["stdout"])
sys.stdout.flush()
sys.stderr.write(answer["stderr"])
sys.stderr.flush()
time.sleep(answer["sleep"])
sys.exit(answer["exit"])
"""


class StandIn:
    """The stand-in ``name`` in ``bin_dir``: by default it prints nothing and exits 0."""

    def __init__(self, bin_dir: Path, name: str):
        self.bin_dir, self.name = bin_dir, name
        self.path = bin_dir / name
        self.path.write_text(SCRIPT.format(python=sys.executable))
        self.path.chmod(0o755)
        self._on: list[dict] = []
        self.plan()

    def plan(self, stdout: str = "", stderr: str = "", exit: int = 0, sleep: float = 0) -> None:
        """The answer to every call that no ``on`` answer is for."""
        self._default = _answer(stdout, stderr, exit, sleep)
        self._write()

    def on(
        self,
        *words: str,
        stdout: str = "",
        stderr: str = "",
        exit: int = 0,
        sleep: float = 0,
        first: bool = False,
    ) -> None:
        """The answer to calls whose arguments hold ``words`` in a row (the first such wins;
        ``first``: put this one before those given so far)."""
        answer = {"words": list(words), **_answer(stdout, stderr, exit, sleep)}
        self._on.insert(0, answer) if first else self._on.append(answer)
        self._write()

    def calls(self) -> list[dict]:
        """This stand-in's calls so far: ``{"tool", "argv", "pid"}``, oldest first."""
        return [call for call in recorded(self.bin_dir) if call["tool"] == self.name]

    def argv(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls()]

    def _write(self) -> None:
        plan = {"on": self._on, "default": self._default}
        self.path.with_name(f"{self.name}.plan.json").write_text(json.dumps(plan))


def recorded(bin_dir: Path) -> list[dict]:
    """Every call of every stand-in in ``bin_dir``, in the order they were made."""
    log = bin_dir / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def first_on_path(bin_dir: Path, rest: str | None = None) -> str:
    """A PATH that finds the stand-ins first, then ``rest`` (by default, the current PATH)."""
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '') if rest is None else rest}"


def _answer(stdout: str, stderr: str, exit: int, sleep: float) -> dict:
    return {"stdout": stdout, "stderr": stderr, "exit": exit, "sleep": sleep}
