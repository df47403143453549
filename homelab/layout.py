"""Makes a data root: the folders ``bus.dataroot`` names and the root's identity, created
idempotently by ``homelab init`` and by every service before it starts (``ensure``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from bus import dataroot, errors

FOLDERS = dataroot.FOLDERS
ROOT_ID = dataroot.DataRoot(Path()).root_id  # relative to the root


class RootError(errors.HomelabError):
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
        root_id(root)
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


def root_id(root: Path) -> str:
    """This data root's identity (``state/root-id``), made once, atomically: the broker
    tells it to clients so a service can tell its own control plane's broker from another's.
    Raises OSError if it cannot be read or written."""
    path = root / ROOT_ID
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".root-id.{os.getpid()}.tmp")
    tmp.write_text(uuid.uuid4().hex + "\n")
    try:
        os.link(tmp, path)  # fails if another process made it first: theirs wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
