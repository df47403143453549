"""The data root's layout (SPEC: "The data root"), created idempotently by ``homelab init``."""

from __future__ import annotations

import os
from pathlib import Path

FOLDERS = (
    "events",
    "world",
    "state",
    "logs",
    "logs/actions",
    "actions",
    "inbox",
    "inbox/done",
    "inbox/rejected",
)


class RootError(Exception):
    pass


def init(root: Path) -> list[Path]:
    """Create what is missing; return what was created. Raises RootError if not writable."""
    created = []
    try:
        for name in FOLDERS:
            path = root / name
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                created.append(path)
        probe = root / "state" / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise RootError(
            f"cannot write to the data root {root}: {err.strerror or err} "
            f"(set HOMELAB_ROOT or --root to a folder you can write)"
        ) from None
    return created


def ensure(root: Path) -> Path:
    """The root, created if needed: every service calls this before it starts."""
    init(root)
    return root
