"""The one command path: approve or reject an action, from the shell or the UI.

A decision is a request on the bus (``action.request.approve|reject``) from the operator's
channel (``cli:NAME``, ``ui:NAME``) with the hash of what the operator was shown; the queue
in the supervisor answers ``action.approved|rejected`` or ``action.refused`` with a reason.
``decide`` (blocking) and ``decide_async`` (the UI's event loop) send it and wait for that
answer, so both refuse exactly the same things. The answer names the request it answers, so
of two operators approving at once the second is told who came first ("already approved by
alice"). After an approval both wait briefly (``EXECUTOR_WAIT``) for the executor's first
word on it, so the operator hears that it runs, or why it will not (``NotRun``: the
executor refused it, or it became obsolete); with no word in time, just "approved".
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from actors.domain import action_queue, lifecycle, publishers, states, topics
from actors.readmodel import queue
from actors.readmodel.models import ActionView
from bus import aio, client, errors, keys
from bus.envelope import Message

ANSWER_TIMEOUT = 15.0  # for the queue's answer to the request
EXECUTOR_WAIT = 3.0  # then, after an approval, for the executor's first word on it
KINDS = (topics.APPROVE, topics.REJECT)
FIRST_WORDS = tuple(topics.action(s) for s in (states.RUNNING, states.REFUSED, states.OBSOLETE))


class Refused(errors.HomelabError):
    """The decision was not taken: why, in one line for the operator."""


class NotRun(Refused):
    """The approval was taken, but the action will not run: what happened instead."""


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
    if record.state != states.PENDING:
        raise Refused(f"{action_id} is already {record.state_text}; nothing done")
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
    """Send the decision and wait for the queue's answer (to this request), and after an
    approval briefly for the executor's first word on it; a line for people, or Refused
    (``NotRun`` when the approval was taken but the action will not run)."""
    payload = request(root, action_id, kind, by, reason, shown_hash)
    with client.Publisher(endpoint, f"{channel}:{by}") as publisher:
        sent = publisher.publish(topics.request(kind), payload)
    with client.Subscriber(endpoint, topics.ACTION, since=sent + 1) as subscriber:

        def first(test, seconds: float) -> Message | None:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                message = subscriber.get(timeout=min(0.5, left))
                if message is not None and test(message):
                    return message
            return None

        answer = first(lambda m: _answers(m, sent, action_id, kind), ANSWER_TIMEOUT)
        if answer is None:
            raise Refused(_no_answer())
        said = _outcome(answer, action_id, kind, by)
        if kind != topics.APPROVE:
            return said
        return _after_approval(said, first(lambda m: _first_word(m, action_id), EXECUTOR_WAIT))


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
    curve: object = keys.PROCESS,
) -> str:
    """``decide`` for an event loop: nothing here blocks it. ``curve``: the keys the request
    goes with (the UI's: the logged-in operator's, ``operator:NAME``)."""
    payload = await asyncio.to_thread(request, root, action_id, kind, by, reason, shown_hash)
    publisher = aio.AsyncPublisher(endpoint, f"{channel}:{by}", timeout=ANSWER_TIMEOUT, curve=curve)
    try:
        sent = await publisher.publish(topics.request(kind), payload)
    finally:
        publisher.close()
    heard: asyncio.Queue[Message] = asyncio.Queue()

    async def listen() -> None:
        async for message in aio.AsyncSubscriber(endpoint, topics.ACTION, since=sent + 1):
            heard.put_nowait(message)

    async def first(test, seconds: float) -> Message | None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(heard.get(), left)
            except TimeoutError:
                return None
            if test(message):
                return message
        return None

    listener = asyncio.create_task(listen())
    try:
        answer = await first(lambda m: _answers(m, sent, action_id, kind), ANSWER_TIMEOUT)
        if answer is None:
            raise Refused(_no_answer())
        said = _outcome(answer, action_id, kind, by)
        if kind != topics.APPROVE:
            return said
        word = await first(lambda m: _first_word(m, action_id), EXECUTOR_WAIT)
        return _after_approval(said, word)
    finally:
        listener.cancel()


def _answers(message: Message, sent: int, action_id: str, kind: str) -> bool:
    """The queue's answer to the request ``sent`` (its seq): another operator's approval of
    the same action a moment earlier is not this one's."""
    if message.source != action_queue.QUEUE_SOURCE:
        return False
    done = topics.action(states.APPROVED if kind == topics.APPROVE else states.REJECTED)
    if message.topic == done and message.payload.get("id") == action_id:
        return message.payload.get("request", sent) == sent
    return message.topic == topics.action(states.REFUSED) and message.payload.get("request") == sent


def _outcome(message: Message, action_id: str, kind: str, by: str) -> str:
    if message.topic == topics.action(states.REFUSED):
        raise Refused(str(message.payload.get("reason", "refused")))
    return f"{action_id} {states.APPROVED if kind == topics.APPROVE else states.REJECTED} by {by}"


def _first_word(message: Message, action_id: str) -> bool:
    """What the executor (or the queue, taking it back) said first of an approved action:
    it runs, it refused it (not the queue's refusal of another request), it is obsolete."""
    return (
        message.topic in FIRST_WORDS
        and message.payload.get("id") == action_id
        and "request" not in message.payload
        and publishers.may_publish(message.source, message.topic)
    )


def _after_approval(said: str, word: Message | None) -> str:
    """The approval's answer with what came of it; NotRun if it will not run."""
    if word is None:  # not started yet: waiting for its target, or no executor is up
        return said
    reason = str(word.payload.get("reason") or "")
    if word.topic == topics.action(states.REFUSED):
        raise NotRun(f"{said}, but the {word.source} refused it: {reason}")
    if word.topic == topics.action(states.OBSOLETE):
        raise NotRun(f"{said}, but it is obsolete: {reason}")
    return f"{said}; the executor started it"


def _no_answer() -> str:
    return (
        f"no answer from the action queue within {ANSWER_TIMEOUT:g} s "
        "(is `homelab supervisor` running?)"
    )


def _hash(record: ActionView) -> str:
    return lifecycle.run_hash(record.type, record.target, record.commands, record.revision)
