"""Module and function sizes of the product's packages (bus, actors, gui, homelab): the figures
a refactoring is judged by. ``python scripts/code_sizes.py [COMMIT]``: of the work tree, or of a
commit (read with ``git show``, nothing checked out)."""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
from pathlib import Path

PACKAGES = ("bus", "actors", "gui", "homelab")


def sources(commit: str | None) -> dict[str, str]:
    if commit is None:
        return {str(p): p.read_text() for pkg in PACKAGES for p in sorted(Path(pkg).rglob("*.py"))}
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", commit, *PACKAGES],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    return {
        n: subprocess.run(
            ["git", "show", f"{commit}:{n}"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        for n in names
        if n.endswith(".py")
    }


def function_lengths(text: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, node.end_lineno - node.lineno + 1))
    return found


def pct(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", nargs="?", help="a commit to measure (else the work tree)")
    commit = parser.parse_args().commit
    files = sources(commit)
    modules = [len(t.splitlines()) for t in files.values()]
    functions = [(f, n, length) for f, t in files.items() for n, length in function_lengths(t)]
    lengths = [length for _, _, length in functions]
    print(f"{commit or 'work tree'}: {len(modules)} modules, {sum(modules)} lines")
    print(
        f"  module lines: median {statistics.median(modules):.0f}, p90 {pct(modules, 0.9)}, "
        f"max {max(modules)}"
    )
    print(
        f"  {len(lengths)} functions, lines: median {statistics.median(lengths):.0f}, "
        f"p90 {pct(lengths, 0.9)}, p99 {pct(lengths, 0.99)}, max {max(lengths)}, "
        f"over 40: {sum(1 for n in lengths if n > 40)}"
    )
    for f, n, length in sorted(functions, key=lambda x: -x[2])[:5]:
        print(f"    {length:4d}  {f}:{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
