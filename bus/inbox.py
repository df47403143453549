"""``inbox/``: JSON files other tools drop there become bus messages.

A tool writes ``inbox/<anything>.json`` atomically (write ``x.json.tmp``, then rename) with
``{"topic": "...", "payload": {...}}`` and optionally ``"id"`` and ``"source"``. The broker
publishes it, then moves it to ``inbox/done/``; a bad file goes to ``inbox/rejected/`` with a
``.reason.txt`` beside it. Without an id, the id is derived from the file's name and content,
so a file published just before a crash is not stored twice when it is taken again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
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
    """The ``*.json`` files waiting in the inbox, oldest name first, each parsed."""
    try:
        names = sorted(
            e.name for e in os.scandir(inbox_dir) if e.name.endswith(".json") and e.is_file()
        )
    except FileNotFoundError:
        return
    for name in names[:MAX_FILES_PER_SCAN]:
        path = inbox_dir / name
        yield Dropped(path, _parse(path))


def _parse(path: Path) -> protocol.Envelope | str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return f"file is larger than {MAX_FILE_BYTES} bytes"
        raw = path.read_bytes()
        message = InboxMessage.model_validate(json.loads(raw))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not readable JSON: {err}"
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(map(str, first['loc'])) or 'file'}: {first['msg']}"
    msg_id = (
        message.id or "inbox-" + hashlib.sha256(path.name.encode() + b"\0" + raw).hexdigest()[:32]
    )
    try:
        wire = envelope.encode_wire(message.topic, msg_id, message.source, message.payload)
    except envelope.DecodeError as err:
        return str(err)
    return protocol.Envelope(wire, message.topic, msg_id, message.source)


def done(dropped: Dropped) -> None:
    _move(dropped.path, dropped.path.parent / "done")


def reject(dropped: Dropped, reason: str) -> None:
    target = _move(dropped.path, dropped.path.parent / "rejected")
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n")


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{os.urandom(3).hex()}{path.suffix}"
    os.replace(path, target)
    return target
