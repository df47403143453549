"""``inbox/``: JSON files other tools drop there become bus messages.

A tool writes ``inbox/<anything>.json`` atomically (write ``x.json.tmp``, then rename) with
``{"topic": "...", "payload": {...}}`` and optionally ``"id"`` and ``"source"``. The broker
publishes it, then moves it to ``inbox/done/``; a bad file goes to ``inbox/rejected/`` with a
``.reason.txt`` beside it. Without an id, the id is derived from the file's name and content,
so a file published just before a crash is not stored twice when it is taken again.

Whatever a file holds or is called, it is published or rejected with a reason, and the broker
goes on: only regular files are read (a symlink, a FIFO or a folder is rejected unread, so a
link to a private file elsewhere is never published), at most ``MAX_FILE_BYTES``, as JSON
with the payload rules of every message, and never with a control-plane service's source
(``envelope.is_reserved_source``). A reason file's name is always plain and inside
``inbox/rejected/`` (docs/protocol.md, "The inbox").
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bus import envelope, protocol

MAX_FILE_BYTES = 256 * 1024
MAX_FILES_PER_SCAN = 200


class InboxMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    topic: envelope.Topic
    payload: dict[str, Any]
    id: envelope.MessageId | None = None
    source: envelope.Source = "inbox"


@dataclasses.dataclass(frozen=True)
class Dropped:
    path: Path
    item: protocol.Envelope | str  # a reason when the file is not a valid message
    seen: tuple[int, int] | None = None  # (device, inode) of the entry that was read


def scan(inbox_dir: Path, stuck: set[str] | None = None) -> Iterator[Dropped]:
    """The ``*.json`` entries waiting in the inbox, oldest name first, each parsed (or the
    reason it cannot be). Names in ``stuck`` (they could not be moved) are passed over, and
    the set is pruned to the names still there, so a new file of the same name is taken.

    The folder is listed at once: an ``OSError`` (``inbox/`` is not a folder, cannot be
    read) is raised by this call, not by the iteration."""
    try:
        with os.scandir(inbox_dir) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".json"))
    except FileNotFoundError:
        names = []
    if stuck:
        stuck.intersection_update(names)
        names = [n for n in names if n not in stuck]
    return (_dropped(inbox_dir / name) for name in names[:MAX_FILES_PER_SCAN])


def _dropped(path: Path) -> Dropped:
    seen = _identity(path)  # before reading: what is moved later must be what was read
    return Dropped(path, _parse(path), seen)


def _identity(path: Path | str, dir_fd: int | None = None) -> tuple[int, int] | None:
    try:
        info = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _parse(path: Path) -> protocol.Envelope | str:
    """The envelope a file holds, or why it holds none. Never raises: whatever a file
    contains is a reason at worst (an error here would stop the broker on every start)."""
    try:
        return _parse_file(path)
    except Exception as err:  # a case not foreseen below: still only this file's problem
        return f"cannot be read as a message: {type(err).__name__}: {err}"[:300]


def _parse_file(path: Path) -> protocol.Envelope | str:
    try:
        raw = _read_regular(path)
    except _NotRegular as why:
        return str(why)
    except OSError as err:
        return f"cannot read it: {err.strerror or err}"
    try:
        message = InboxMessage.model_validate(json.loads(raw))
    except RecursionError:
        return "not readable JSON: nested too deeply"
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(map(str, first['loc'])) or 'file'}: {first['msg']}"
    except ValueError as err:  # bad JSON or UTF-8, and an integer of 4300 digits or more
        return f"not readable JSON: {str(err)[:200]}"
    if envelope.is_reserved_source(message.source):
        return f"source {message.source!r} belongs to the control plane's own services"
    problem = envelope.payload_problem(message.payload)
    if problem:
        return problem
    name = os.fsencode(path.name)  # a name that is not UTF-8 is still bytes
    msg_id = message.id or "inbox-" + hashlib.sha256(name + b"\0" + raw).hexdigest()[:32]
    try:
        wire = envelope.encode_wire(message.topic, msg_id, message.source, message.payload)
    except envelope.DecodeError as err:
        return str(err)
    return protocol.Envelope(wire, message.topic, msg_id, message.source)


class _NotRegular(Exception):
    pass


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, never following a symlink nor blocking on a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _NotRegular("a symlink: only regular files are read") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular("not a regular file: only regular files are read")
        if info.st_size > MAX_FILE_BYTES:
            raise _NotRegular(f"file is larger than {MAX_FILE_BYTES} bytes")
        data = os.read(fd, MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise _NotRegular(f"file is larger than {MAX_FILE_BYTES} bytes")
        return data
    finally:
        os.close(fd)


def done(dropped: Dropped) -> None:
    moved = _move(dropped, "done")
    if moved is not None:
        os.close(moved[0])


def reject(dropped: Dropped, reason: str) -> None:
    """Move it (a link or a FIFO itself, never what it points to) beside its reason."""
    moved = _move(dropped, "rejected")
    if moved is None:
        return
    folder_fd, target = moved
    try:
        fd = os.open(target + ".reason.txt", _NEW_FILE, 0o644, dir_fd=folder_fd)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(" ".join(reason.split()) + "\n")
    finally:
        os.close(folder_fd)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
MAX_NAME_BYTES = 200


def _move(dropped: Dropped, folder: str) -> tuple[int, str] | None:
    """Move an inbox entry into ``inbox/<folder>/``; return that folder's fd (the caller
    closes it) and the name it got there; None, moving nothing, when the name now holds
    another file than the one read (its writer replaced it: it is taken at the next look).

    Everything goes through directory descriptors opened without following links, so a
    ``done`` or ``rejected`` that someone replaced with a symlink is refused rather than
    written through. The name is kept when it is plain; one with control characters, bytes
    that are not UTF-8 or of more than 200 bytes gets a plain one (its reason file's
    name must be safe to list and to create).
    """
    path = dropped.path
    inbox_fd = os.open(path.parent, _DIR & ~os.O_NOFOLLOW)  # the operator may link inbox/
    try:
        now = _identity(path.name, inbox_fd)
        if now is not None and now != dropped.seen:
            return None
        try:
            os.mkdir(folder, 0o755, dir_fd=inbox_fd)
        except FileExistsError:
            pass
        folder_fd = os.open(folder, _DIR, dir_fd=inbox_fd)
        try:
            target = _free_name(folder_fd, _plain_name(path.name))
            os.rename(path.name, target, src_dir_fd=inbox_fd, dst_dir_fd=folder_fd)
        except BaseException:
            os.close(folder_fd)
            raise
    finally:
        os.close(inbox_fd)
    return folder_fd, target


def _plain_name(name: str) -> str:
    if name.isprintable() and len(os.fsencode(name)) <= MAX_NAME_BYTES:
        return name  # not a lone surrogate (bytes that are not UTF-8) nor a control character
    printable = os.fsencode(name).decode("utf-8", "replace")
    stem = "".join(c if c.isprintable() else "_" for c in printable)[:60].strip(". ") or "file"
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    return f"{stem}.{digest}.json"


def _free_name(folder_fd: int, name: str) -> str:
    """``name``, or a variant of it, that nothing in the folder has (a link counts)."""
    candidate = name
    for _ in range(100):
        try:
            os.stat(candidate, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            try:
                os.stat(candidate + ".reason.txt", dir_fd=folder_fd, follow_symlinks=False)
            except FileNotFoundError:
                return candidate
        stem, dot, suffix = name.rpartition(".")
        candidate = f"{stem or suffix}.{os.urandom(3).hex()}{dot}{suffix if stem else ''}"
    raise FileExistsError(errno.EEXIST, "no free name", name)
