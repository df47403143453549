"""The desired state: the repository's inventory at its revision, as the supervisor and
``homelab drift`` load it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from actors import revision
from actors.domain import inventory_files
from actors.domain.inventory import Inventory


@dataclasses.dataclass
class Desired:
    inventory: Inventory
    revision: revision.Revision


def load(repo: Path) -> tuple[Desired | None, list[inventory_files.Problem]]:
    """The inventory and its revision, or None and the problems that stop it loading."""
    rev = revision.current(repo)
    found, problems = inventory_files.check(repo)
    return (Desired(found, rev) if found is not None else None), problems
