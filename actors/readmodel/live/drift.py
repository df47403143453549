"""The Drift page's state: the supervisor's last report (each ``drift.report`` is the whole
report) and the inventory's problems (``desired.errors``; a loaded revision,
``desired.revision``, has none). Seeded from ``state/``, where the supervisor writes the same
just after it publishes."""

from __future__ import annotations

from pathlib import Path

from actors.domain import topics
from actors.readmodel import drift
from actors.readmodel.models import DriftReport
from bus.envelope import Message


class DriftFold:
    def __init__(self, report: DriftReport | None, problems: list[dict]):
        self.report, self.problems = report, problems

    @classmethod
    def read(cls, root: Path) -> DriftFold:
        """From the files (blocking: call it off the event loop)."""
        return cls(drift.last(root), drift.problems(root))

    def apply(self, message: Message) -> bool:
        """Fold one message in; True if the page has something new to show."""
        if message.topic == topics.DRIFT_REPORT:
            found = drift.from_report(message.payload)
            if found is None:
                return False
            self.report = found
        elif message.topic == topics.DESIRED_ERRORS:
            self.problems = list(message.payload.get("problems") or [])
        elif message.topic == topics.DESIRED_REVISION:
            self.problems = []
        else:
            return False
        return True
