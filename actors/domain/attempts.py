"""Attempts: how the fixes of a drift ended, so that no drift is left waiting for ever. Pure.

For each drift key, the actions that ended for one occurrence of that drift (``seqs[0]``, the
observation that began it) under one desired definition of its service (as ``rejections``
names them). The planner reads them:

- every ended action is a round: the next fix is a new action (a final one cannot be
  approved again), recommended once the service has been observed again after the last end
  (``Attempt.seq``; ``drift.observed_through``), so a fix is judged on evidence from after
  it;
- an attempt that ran and left the drift as it was (succeeded, failed, timed out,
  interrupted, or refused by the executor) counts: the next one waits a back-off that
  doubles, and after ``give_up_after`` of them the supervisor gives up on that drift;
- an expiry, or a fix made obsolete because the drift vanished for a moment (its node went
  silent), did not run: it does not count, and the fix is offered again without a back-off;
- a rejection is not an attempt (``rejections`` holds the drift), nor is an action made
  obsolete because another replaced it (``SUPERSEDED``).

A new occurrence of the drift, or another desired definition of its service, starts again
from nothing: the same rule that ends a rejection ends a give-up.

The queue's records are the truth: ``from_records`` rebuilds the attempts from them (an
action's file, or ``Record.to_dict``), which the queue rebuilds from the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from actors.domain import states
from actors.domain.drift import Drift

SUPERSEDED = "superseded (revision or attempt changed)"  # the supervisor's obsolete reason


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """One ended action: how, when (on the bus's clock: back-off is measured on it), and
    the seq of what ended it."""

    action: str
    state: str
    at: float
    seq: int
    reason: str = ""

    @property
    def counts(self) -> bool:
        return self.state in states.RAN  # and the drift stayed

    def text(self) -> str:
        """What happened, for people: ``a-... succeeded, but the drift stayed``."""
        if self.state == states.SUCCEEDED:
            return f"{self.action} succeeded, but the drift stayed"
        if self.state == states.EXPIRED and self.reason.startswith("expired"):
            return f"{self.action} {self.reason}"
        said = f": {self.reason}" if self.reason else ""
        return f"{self.action} {self.state.replace('_', ' ')}{said}"


@dataclasses.dataclass(frozen=True, slots=True)
class Attempts:
    """The ended actions for one occurrence of a drift, in the order they ended."""

    began: int  # the drift's occurrence (its seqs[0])
    definition: str  # fingerprint of the service's desired definition
    ended: tuple[Attempt, ...] = ()

    @property
    def count(self) -> int:
        """Attempts that ran without effect."""
        return sum(1 for a in self.ended if a.counts)

    @property
    def ran(self) -> tuple[str, ...]:
        """The ids of the attempts without effect, in order."""
        return tuple(a.action for a in self.ended if a.counts)

    @property
    def last(self) -> Attempt:
        return self.ended[-1]

    def applies(self, drift: Drift, definition: str) -> bool:
        """Still the same drift, under the same desired definition of its service."""
        return bool(drift.seqs) and drift.seqs[0] == self.began and definition == self.definition

    def with_(self, attempt: Attempt) -> Attempts:
        if any(a.action == attempt.action for a in self.ended):
            return self
        ended = sorted((*self.ended, attempt), key=lambda a: (a.seq, a.at, a.action))
        return dataclasses.replace(self, ended=tuple(ended))


def of_record(record: Mapping[str, Any]) -> tuple[str, int, str, Attempt] | None:
    """(drift key, occurrence, definition, attempt) of an action's record that ended in a
    way that counts as a round; None otherwise (open, rejected, superseded)."""
    state = record.get("state")
    drift = record.get("drift") or {}
    key, seqs = drift.get("key"), drift.get("seqs") or []
    history = record.get("history") or []
    if state not in states.RAN + states.NOT_RUN or not key or not seqs or not history:
        return None
    end = history[-1]
    reason = str(end.get("reason") or "")
    if state == states.OBSOLETE and reason.startswith("superseded"):
        return None
    at = end["at"] if end.get("clock") is None else end["clock"]  # none in older records
    attempt = Attempt(str(record["id"]), state, float(at), int(end.get("seq") or 0), reason)
    return str(key), int(seqs[0]), str(record.get("definition") or ""), attempt


def add(found: dict[str, Attempts], record: Mapping[str, Any]) -> bool:
    """Counts an action's record in ``found`` (in place); True if that changed anything.
    The latest occurrence of a drift replaces an earlier one; an end that belongs to an
    earlier occurrence than the one kept is ignored."""
    ended = of_record(record)
    if ended is None:
        return False
    key, began, definition, attempt = ended
    before = kept = found.get(key)
    if kept is None or (kept.began, kept.definition) != (began, definition):
        if kept is not None and (began < kept.began or attempt.seq < kept.last.seq):
            return False
        kept = Attempts(began, definition)
    found[key] = kept.with_(attempt)
    return found[key] != before


def from_records(records: Iterable[Mapping[str, Any]]) -> dict[str, Attempts]:
    """The attempts for each drift key among the queue's records, in the order they ended."""
    found: dict[str, Attempts] = {}
    ends = [r for r in records if of_record(r) is not None]
    for record in sorted(ends, key=lambda r: _end_order(of_record(r))):
        add(found, record)
    return found


def _end_order(ended) -> tuple[int, float, str]:
    attempt = ended[3]
    return attempt.seq, attempt.at, attempt.action
