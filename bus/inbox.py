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
(``envelope.is_reserved_source``).
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


def scan(inbox_dir: Path) -> Iterator[Dropped]:
    """The ``*.json`` entries waiting in the inbox, oldest name first, each parsed (or the
    reason it cannot be)."""
    try:
        with os.scandir(inbox_dir) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".json"))
    except FileNotFoundError:
        return
    for name in names[:MAX_FILES_PER_SCAN]:
        path = inbox_dir / name
        yield Dropped(path, _parse(path))


def _parse(path: Path) -> protocol.Envelope | str:
    try:
        raw = _read_regular(path)
    except _NotRegular as why:
        return str(why)
    except OSError as err:
        return f"cannot read it: {err.strerror or err}"
    try:
        message = InboxMessage.model_validate(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not readable JSON: {err}"
    except RecursionError:
        return "not readable JSON: nested too deeply"
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(map(str, first['loc'])) or 'file'}: {first['msg']}"
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
    _move(dropped.path, dropped.path.parent / "done")


def reject(dropped: Dropped, reason: str) -> None:
    """Move it (a link or a FIFO itself, never what it points to) beside its reason."""
    target = _move(dropped.path, dropped.path.parent / "rejected")
    note = target.with_name(target.name + ".reason.txt")
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
        f.write(" ".join(reason.split()) + "\n")


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{os.urandom(3).hex()}{path.suffix}"
    os.replace(path, target)
    return target
