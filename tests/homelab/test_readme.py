"""The README's command table and settings cannot drift from the CLI: every command
``homelab`` has is a row, with every option it takes (and none it does not), and every
setting ``homelab.settings`` reads is in the settings table (and no name the code does not
know is), as tests/bus/test_docs_reader.py checks docs/protocol.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from homelab import cli, settings

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bus", "actors", "gui", "homelab")
# Said once under the table rather than in every row that takes them.
COMMON_OPTIONS = {"--root", "--bus", "--repo"}


def readme_section(heading: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def documented_commands() -> dict[str, str]:
    """Each row of the command table: the command's path ("ui add-user") -> its synopsis."""
    rows = re.findall(r"^\| `homelab ([^`]*)` \|", readme_section("Commands"), re.M)
    found: dict[str, str] = {}
    for synopsis in rows:
        path = " ".join(re.match(r"((?:[a-z][a-z-]*(?: |$))*)", synopsis)[1].split())
        assert path not in found, f"two rows for homelab {path}"
        found[path] = synopsis
    return found


def cli_commands(
    command: click.Command = cli.cli, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, click.Command]]:
    """Every command one can run: the leaves, and a group that runs on its own (``ui``)."""
    is_group = isinstance(command, click.Group)
    if path and (not is_group or command.invoke_without_command):
        yield " ".join(path), command
    if is_group:
        for name, sub in command.commands.items():
            yield from cli_commands(sub, (*path, name))


def long_options(command: click.Command) -> set[str]:
    return {
        name
        for param in command.get_params(click.Context(command))
        if isinstance(param, click.Option)
        for name in param.opts + param.secondary_opts
        if name.startswith("--") and name != "--help"
    }


def test_the_command_table_has_a_row_for_each_command_and_no_other():
    assert set(documented_commands()) == {path for path, _ in cli_commands()}


@pytest.mark.parametrize("path, command", list(cli_commands()), ids=lambda v: str(v))
def test_each_row_names_every_option_of_its_command_and_no_other(path, command):
    synopsis = documented_commands()[path]
    shown = set(re.findall(r"--[a-z][a-z-]*", synopsis.replace("\\|", " ")))
    options = long_options(command)
    assert shown - options == set(), f"homelab {path} has no such option"
    assert options - COMMON_OPTIONS - shown == set(), f"homelab {path}: not in the README"


def test_the_options_every_command_shares_are_said_under_the_table():
    below = readme_section("Commands").split("\n\n")[2]
    for option in COMMON_OPTIONS:
        assert f"`{option} " in below
    assert "`homelab --version`" in below and "-h`" in below


def test_the_settings_table_names_every_setting():
    documented = set(re.findall(r"`(HOMELAB_[A-Z_]+)`", readme_section("Configuration")))
    fields = {f"HOMELAB_{name.upper()}" for name in settings.Settings.model_fields}
    assert fields - documented == set()


def test_every_setting_the_readme_names_is_one_the_code_reads():
    named = set(re.findall(r"HOMELAB_[A-Z_]+[A-Z]", (REPO / "README.md").read_text()))
    code = "\n".join(
        path.read_text() for package in PACKAGES for path in (REPO / package).rglob("*.py")
    )
    fields = {f"HOMELAB_{name.upper()}" for name in settings.Settings.model_fields}
    unknown = {name for name in named - fields if not re.search(rf"\b{name}\b", code)}
    assert unknown == set()
