"""The action queue as the supervisor folds it: the records of ``actions/`` when the page
opens, then every ``action.*`` message through the same pure fold the supervisor hosts
(``action_queue.Queue.apply``; what it returns to publish is the supervisor's to send, so it
is dropped here). Re-folding a message the files already hold changes nothing, so the
recent messages the feed kept are folded in after the files (the Clone pattern: a change
published before its file was written is not lost)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from actors import atomic
from actors.domain import action_queue, queue_files
from actors.readmodel import queue
from actors.readmodel.models import ActionQueue, ActionView
from bus.dataroot import DataRoot
from bus.envelope import Message


class QueueFold:
    def __init__(self, root: Path, recent: Iterable[Message] = ()):
        self.queue = action_queue.Queue()
        for path in sorted(DataRoot(root).actions.glob("a-*.json")):
            data = atomic.read_json_object(path)
            if data.get("id") != path.stem:
                continue
            try:
                self.queue.records[path.stem] = queue_files.record(data)
            except ValueError:
                continue  # the supervisor logs it too; the page shows the others
        for message in recent:
            self.apply(message)

    def apply(self, message: Message) -> bool:
        """Fold one message in; True if an action changed (the page has something to draw)."""
        _, changed = self.queue.apply(message)
        return bool(changed)

    def view(self) -> ActionQueue:
        """Pending, running and history, as ``queue.read`` gives them from the files."""
        found = [ActionView.model_validate(r.to_dict()) for r in self.queue.records.values()]
        return queue.grouped(found)
