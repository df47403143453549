"""The read-only commands' check of the data root: a missing or wrong ``HOMELAB_ROOT`` is an
error, never an empty answer ("nothing observed", "no drift", "no actions"), and a read-only
command never creates the root it was pointed at."""

from __future__ import annotations

from pathlib import Path

from homelab.user_input import InputError


class NoDataRoot(InputError):
    pass


def require(root: Path) -> Path:
    """``root`` if it is a data root (a folder with an ``events/`` log); NoDataRoot if not."""
    if not root.is_dir():
        raise NoDataRoot(f"no data root at {root} (set HOMELAB_ROOT or --root)")
    if not (root / "events").is_dir():
        raise NoDataRoot(
            f"no event log at {root / 'events'}: is {root} the data root? "
            "(set HOMELAB_ROOT or --root; `homelab init` creates one)"
        )
    return root
