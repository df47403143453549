"""Action Queue: Pending (the exact commands, Approve / Reject), Running (the output so far,
then live) and History (who decided, when, the result, how long, and the whole output).
Decisions go through ``actors.decisions`` like ``homelab actions approve``; one made elsewhere
shows up as soon as its message arrives (the queue's fold, ``actors.readmodel.live.queue``)."""

from __future__ import annotations

from actors.readmodel.live.queue import QueueFold
from gui import offload
from gui.components import action_cards, approval, history
from gui.components.live import Live
from gui.components.queue_board import QueueBoard, heading
from gui.pages import Context, page


def register(ctx: Context) -> None:
    @page("/actions", "Action Queue")
    async def actions_page() -> None:
        fold = await offload.io_bound(QueueFold, ctx.root)
        decisions = approval.Decisions(ctx.root, ctx.config.bus)
        heading("Pending")
        pending = action_cards.PendingCards(decisions)
        heading("Running")
        running = action_cards.RunningCards(ctx.root)
        heading("History")
        ended = history.History(ctx.root)
        Live(fold, QueueBoard(pending, running, ended).show).follow(ctx.feed)
        ctx.feed.subscribe(running.live)  # the output, line by line
