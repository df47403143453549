"""Action Queue: Pending (the exact commands, Approve / Reject), Running (live output) and
History (who decided, when, the result). Decisions go through ``actors.commands`` like
``homelab actions approve``; one made elsewhere shows up at once."""

from __future__ import annotations

import datetime as dt

from fastapi.responses import RedirectResponse
from nicegui import run, ui

from actors import commands
from actors.readmodel import queue
from actors.readmodel.models import ActionView
from gui import session, theme
from gui.pages import follow

DESTRUCTIVE = ("stop",)  # asked again before approving
OUTPUT_LINES = 400
HISTORY_COLUMNS = [
    {"name": name, "label": label, "field": name, "align": "left", "sortable": True}
    for name, label in (
        ("id", "Action"),
        ("service", "Service"),
        ("type", "Type"),
        ("state", "Result"),
        ("decided", "Decided by"),
        ("at", "At"),
        ("seconds", "Took (s)"),
        ("detail", "Detail"),
    )
]


def when(epoch: float | None) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S") if epoch else ""


def history_row(a: ActionView) -> dict:
    extra = a.model_extra or {}
    decision = next(
        (e for e in reversed(a.history) if e.kind in ("approve", "reject", "expire", "obsolete")),
        None,
    )
    return {
        "id": a.id,
        "service": extra.get("service") or "",
        "type": a.type,
        "state": a.state,
        "decided": decision.by if decision else "",
        "at": when(decision.at if decision else a.created),
        "seconds": a.result.get("seconds", ""),
        "detail": str(a.result.get("detail") or (decision.reason if decision else "")),
    }


def register(ctx) -> None:
    @ui.page("/actions")
    async def actions_page() -> RedirectResponse | None:
        operator = session.operator(ctx.operators)
        if operator is None:
            return RedirectResponse("/login")
        outputs: dict[str, ui.log] = {}

        async def decide(a: ActionView, kind: str, reason: str = "") -> None:
            name = session.require(ctx.operators)  # the websocket skips the middleware
            if name is None:
                return
            try:
                said = await commands.decide_async(
                    ctx.root,
                    ctx.config.bus,
                    a.id,
                    kind,
                    name,
                    reason,
                    channel="ui",
                    shown_hash=a.hash,
                )
            except commands.Refused as err:
                ui.notify(str(err), type="negative", multi_line=True)
            else:
                ui.notify(said, type="positive")
            await refresh()

        def confirm_then_approve(a: ActionView) -> None:
            with ui.dialog() as dialog, ui.card():
                ui.label(f"{a.type} {a.target}: really?")
                ui.label(a.command_text).classes("font-mono text-xs break-all")
                with ui.row():
                    ui.button(
                        "Approve", on_click=lambda: (dialog.close(), decide(a, "approve"))[1]
                    ).mark(f"confirm-{a.id}")
                    ui.button("Cancel", on_click=dialog.close).props("flat")
            dialog.open()

        @ui.refreshable
        def pending(found: list[ActionView]) -> None:
            if not found:
                ui.label("No pending actions.").mark("no-pending")
            for a in found:
                extra = a.model_extra or {}
                with ui.card().classes("w-full").mark(f"pending-{a.id}"):
                    ui.label(f"{a.type} {extra.get('service') or a.target}").classes("text-lg")
                    ui.label(f"{a.id} · target {a.target} · revision {a.revision}").classes(
                        "text-xs opacity-70"
                    )
                    ui.label(str(extra.get("reason") or "")).mark(f"reason-{a.id}")
                    ui.label(a.command_text).classes("font-mono text-sm break-all").mark(
                        f"command-{a.id}"
                    )
                    reason = ui.input("Reason (for a rejection)").classes("w-full")
                    with ui.row():
                        if a.type in DESTRUCTIVE:
                            ui.button("Approve", on_click=lambda a=a: confirm_then_approve(a)).mark(
                                f"approve-{a.id}"
                            )
                        else:
                            ui.button("Approve", on_click=lambda a=a: decide(a, "approve")).mark(
                                f"approve-{a.id}"
                            )
                        ui.button(
                            "Reject",
                            color="negative",
                            on_click=lambda a=a, r=reason: decide(a, "reject", r.value),
                        ).mark(f"reject-{a.id}")

        @ui.refreshable
        def running(found: list[ActionView]) -> None:
            if not found:
                ui.label("Nothing running.")
            for a in found:
                with ui.card().classes("w-full").mark(f"running-{a.id}"):
                    ui.label(f"{a.state}: {a.type} {a.target} ({a.id}) approved by {a.approved_by}")
                    log = ui.log(max_lines=OUTPUT_LINES).classes("w-full h-40")
                    outputs[a.id] = log

        with theme.frame("Action Queue", operator, session.log_out):
            found = await run.io_bound(queue.read, ctx.root)
            ui.label("Pending").classes("text-xl")
            pending(found.pending)
            ui.label("Running").classes("text-xl")
            running(found.running)
            ui.label("History").classes("text-xl")
            history = ui.table(
                columns=HISTORY_COLUMNS, rows=[history_row(a) for a in found.history], row_key="id"
            )
            history.classes("w-full").props("dense wrap-cells").mark("history")

        async def refresh() -> None:
            latest = await run.io_bound(queue.read, ctx.root)
            pending.refresh(latest.pending)
            running.refresh(latest.running)
            history.rows = [history_row(a) for a in latest.history]

        def on_output(message) -> None:
            if message.topic == "action.output" and message.payload.get("id") in outputs:
                outputs[message.payload["id"]].push(
                    str(message.payload.get("chunk", "")).rstrip("\n")
                )

        ctx.feed.subscribe(on_output)
        follow(
            ctx,
            (
                "action.pending",
                "action.approved",
                "action.rejected",
                "action.running",
                "action.succeeded",
                "action.failed",
                "action.timed_out",
                "action.interrupted",
                "action.expired",
                "action.obsolete",
                "action.refused",
            ),
            refresh,
        )
        return None
