"""The Action Queue's History: ended actions, newest first, a page at a time (who decided,
when, the result, how long); each run's whole output opens in a dialog."""

from __future__ import annotations

from pathlib import Path

from nicegui import ui

from actors.readmodel import queue
from actors.readmodel.models import ActionDetail, ActionView
from gui import offload, present, session, theme
from gui.present import words

HISTORY_SHOWN = 200  # ended actions on the page
HISTORY_PAGE = 25  # rows per page of History
HISTORY_COLUMNS = [
    {"name": name, "label": label, "field": name, "align": "left", "sortable": name != "output"}
    for name, label in (
        ("id", "Action"),
        ("service", "Service"),
        ("type", "Type"),
        ("state", "Result"),
        ("decided", "Decided by"),
        ("at", "At"),
        ("duration", "Took"),
        ("detail", "Detail"),
        ("output", "Output"),
    )
]
# The output button: a fixed template (row values are Vue text, never HTML).
OUTPUT_BUTTON = (
    '<q-btn v-if="props.row.ran" dense flat no-caps size="sm" icon="subject" label="Output" '
    ":data-testid=\"'output-' + props.row.id\" "
    "@click=\"() => $parent.$emit('output', props.row.id)\"/>"
)
OUTPUT_SLOT = f'<q-td :props="props">{OUTPUT_BUTTON}</q-td>'


class History:
    """Ended actions, newest first, a page at a time; each run's output opens in a dialog."""

    def __init__(self, root: Path):
        self.root = root
        self.note = ui.label().classes("text-xs opacity-70")
        self.table = ui.table(
            columns=HISTORY_COLUMNS, rows=[], row_key="id", pagination=HISTORY_PAGE
        )
        self.table.classes("w-full").props('dense wrap-cells no-data-label="None yet."')
        self.table.mark("history")
        self.table.add_slot("body-cell-output", OUTPUT_SLOT)
        theme.cards_on_a_phone(self.table, footer=OUTPUT_BUTTON)
        self.table.on("output", self.show_output)

    def show(self, history: list[ActionView]) -> None:
        self.table.rows = history_rows(history)
        self.note.set_text(history_shown(history))

    async def show_output(self, event) -> None:
        if session.require() is None:  # reads an action's log: only for a session that holds
            return
        try:
            found = await offload.io_bound(queue.detail, self.root, str(event.args))
        except queue.NoSuchAction as err:
            ui.notify(str(err), type="negative")
            return
        output_dialog(found)


def history_rows(history: list[ActionView]) -> list[dict]:
    """The newest ``HISTORY_SHOWN`` ended actions: the page stays light after years."""
    return [history_row(a) for a in history[:HISTORY_SHOWN]]


def history_shown(history: list[ActionView]) -> str:
    if len(history) <= HISTORY_SHOWN:
        return f"{len(history)} ended actions, newest first"
    return (
        f"the newest {HISTORY_SHOWN} of {len(history)} ended actions (all: `homelab actions list`)"
    )


def history_row(a: ActionView) -> dict:
    extra = a.model_extra or {}
    decision = a.decision
    why = a.result.get("detail") or a.result.get("reason") or (decision.reason if decision else "")
    return {
        "id": a.id,
        "service": extra.get("service") or "",
        "type": present.words(a.type),
        "state": present.words(a.state),
        "decided": (decision.by or "nobody") if decision else "",
        "at": present.absolute(decision.at if decision else a.created),
        "seconds": a.result.get("seconds", ""),
        "duration": present.duration(a.result.get("seconds")),
        "detail": str(why),
        "ran": bool(a.result.get("log")) or "seconds" in a.result,
    }


def output_dialog(found: ActionDetail) -> None:
    a = found.action
    with ui.dialog() as dialog, ui.card().classes("w-full max-w-3xl"):
        ui.label(f"{words(a.state)}: {words(a.type)} {a.target} ({a.id})").classes("wrap-anywhere")
        took = present.duration(a.result.get("seconds"))
        ui.label(
            f"{found.output_path or 'no output stored'}"
            + (f" · took {took}" if took else "")
            + (" · the last 64 KiB" if len(found.output) >= queue.OUTPUT_SHOWN else "")
        ).classes("text-xs opacity-70 wrap-anywhere")
        with ui.scroll_area().classes("w-full h-96 border"):
            shown = ui.label(found.output or "(no output)")
            shown.classes("whitespace-pre-wrap wrap-anywhere font-mono text-xs")
            shown.mark(f"history-output-{a.id}")
        ui.button("Close", on_click=dialog.close).props("flat")
    dialog.on("hide", dialog.delete)
    dialog.open()
