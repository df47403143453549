"""Project-wide checks that a user never sees but every commit must keep: lint, types,
layering, the bootstrap script and the compose file. In CI a missing tool fails instead of
skipping."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing(tool):
    result = run(tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_no_type_errors(tool):
    """The packages as pyproject.toml's [tool.mypy] configures it (not strict: what is
    annotated must hold)."""
    result = run(tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_bus_imports_nothing_of_actors_or_gui_and_only_bus_imports_zmq(tool):
    result = run(tool("lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_bootstrap_script_passes_shellcheck(tool):
    result = run(tool("shellcheck"), "scripts/bootstrap/vps-control-plane.sh")
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_file_matches_the_compose_spec(tool):
    result = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readmes_test_command_and_the_readme_starts_with_both_commands():
    readme = (REPO / "README.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in readme.split("```bash\n")[1:3]]
    run_command, test_command = blocks
    assert run_command.endswith("homelab up --demo") and "venv" in run_command
    ci_lines = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == test_command


def test_every_file_the_packages_need_besides_python_is_in_the_package_data():
    """The Docker image installs the project as a wheel: a file that is not declared
    package data (the UI's JavaScript component, the demo's inventory) would be missing."""
    import fnmatch
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    for package in ("bus", "actors", "gui", "homelab"):
        for path in (REPO / package).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            owner = ".".join(path.parent.relative_to(REPO).parts)
            patterns = declared.get(owner, [])
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), (
                f"{path} is not package data"
            )


def test_no_test_module_imports_another():
    """Shared helpers live in helper modules (``plant.py``, a folder's ``samples.py``...) or
    in fixtures: a test module used as a library ties two files' tests together (a change to
    one breaks the other), and a test function imported by name runs twice."""
    modules = {path.stem for path in (REPO / "tests").rglob("test_*.py")}
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(REPO)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in modules
            ]
    assert found == []


def test_the_architecture_maps_every_package_and_module_and_nothing_else():
    """docs/architecture.md names each module once by its path (a package by its folder)."""
    import re

    text = (REPO / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:bus|actors|gui|homelab)(?:/\w+)*(?:\.py|/))`", text))
    code = set()
    for package in ("bus", "actors", "gui", "homelab"):
        for path in (REPO / package).rglob("*.py"):
            relative = path.relative_to(REPO).as_posix()
            code.add(
                relative.removesuffix("__init__.py") if path.name == "__init__.py" else relative
            )
    assert sorted(code - named) == [], "not in docs/architecture.md"
    assert sorted(named - code) == [], "in docs/architecture.md, not in the code"


def test_the_architecture_lists_the_import_contracts_pyproject_declares():
    import tomllib

    text = (REPO / "docs" / "architecture.md").read_text()
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    names = {contract["name"] for contract in contracts["contracts"]}
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]  # not the header
    assert {row.split(" | ")[0].removeprefix("| ") for row in rows} == names
    assert len(rows) == len(names)


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(REPO).as_posix()
        for folder in ("bench", "scripts")
        for p in (REPO / folder).glob("*.py")
        if p.name != "__init__.py"
    ),
)
def test_every_benchmark_and_script_still_imports(path):
    """They run by hand, not in the suite: an import a refactoring broke (a helper moved,
    a module renamed) must fail here, not in the hands of the next engineer."""
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('checked', {str(REPO / path)!r}); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
