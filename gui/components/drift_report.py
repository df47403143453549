"""The Drift page's report: each drifted service, desired against actual, the fix and the
revision, and the observations that caused it (by sequence number, each a link to that
record on the Events page); the inventory's problems above it. Drawn again from each
``drift.report`` the supervisor publishes (the whole report is in the message)."""

from __future__ import annotations

import time

from nicegui import ui

from actors.readmodel import drivers
from actors.readmodel.live.drift import DriftFold
from actors.readmodel.models import DriftReport, DriftView, HeldView, RecommendationView
from gui import present, theme

CAUSES_SHOWN = 20  # sequence numbers linked per drift


def compare_grid(d: DriftView) -> None:
    """Desired | actual, side by side; an actual that differs in bold, in the colour of
    "down" (a row's own "matches" flag decides, see ``present.compared``)."""
    grid = ui.grid(columns="auto 1fr 1fr").classes("w-full gap-x-4 gap-y-0 text-sm")
    with grid.mark(f"compare-{d.service}").props(f"data-testid=compare-{d.service}"):
        for heading in ("", "desired", "actual"):
            ui.label(heading).classes("font-bold")
        for aspect, want, have, same in present.compared(d.compared):
            ui.label(aspect).classes("opacity-70")
            ui.label(want).classes("wrap-anywhere")
            shown = ui.label(have).classes("wrap-anywhere")
            shown.props(f"data-matches={str(same).lower()}")
            if not same:
                shown.classes("font-bold " + theme.health("down"))


def causes(d: DriftView) -> None:
    with ui.row().classes("items-center gap-x-2 gap-y-0 flex-wrap text-xs"):
        ui.label(f"since {present.since(d.since, time.time()) or '?'};")
        ui.label("caused by seq" if d.seqs else "no observation recorded")
        for seq in d.seqs[:CAUSES_SHOWN]:  # each opens it on the Events page
            ui.link(str(seq), f"/events?seq={seq}").mark(f"cause-{seq}")
        if len(d.seqs) > CAUSES_SHOWN:
            ui.label(f"and {len(d.seqs) - CAUSES_SHOWN} more")


def drift_card(d: DriftView, fix: RecommendationView | None, held: HeldView | None) -> None:
    with ui.card().classes("w-full").mark(f"drift-{d.service}"):
        ui.label(f"{d.service} on {d.node}: {present.words(d.kind)}").classes("text-lg")
        ui.label(d.detail).classes("wrap-anywhere")
        if d.compared:
            compare_grid(d)
        causes(d)
        if fix is not None:
            ui.link(f"fix: {present.words(fix.type)} ({fix.approval}) {fix.id}", "/actions")
            ui.label(drivers.command_text(fix.commands)).classes("font-mono text-xs wrap-anywhere")
            if fix.previous:
                ui.label(f"after: {fix.previous}").classes("text-xs opacity-70 wrap-anywhere")
        elif held is not None and held.gave_up:  # the supervisor gave up: the operator must act
            ui.label(f"no fix: {held.why}").classes(
                "text-sm wrap-anywhere " + theme.health("down")
            ).mark(f"gave-up-{d.service}")
            with ui.row().classes("gap-x-2 gap-y-0 flex-wrap text-xs"):
                for action_id in held.gave_up:
                    ui.link(action_id, "/actions")
        elif held is not None:
            ui.label(f"no fix: {held.why}").classes("text-xs opacity-70 wrap-anywhere")


def report(found: DriftReport | None) -> None:
    if found is None:
        ui.label(
            "No drift report yet: the supervisor has not judged the world "
            "(is `homelab supervisor` running?)"
        ).mark("drift-problem")
        return
    ui.label(f"Revision {found.revision} · world at seq {found.world_seq}").classes(
        "wrap-anywhere"
    ).mark("drift-revision")
    if not found.drifts:
        ui.label("No drift.").mark("no-drift")
    fixes = {r.drift.key: r for r in found.recommended}
    held = {h.drift: h for h in found.held}
    for d in found.drifts:
        drift_card(d, fixes.get(d.key), held.get(d.key))
    for u in found.unobserved:
        ui.label(f"{u.service}: not observed yet ({u.why})").classes("opacity-70")


def problems(found: list[dict]) -> None:
    """The inventory's problems (the supervisor keeps the last good desired state)."""
    for problem in found:
        where = f"{problem.get('file')}:{problem.get('line')}"
        ui.label(f"{where}: {problem.get('message')}").classes(
            "wrap-anywhere " + theme.health("down")
        ).mark("drift-problem")


class DriftPage:
    """The supervisor's own report, as it publishes it (``drift.report``), with the
    inventory's problems above it; drawn again whole from the fold (``actors.readmodel.live.drift``)."""

    def __init__(self) -> None:
        self.box = ui.column().classes("w-full gap-3")

    def show(self, fold: DriftFold) -> None:
        self.box.clear()
        with self.box:
            problems(fold.problems)
            report(fold.report)
