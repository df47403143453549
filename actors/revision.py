"""Which revision of the repository the desired state comes from, and how it moved.

A git checkout's revision is its HEAD commit (with ``+dirty-<hash>`` when the inventory has
uncommitted edits); any other folder's is a hash of the inventory files. Every git call has
a timeout; git missing or failing falls back to the content hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
from pathlib import Path

from actors.domain import inventory_files

GIT_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class Revision:
    id: str
    commit: str | None  # None outside git
    content: str  # hash of the inventory files' bytes


def current(repo: Path) -> Revision:
    content = content_hash(repo)
    commit = _git(repo, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return Revision(f"files-{content[:12]}", None, content)
    dirty = _git(repo, "status", "--porcelain", "--", *_inventory_paths(repo))
    suffix = f"+dirty-{content[:8]}" if dirty else ""
    return Revision(commit[:12] + suffix, commit, content)


def is_rollback(repo: Path, previous: Revision | None, new: Revision) -> bool:
    """True when the new commit is an ancestor of the previous one: the repository was
    reset or reverted to older history (the brief's rollback flow)."""
    if previous is None or previous.commit is None or new.commit is None:
        return False
    if previous.commit == new.commit:
        return False
    return (
        _git(repo, "merge-base", "--is-ancestor", new.commit, previous.commit, ok_codes=(0,))
        is not None
    )


def content_hash(repo: Path) -> str:
    digest = hashlib.sha256()
    for path in inventory_files.find_files(repo):
        digest.update(str(path.relative_to(repo)).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    return digest.hexdigest()


def _inventory_paths(repo: Path) -> list[str]:
    return [str(p.relative_to(repo)) for p in inventory_files.find_files(repo)] or ["."]


def _git(repo: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str | None:
    git = shutil.which("git")
    if git is None or not (repo / ".git").exists():
        return None
    try:
        # safe.directory: the repository is often mounted read-only, owned by another user.
        argv = [git, "-c", f"safe.directory={repo}", "-C", str(repo), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode in ok_codes else None
