"""Reading the inventory from the repository: YAML files, merged, with file and line for
every problem (syntax, unknown keys, wrong types, duplicate names, dangling references)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from actors.domain.inventory import NAME_PATTERN, Inventory
from bus import errors

MAX_FILE_BYTES = 2 * 1024 * 1024
Position = tuple[str, int]  # file, 1-based line


@dataclasses.dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else f"{self.file}: {self.message}"
        )


class InventoryError(errors.HomelabError):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def find_files(repo: Path) -> list[Path]:
    """``inventory.yml`` / ``inventory.yaml`` and everything under ``inventory/``, sorted."""
    files = [repo / n for n in ("inventory.yml", "inventory.yaml") if (repo / n).is_file()]
    folder = repo / "inventory"
    if folder.is_dir():
        files += sorted(
            p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()
        )
    return files


def load(repo: Path) -> Inventory:
    """The validated inventory, or InventoryError listing every problem found."""
    inventory, problems = check(repo)
    if problems:
        raise InventoryError(problems)
    assert inventory is not None
    return inventory


def check(repo: Path) -> tuple[Inventory | None, list[Problem]]:
    files = find_files(repo)
    if not files:
        return None, [
            Problem(
                str(repo), None, "no inventory here (expected inventory.yml or inventory/*.yml)"
            )
        ]
    merged: dict[str, dict[str, Any]] = {"nodes": {}, "services": {}}
    positions: dict[tuple, Position] = {}
    problems: list[Problem] = []
    for path in files:
        shown = _shown(path, repo)
        data, where = _read(path, shown, problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(
                Problem(shown, 1, "the file must be a mapping with `nodes:` and/or `services:`")
            )
            continue
        for section, entries in data.items():
            if section not in merged:
                problems.append(
                    Problem(
                        shown,
                        where[(section,)][1],
                        f"unknown key {section!r} (allowed: nodes, services)",
                    )
                )
                continue
            if entries is None:
                continue
            if not isinstance(entries, dict):
                problems.append(
                    Problem(shown, where[(section,)][1], f"`{section}` must be a mapping of names")
                )
                continue
            for name, entry in entries.items():
                if name in merged[section]:
                    first = positions[(section, name)]
                    problems.append(
                        Problem(
                            shown,
                            where[(section, name)][1],
                            f"duplicate {section[:-1]} name {name!r} (first at {first[0]}:{first[1]})",
                        )
                    )
                    continue
                merged[section][name] = entry
        for key, position in where.items():
            positions.setdefault(key, position)  # the first file to declare a name owns it
    try:
        inventory = Inventory.model_validate(merged)
    except ValidationError as err:
        return None, problems + [
            _problem(e, merged, positions) for e in err.errors(include_url=False)
        ]
    for loc, msg in inventory.references():
        file, line = positions.get(loc, ("inventory", None))
        problems.append(Problem(file, line, f"{'.'.join(loc)}: {msg}"))
    return (None, problems) if problems else (inventory, [])


def _shown(path: Path, repo: Path) -> str:
    try:
        return str(path.relative_to(repo))
    except ValueError:
        return str(path)


def _read(path: Path, shown: str, problems: list[Problem]) -> tuple[Any, dict[tuple, Position]]:
    where: dict[tuple, Position] = {}
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(Problem(shown, None, f"larger than {MAX_FILE_BYTES} bytes"))
            return None, where
        loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
        try:
            root = loader.get_single_node()
            if root is None:
                return {}, where
            return _build(loader, root, (), shown, where, problems), where
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        if err.context_mark and "<stream end>" in str(err.problem):  # unclosed: say where it opened
            mark = err.context_mark
        context = ""
        if err.context and err.context_mark:
            context = f" ({err.context} at line {err.context_mark.line + 1})"
        problems.append(
            Problem(shown, mark.line + 1 if mark else None, f"YAML syntax: {err.problem}{context}")
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        problems.append(Problem(shown, None, f"cannot read: {err}"))
    return None, where


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: tuple,
    shown: str,
    where: dict[tuple, Position],
    problems: list[Problem],
) -> Any:
    """Like yaml.safe_load, but remembering the line of every key and refusing duplicates."""
    where.setdefault(path, (shown, node.start_mark.line + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                problems.append(
                    Problem(shown, key_node.start_mark.line + 1, "keys must be plain scalars")
                )
                continue
            if key in result:
                problems.append(
                    Problem(shown, key_node.start_mark.line + 1, f"duplicate key {key!r}")
                )
                continue
            where[(*path, key)] = (shown, key_node.start_mark.line + 1)
            result[key] = _build(loader, value_node, (*path, key), shown, where, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), shown, where, problems)
            for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def _problem(error: ErrorDetails, data: Any, positions: dict[tuple, Position]) -> Problem:
    """A pydantic error as file:line: message, skipping union tags in its location."""
    path: list[Any] = []
    current = data
    for part in error["loc"]:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        elif error["type"] == "extra_forbidden" and part == error["loc"][-1]:
            pass  # the unknown key itself: it is in the data, but not a model field
        else:
            continue
        path.append(part)
    file, line = _nearest(tuple(path), positions)
    return Problem(file, line, f"{'.'.join(map(str, path)) or 'inventory'}: {_message(error)}")


def _nearest(path: tuple, positions: dict[tuple, Position]) -> Position:
    while path and path not in positions:
        path = path[:-1]
    return positions.get(path, ("inventory", 0))


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return f"missing required key `{error['loc'][-1]}`"
    if kind == "string_pattern_mismatch":
        if error["ctx"]["pattern"] == NAME_PATTERN:
            return f"{error['input']!r}: names use a-z, 0-9, - and _, start with a letter or digit"
        return f"{error['input']!r} is not allowed here (pattern {error['ctx']['pattern']})"
    return error["msg"].removeprefix("Value error, ")
