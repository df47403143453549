"""A remote agent's inventory: its node's slice of the desired state, followed on the bus.

An agent with no checkout of the repository probes by what the supervisor says its node
should be (``desired.node.<node>``, ``actors.domain.slices``). It takes a slice only from the
supervisor (``publishers.may_publish``, whatever the bus let through: a slice names the
commands the agent runs), in the order the bus gives them (from its start on: never an old
one from the log), and keeps the last one on disk, so it goes on probing while the broker is away and after a restart. Its heartbeat says
which slice it holds (``digest``); the supervisor sends the current one again when they
differ, so an agent that was away, or starts with none, is brought up to date without
reading the log.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from actors import atomic
from actors.domain import publishers, slices, topics
from actors.domain.inventory import Inventory
from bus import durable, errors
from bus.envelope import Message

log = logging.getLogger("homelab.agent")


class AlreadyFollowed(errors.HomelabError):
    """Another agent of this node keeps its slice in the same folder."""


class FollowedSlice:
    """The slice of ``node`` this agent holds, kept at ``path``."""

    def __init__(self, path: Path, node: str):
        self.path, self.node = path, node
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = durable.lock_exclusive(path.with_name(f".{path.name}.lock"))
        if self._lock is None:  # two would both report the node, each with its own slice
            raise AlreadyFollowed(f"another agent of node {node} is already running here ({path})")
        self.seq = 0  # the bus seq of the slice held (0: none); for the log lines
        self.digest = ""  # what it says (slices.digest); "" while none is held
        self.inventory: Inventory | None = None  # None: none held, or the node left
        self._refused: set[str] = set()
        self._load()

    def take(self, message: Message) -> bool:
        """Hold ``message`` if it is a newer slice of this node from the supervisor; True
        if what the agent probes by changed."""
        if message.topic != topics.desired_node(self.node):
            return False
        if not publishers.may_publish(message.source, message.topic):
            self._refuse(f"from {message.source!r}, not the supervisor")
            return False
        try:
            inventory = slices.inventory_of(message.payload, self.node)
        except ValueError as err:
            self._refuse(f"not a slice of node {self.node}: {err}")
            return False
        digest = slices.digest(message.payload)
        atomic.write_json(self.path, {"seq": message.seq, "slice": message.payload})
        changed = digest != self.digest
        self.seq, self.digest, self.inventory = message.seq, digest, inventory
        if changed:
            log.info(
                "desired state of %s: revision %s (seq %d)%s",
                self.node,
                message.payload.get("revision"),
                message.seq,
                "" if inventory else "; the node is no longer in the inventory",
            )
        return changed

    def _load(self) -> None:
        saved: dict[str, Any] = atomic.read_json_object(self.path)
        if not saved:
            if self.path.exists():  # not missing: unreadable, or not a JSON object
                log.warning(
                    "%s ignored (not a kept slice): waiting for the supervisor's", self.path
                )
            return
        try:
            inventory = slices.inventory_of(saved.get("slice"), self.node)
            seq = saved.get("seq")
            if not isinstance(seq, int) or seq < 0:
                raise ValueError("seq: not a sequence number")
        except ValueError as err:
            log.warning("%s ignored (%s): waiting for the supervisor's", self.path, err)
            return
        self.seq, self.digest, self.inventory = seq, slices.digest(saved["slice"]), inventory
        log.info("desired state of %s from %s (seq %d)", self.node, self.path, seq)

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _refuse(self, why: str) -> None:
        if why not in self._refused:  # once per reason: a flood of them is one line
            self._refused.add(why)
            log.warning("desired state ignored: %s", why)
