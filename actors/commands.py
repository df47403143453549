"""The one command path: approve or reject an action, from the shell or the UI.

A decision is a request on the bus (``action.request.approve|reject``) from the operator's
channel (``cli:NAME``, ``ui:NAME``) with the hash of what the operator was shown; the queue
in the supervisor answers ``action.approved|rejected`` or ``action.refused`` with a reason.
``decide`` (blocking) and ``decide_async`` (the UI's event loop) send it and wait for that
answer, so both refuse exactly the same things.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from actors.domain import lifecycle
from actors.readmodel import queue
from actors.readmodel.models import ActionView
from bus import aio, client
from bus.envelope import Message

ANSWER_TIMEOUT = 15.0
KINDS = ("approve", "reject")


class Refused(Exception):
    """The decision was not taken: why, in one line for the operator."""


def request(
    root: Path, action_id: str, kind: str, by: str, reason: str, shown_hash: str | None
) -> dict:
    """The request's payload, or Refused for what can be told before asking the queue."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    try:
        record = queue.action(root, action_id)
    except queue.NoSuchAction as err:
        raise Refused(str(err)) from None
    if record.state != "pending":
        who = f" by {record.approved_by}" if record.approved_by else ""
        raise Refused(f"{action_id} is already {record.state}{who}; nothing done")
    if record.hash != _hash(record):
        raise Refused(f"{action_id}: its file does not match its own hash; not sent")
    if shown_hash is not None and shown_hash != record.hash:
        raise Refused(f"{action_id} changed since it was shown: look again, then decide")
    return {"id": action_id, "by": by, "hash": shown_hash or record.hash, "reason": reason}


def decide(
    root: Path,
    endpoint: str,
    action_id: str,
    kind: str,
    by: str,
    reason: str = "",
    *,
    channel: str = "cli",
    shown_hash: str | None = None,
) -> str:
    """Send the decision and wait for the queue's answer; a line for people, or Refused."""
    payload = request(root, action_id, kind, by, reason, shown_hash)
    with client.Publisher(endpoint, f"{channel}:{by}") as publisher:
        sent = publisher.publish(f"action.request.{kind}", payload)
    deadline = time.monotonic() + ANSWER_TIMEOUT
    with client.Subscriber(endpoint, "action.", since=sent + 1) as subscriber:
        while time.monotonic() < deadline:
            message = subscriber.get(timeout=0.5)
            if message is not None and _answers(message, sent, action_id, kind):
                return _outcome(message, action_id, kind, by)
    raise Refused(_no_answer())


async def decide_async(
    root: Path,
    endpoint: str,
    action_id: str,
    kind: str,
    by: str,
    reason: str = "",
    *,
    channel: str = "ui",
    shown_hash: str | None = None,
) -> str:
    """``decide`` for an event loop: nothing here blocks it."""
    payload = await asyncio.to_thread(request, root, action_id, kind, by, reason, shown_hash)
    publisher = aio.AsyncPublisher(endpoint, f"{channel}:{by}", timeout=ANSWER_TIMEOUT)
    try:
        sent = await publisher.publish(f"action.request.{kind}", payload)
    finally:
        publisher.close()

    async def answer() -> Message:
        async for message in aio.AsyncSubscriber(endpoint, "action.", since=sent + 1):
            if _answers(message, sent, action_id, kind):
                return message
        raise Refused(_no_answer())

    try:
        message = await asyncio.wait_for(answer(), ANSWER_TIMEOUT)
    except TimeoutError:
        raise Refused(_no_answer()) from None
    return _outcome(message, action_id, kind, by)


def _answers(message: Message, sent: int, action_id: str, kind: str) -> bool:
    done = "action.approved" if kind == "approve" else "action.rejected"
    if message.topic == done and message.payload.get("id") == action_id:
        return True
    return message.topic == "action.refused" and message.payload.get("request") == sent


def _outcome(message: Message, action_id: str, kind: str, by: str) -> str:
    if message.topic == "action.refused":
        raise Refused(str(message.payload.get("reason", "refused")))
    return f"{action_id} {'approved' if kind == 'approve' else 'rejected'} by {by}"


def _no_answer() -> str:
    return (
        f"no answer from the action queue within {ANSWER_TIMEOUT:g} s "
        "(is `homelab supervisor` running?)"
    )


def _hash(record: ActionView) -> str:
    return lifecycle.run_hash(record.type, record.target, record.commands, record.revision)
