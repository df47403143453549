"""The dashboard's cards: nodes and services by health, drift, the queue and the disk, each
a link to the page behind it; the desired revision (marked when it is a rollback) and the
last failures. Drawn whole from the dashboard's fold (``actors.readmodel.live.dashboard``): a few labels."""

from __future__ import annotations

from pathlib import Path

from nicegui import background_tasks, ui

from actors.domain import states, topics
from actors.readmodel import disk
from actors.readmodel.live.dashboard import DashboardFold
from actors.readmodel.models import Counts, DiskUse, DriftBrief
from bus.envelope import Message
from gui import offload, present, theme

FAILURES_SHOWN = 5


class Overview:
    """The row of cards and the desired revision under it, drawn again whole on a change.
    The disk is in no message (its size is the tree's), so it is read when the page opens
    and again when the broker raises or clears a disk alarm (``bus.alarm``), on that
    message itself."""

    def __init__(self, root: Path, use: DiskUse | None):
        self.root, self.use = root, use
        self.box = ui.column().classes("w-full gap-3")
        self.fold: DashboardFold | None = None

    def show(self, fold: DashboardFold) -> None:
        self.fold = fold
        found = fold.queue.view()
        self.box.clear()
        with self.box, ui.row().classes("w-full gap-3 flex-wrap"):
            health_card("Nodes", fold.counts("nodes"))
            health_card("Services", fold.counts("services"))
            drift_card(fold.drift)
            queue_card(len(found.pending), len(found.running))
            disk_card(self.use)
        with self.box:
            revision_lines(fold.desired, fold.last_revision)

    def on_message(self, message: Message) -> None:
        if message.topic == topics.BUS_ALARM:
            background_tasks.create(self.look_at_disk(), name="disk card")

    async def look_at_disk(self) -> None:
        self.use = await offload.io_bound(disk.usage, self.root)
        if self.fold is not None:
            self.show(self.fold)


class Failures:
    """The last failed actions, each a link to the Action Queue."""

    def __init__(self) -> None:
        self.box = ui.column().classes("w-full")

    def show(self, fold: DashboardFold) -> None:
        self.box.clear()
        with self.box:
            failures(present.failures(fold.queue.view().history, FAILURES_SHOWN))


class Board:
    """The parts drawn from the dashboard's fold."""

    def __init__(self, *parts: Overview | Failures):
        self.parts = parts

    def show(self, fold: DashboardFold) -> None:
        for part in self.parts:
            part.show(fold)


def failures(found: list[dict]) -> None:
    if not found:
        ui.label("No failed actions.").classes("opacity-70").mark("no-failures")
    for f in found:
        with (
            ui.link(target="/actions").classes("no-underline w-full"),
            ui.card().classes("w-full").mark(f"failure-{f['id']}"),
        ):
            ui.label(f"{f['title']} · {f['at']}").classes(theme.health("down") + " wrap-anywhere")
            if f["detail"]:
                ui.label(f["detail"]).classes("text-xs wrap-anywhere")


def linked_card(target: str, title: str, wide: bool = False) -> ui.card:
    """A card that opens the page behind it, headed by ``title``; fill it with ``with``."""
    with ui.link(target=target).classes("no-underline" + (" w-full" if wide else "")):
        card = ui.card().classes("w-full" if wide else "min-w-40")
    with card:
        ui.label(title).classes("text-sm opacity-70")
    return card


def health_card(title: str, counts: Counts) -> None:
    with linked_card("/world", title):
        for health in states.HEALTHS:
            number = getattr(counts, health)
            if number:
                ui.label(f"{number} {health}").classes(theme.health(health)).mark(
                    f"{title.lower()}-{health}"
                )
        if not any(vars(counts).values()):
            ui.label("none observed yet")


def drift_card(drift: DriftBrief) -> None:
    with linked_card("/drift", "Drift"):
        ui.label(f"{drift.count} drifted").mark("drift-count")
        for item in drift.items[:5]:
            ui.label(present.drift_item(item)).classes("text-xs").mark("drift-item")
        for line in drift.gave_up[:5]:  # the supervisor stopped trying: the operator must act
            ui.label(line).classes("text-xs " + theme.health("down")).mark("gave-up")


def disk_card(use: DiskUse | None) -> None:
    """The data root on disk and the history the event log keeps; yellow under 10 % free,
    red under 5 %, and red when a consumer holds the log over its limit."""
    if use is None:
        return
    text, level = disk.line(use)
    with ui.card().classes("min-w-40 max-w-md"):
        ui.label("Disk").classes("text-sm opacity-70")
        colour = {"critical": theme.health("down"), "low": theme.health("degraded")}
        ui.label(text).classes("text-xs wrap-anywhere " + colour.get(level, "")).mark("disk")
        if use.history is not None and use.history.held_by:
            ui.label(f"history over its limit but kept: {use.history.held_by}").classes(
                "text-xs wrap-anywhere " + theme.health("down")
            )


def queue_card(pending: int, running: int) -> None:
    with linked_card("/actions", "Action Queue"):
        ui.label(f"{pending} pending").mark("pending-count")
        ui.label(f"{running} running")


def revision_text(desired: dict, last: dict | None) -> str:
    """ "Desired state: revision R", with "(rollback from P)" when the last
    ``desired.revision`` announced this very revision as a rollback."""
    revision = desired.get("revision") or "none loaded yet"
    text = f"Desired state: revision {revision}"
    if last and last.get("revision") == desired.get("revision") and last.get("rollback") is True:
        previous = last.get("previous")
        text += f" (rollback from {previous})" if previous else " (rollback)"
    return text


def revision_lines(desired: dict, last_revision: dict | None) -> None:
    with ui.link(target="/drift").classes("no-underline"):
        ui.label(revision_text(desired, last_revision)).mark("revision")
    for problem in desired.get("problems") or []:
        where = f"{problem.get('file')}:{problem.get('line')}"
        with ui.link(target="/drift").classes("no-underline"):
            ui.label(f"{where}: {problem.get('message')}").classes(theme.health("down"))
