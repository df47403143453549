"""The broker: the one sequencer. Stamp, append durably, then publish and acknowledge.

Clients talk to a ROUTER socket (publish batches, catch-up fetches, time seeks, pings);
subscribers receive the framed records just written, in groups, from an XPUB socket on the
next port. Work is
done in batches of whatever has arrived, so one fsync covers many messages (group commit).

Two things make a publisher wait (a ``retry`` reply: nothing stored, send it again later)
instead of failing: its client's publish limit (``limits``), and a disk that is below its
reserve or full (``space``: the control plane's own messages go on into the reserve). A
write that fails is cut off the log; the broker goes on, and raises ``bus.alarm``.

Stamps are the wall time as it is (``clock``); a step of the wall clock is logged once and
announced once, as ``bus.clock``, the first message stamped after it (``wallclock``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import zmq

from bus import (
    durable,
    envelope,
    errors,
    heap,
    inbox,
    keys,
    limits,
    protocol,
    records,
    relisten,
    space,
    topics,
    wallclock,
)
from bus.log import EventLog, topic_matches
from bus.sequencer import DEDUP_WINDOW, Sequencer

FsyncPolicy = Literal["always", "batch", "never"]
MAX_DRAIN = 4096  # frames taken per batch
FETCH_REPLY_BYTES = 1024 * 1024
FETCH_SCAN = 50_000  # records looked at per fetch when filtering by topic
LIVE_FRAME_BYTES = 256 * 1024
RECORD_OVERHEAD = records.HEADER_SIZE + 18  # a record is its envelope and this much more
SUBSCRIBER_BYTES = 16 * 1024 * 1024  # held for one subscriber that does not read, at most
TRIM_EVERY = 10.0  # seconds between handing freed memory back to the system
REBIND_WAIT = 1.0  # seconds a re-bind after a revocation is tried before the next tick
ALARM_STATS_EVERY = 30.0  # seconds between stored bus.stats while a disk alarm is active
CLIENT_LIMITS = limits.Limits(messages=2000, bytes=4 * 1024 * 1024, burst=2.0)
INBOX_ROLE = "tool:inbox"  # the inbox's files are anyone's: a tool's
IDENTITY = "identity: "  # how a refusal for who sent it begins
IDENTITY_LOGGED = 1000  # (client, reason) pairs remembered to log each refusal once
log = logging.getLogger("homelab.bus.broker")
rejects = logging.getLogger("homelab.bus.rejects")

# Why ``role`` may not publish ``topic`` as ``source`` (None: it may): the publish policy,
# given by whoever starts the broker (``homelab.broker_service``: the domain's table).
Authorize = Callable[[str, str, str], "str | None"]


def frames_for(budget: int, largest_record: int = LIVE_FRAME_BYTES) -> int:
    """The XPUB high-water mark (it counts frames) that keeps a subscriber's queue within
    ``budget`` bytes (and at least 4 frames): a frame is a group of at most
    ``LIVE_FRAME_BYTES``, or one larger record alone, so the largest record the message size
    limit allows is what one frame can weigh."""
    return max(4, budget // max(LIVE_FRAME_BYTES, largest_record))


class BrokerError(errors.HomelabError):
    """A reason the broker cannot start, worded for the operator."""


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    published: int = 0
    rejected: int = 0
    deferred: int = 0  # messages answered ``retry`` (a limit, the disk), resends included
    subscribers: int = 0
    last_tick_seq: int = 0
    last_tick: float = field(default_factory=time.monotonic)
    last_stats: float = 0.0
    rate: float = 0.0
    rejects_logged_this_tick: int = 0
    rejects_unlogged: int = 0
    forbidden: int = 0  # envelopes and frames refused for who sent them (``identity:``)
    relistens: int = 0  # times every connection was dropped because a key was revoked


class Broker:
    # The history's housekeeping (``bus.housekeeping``: compress sealed segments, apply
    # retention), called from every tick; set by ``homelab.broker_service``.
    housekeeping: Callable[[], None] | None = None

    def __init__(
        self,
        log_: EventLog,
        endpoint: str,
        *,
        fsync: FsyncPolicy = "batch",
        max_message_bytes: int = envelope.MAX_MESSAGE_BYTES,
        stats_interval: float = 1.0,
        inbox_dir: Path | None = None,
        subscriber_queue: int | None = None,
        subscriber_bytes: int = SUBSCRIBER_BYTES,
        serves: dict[str, str] | None = None,
        client_limits: limits.Limits = CLIENT_LIMITS,
        disk: space.Guard | None = None,
        clock: wallclock.Clock | None = None,
        curve: keys.Server | None = None,
        authorize: Authorize | None = None,
    ):
        """``subscriber_bytes``: how much a subscriber that does not read may hold in the
        broker before the newest frames are dropped for it (it catches up from the log), and
        as much again in unread ``fetch`` replies; ``subscriber_queue`` sets the live part
        in frames instead (tests). ``disk``: the log's file system and its reserve (None:
        no such checks, for a log in memory). ``clock``: the wall and steady clocks that
        stamps and steps are read from (tests pass their own). ``curve``: the broker's keys
        and allowlist: both sockets are CURVE servers, a client is the role of the key it
        proved, and ``authorize`` says what each role may publish (None: NULL, anyone may
        connect and claim to be anyone)."""
        self.log = log_
        self.serves = dict(serves or {})  # which data root: told in every pong
        self.fsync = fsync
        self.max_message_bytes = max_message_bytes
        self.stats_interval = stats_interval
        self.inbox_dir = inbox_dir
        self._inbox_stuck: set[str] = set()  # names that could not be moved: said once
        self._inbox_unlisted: str | None = None  # why inbox/ cannot be listed: said once
        self.stats = Stats()
        self.limiter = limits.Limiter(client_limits)
        self.disk = disk
        self._alarm_sent = "ok"  # the disk state last stored as bus.alarm
        self._alarm_logged = "ok"
        self.sequencer = Sequencer(log_.last_seq, recent=_recent_ids(log_))
        self.clock = clock or wallclock.Clock()
        self._watch = wallclock.StepWatch()
        self._step_due: tuple[protocol.Envelope, dict] | None = None  # found, not stored yet
        self.clock_step: dict | None = None  # the last step announced, with its time
        self.stats.last_tick_seq = log_.last_seq
        self._boot = os.urandom(4).hex()
        self._own_count = 0
        self.curve, self.authorize = curve, authorize
        self._identity_logged: set[tuple[str, str]] = set()
        self._relisten = relisten.Relisten(curve.allowlist.revocations if curve else 0)
        self._listening: list[tuple[zmq.Socket, str]] = []  # (socket, address) bound
        self._unbound: list[tuple[zmq.Socket, str]] = []  # not bound again yet: retried
        self._rebind_failing: set[str] = set()  # addresses whose re-bind failing was said
        # With CURVE, a context of its own: its ZAP handler answers only for these sockets.
        self._ctx: zmq.Context = zmq.Context() if curve is not None else zmq.Context.instance()
        if curve is not None:
            curve.start(self._ctx)
        self.router = self._ctx.socket(zmq.ROUTER)
        self.xpub = self._ctx.socket(zmq.XPUB)
        queue = subscriber_queue or frames_for(subscriber_bytes, max_message_bytes)
        self.xpub.setsockopt(zmq.SNDHWM, queue)  # (a record is 29 bytes more than its message)
        self.xpub.setsockopt(zmq.XPUB_NODROP, 0)  # a full queue drops, never blocks the broker
        self._next_trim = 0.0
        self.fetch_budget = subscriber_bytes  # fetch replies held for one client, at most
        self._held: dict[bytes, list[tuple[zmq.MessageTracker, int]]] = {}
        heap.settle()
        self._bind(endpoint)
        self._look_at_start(_last_time(log_) if log_.last_seq else None)

    def _bind(self, endpoint: str) -> None:
        """``endpoint``: one ``tcp://HOST:PORT`` or several, comma-separated (loopback and a
        tailnet address, say); subscribers on each port + 1."""
        addresses = [split_endpoint(e.strip()) for e in endpoint.split(",") if e.strip()]
        if not addresses:
            raise BrokerError(f"bad bus endpoint {endpoint!r}: expected tcp://HOST:PORT")
        self.router.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_FRAME_BYTES)
        self.router.setsockopt(zmq.RCVHWM, 100_000)
        self.router.setsockopt(zmq.SNDHWM, 100_000)  # small replies; fetch's are counted
        self.router.setsockopt(zmq.LINGER, 0)
        self.xpub.setsockopt(zmq.XPUB_VERBOSER, 1)
        self.xpub.setsockopt(zmq.LINGER, 0)
        if self.curve is not None:
            self.curve.secure(self.router)
            self.curve.secure(self.xpub)
        binds = [
            (sock, host, p)
            for host, port in addresses
            for sock, p in ((self.router, port), (self.xpub, port + 1))
        ]
        for sock, host, p in binds:
            try:
                sock.bind(f"tcp://{host}:{p}")
                self._listening.append((sock, f"tcp://{host}:{p}"))
            except zmq.ZMQError as err:
                self.close()
                if err.errno == zmq.EADDRINUSE:
                    raise BrokerError(
                        f"port {p} on {host} is already in use (another broker running?)"
                    ) from None
                raise BrokerError(f"cannot listen on tcp://{host}:{p}: {err}") from None

    def relisten(self) -> None:
        """Drop every client connection (``bus.relisten``: a key was revoked): unbind
        both sockets' addresses and bind them again; clients reconnect through ZAP."""
        self.stats.relistens += 1
        for sock, address in self._listening:
            sock.unbind(address)  # ends the connections this address accepted
        self._unbound = list(self._listening)
        self._bind_again(deadline=time.monotonic() + REBIND_WAIT)
        log.warning(
            "a key was revoked: dropped every client connection (%d keys allowed now)",
            len(self.curve.allowlist) if self.curve else 0,
        )

    def _bind_again(self, deadline: float) -> None:
        """Bind what ``relisten`` unbound; the old listener closes in ZeroMQ's thread, so
        a bind can fail for a moment: tried until ``deadline``, then at the next tick."""
        while self._unbound:
            sock, address = self._unbound[0]
            try:
                sock.bind(address)
                self._unbound.pop(0)
                if address in self._rebind_failing:
                    self._rebind_failing.discard(address)
                    log.info("listening on %s again", address)
            except zmq.ZMQError as err:
                if time.monotonic() >= deadline:
                    if address not in self._rebind_failing:  # said once, not at every tick
                        self._rebind_failing.add(address)
                        log.error("cannot listen on %s again yet (will retry): %s", address, err)
                    return
                time.sleep(0.005)

    def close(self) -> None:
        self.router.close(0)
        self.xpub.close(0)
        if self.curve is not None:
            self.curve.stop()
            self._ctx.term()

    # -- the loop --------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.xpub, zmq.POLLIN)
        next_tick = time.monotonic()
        while not should_stop():
            wait_ms = max(0, min(250, int((next_tick - time.monotonic()) * 1000)))
            ready = dict(poller.poll(wait_ms))
            if self.xpub in ready:
                self._count_subscriptions()
            if self.router in ready:
                self._handle(self._drain())
            if time.monotonic() >= next_tick:
                self._tick()
                next_tick = time.monotonic() + min(self.stats_interval or 0.25, 0.25)

    def _drain(self) -> list[tuple[list[bytes], str | None]]:
        """Waiting requests, each with who sent it: the role of the key its connection
        proved (CURVE), "" for a key no longer allowed, None without CURVE."""
        frames: list[tuple[list[bytes], str | None]] = []
        receive = self._receive_plain if self.curve is None else self._receive_proved
        if self.curve is not None:
            self.curve.allowlist.refresh()  # a key revoked counts from its next frame
        try:
            while len(frames) < MAX_DRAIN:
                frames.append(receive())
        except zmq.Again:
            pass
        return frames

    def _receive_plain(self) -> tuple[list[bytes], str | None]:
        return self.router.recv_multipart(zmq.NOBLOCK), None

    def _receive_proved(self) -> tuple[list[bytes], str | None]:
        """A request's frames and the role of the key its connection proved ("" none).
        Only the last frame is received as a ``Frame`` to read its User-Id (set by ZAP:
        the client's public key): a Frame per part cost CURVE a tenth of the throughput."""
        parts = [self.router.recv(zmq.NOBLOCK)]  # the routing id, which the ROUTER adds
        last: zmq.Frame | None = None
        while self.router.rcvmore:  # the rest of a message arrives with its first part
            last = self.router.recv(copy=False)
            parts.append(last.bytes)
        key = str(last.get("User-Id") or "") if last is not None else ""
        role = self.curve.allowlist.role(key.encode()) if key and self.curve else None
        return parts, role or ""

    def _handle(self, frames: Sequence[tuple[list[bytes], str | None]]) -> None:
        publishes: list[tuple[bytes, protocol.Publish]] = []
        queries = []
        for parts, role in frames:
            if len(parts) != 2:
                self._reject(parts[0], None, f"expected one frame, got {len(parts) - 1}")
                continue
            identity, frame = parts
            if self._limited(identity, frame):
                continue
            try:
                request = protocol.decode_request(frame, self.max_message_bytes)
            except protocol.ProtocolError as err:
                self._reject(identity, err.number, str(err))
                continue
            if role == "" and self._unknown(identity, request):
                continue
            if isinstance(request, protocol.Publish):
                if role:  # stored in each record: who sent it (None: anonymous, no CURVE)
                    self._authorize(identity, role, request)
                    request = request._replace(identity=role)
                publishes.append((identity, request))
            else:
                queries.append((identity, request))
        if publishes:
            self._commit(publishes)
            self._sound_alarm()
        for identity, query in queries:
            self._answer(identity, query)

    def _unknown(self, identity: bytes, request: protocol.Publish | tuple) -> bool:
        """Refuse a request whose key was revoked while its connection was open (a new
        connection with it is refused by the ZAP handler): ``err``, nothing stored."""
        if self.curve is not None and self.curve.allowlist.problem:
            reason = (
                f"{IDENTITY}the broker cannot read its allowlist: {self.curve.allowlist.problem}"
            )
        else:
            reason = f"{IDENTITY}this client's key is no longer on the broker's allowlist"
        number = request.batch if isinstance(request, protocol.Publish) else request[1]
        self.stats.forbidden += 1
        self._note_identity(identity, "revoked", reason)
        self._reply(identity, "err", number, reason)
        return True

    def _authorize(self, identity: bytes, role: str, publish: protocol.Publish) -> None:
        """Refuse, in place, each envelope whose source or topic does not fit ``role``."""
        if self.authorize is None:
            return
        for index, item in enumerate(publish.items):
            if isinstance(item, str):
                continue
            why = self.authorize(role, item.source, item.topic)
            if why is not None:
                reason = f"{IDENTITY}{why}"
                publish.items[index] = reason
                self.stats.forbidden += 1
                self._note_identity(identity, role, reason, counted=False)

    def _note_identity(self, identity: bytes, who: str, reason: str, counted=True) -> None:
        """Log a refusal for who sent it once per client and reason (a client that keeps
        trying fills no log); ``counted``: count it here (else its ack entry is)."""
        self.stats.rejected += counted
        seen = (who, reason)
        if seen in self._identity_logged:
            return
        if len(self._identity_logged) >= IDENTITY_LOGGED:
            self._identity_logged.clear()
        self._identity_logged.add(seen)
        rejects.warning("refused from %s (%s): %s", who, identity.hex(), reason)

    def _limited(self, identity: bytes, frame: bytes) -> bool:
        """Answer ``retry`` to a publish frame over its client's limit, before decoding it:
        a flood costs the broker little more than its refusals."""
        peeked = protocol.peek_publish(frame) if limits.enabled(self.limiter.limits) else None
        if peeked is None:
            return False
        batch, count = peeked
        wait, reason = self.limiter.admit(client_key(identity), count, len(frame), time.monotonic())
        if not wait:
            return False
        self.stats.deferred += count
        self._note_reject(identity, reason, counted=False)
        self._reply(identity, "retry", batch, reason, round(wait, 3))
        return True

    def _commit(self, publishes: list[tuple[bytes, protocol.Publish]]) -> bool:
        """Store what can be stored and answer each frame; False when something was not
        stored (the disk)."""
        admitted = []
        for identity, publish in publishes:
            reason = self._disk_refusal(publish)
            if reason is None:
                admitted.append((identity, publish))
            else:
                self._defer(identity, publish, reason)
        accepted, identities = _accepted(admitted)
        now = self._now()
        step = self._step_due  # goes first, or nothing of the batch is stored
        if step is not None:
            accepted, identities = [step[0], *accepted], [envelope.BROKER, *identities]
        mark = self.sequencer.mark()
        bodies, _, seqs = self.sequencer.stamp(accepted, now, identities)
        try:
            framed = self._persist(bodies)
        except OSError as err:  # cut off the log again: nothing of it is stored
            self.sequencer.undo(mark)
            reason = self._write_failed(err)
            for identity, publish in admitted:
                self._defer(identity, publish, reason)
            return False
        if step is not None:
            seqs = seqs[1:]
            self._step_due, self.clock_step = None, {**step[1], "time": now}
        for frame in live_frames(framed):
            self.xpub.send(frame)
        self.stats.published += len(bodies)
        if self.disk is not None:
            self.disk.wrote(sum(map(len, framed)))
        next_seq = iter(seqs)
        for identity, publish in admitted:
            results: list[int | str] = []
            for item in publish.items:
                if isinstance(item, str):
                    if item.startswith(IDENTITY):  # logged once already (_note_identity)
                        self.stats.rejected += 1
                    else:
                        self._note_reject(identity, item)
                    results.append(item)
                else:
                    results.append(next(next_seq))
            self._reply(identity, "ack", publish.batch, results)
        self._saw_sources(admitted)
        return len(admitted) == len(publishes)

    def _persist(self, bodies: list[bytes]) -> list[bytes]:
        """Append and fsync; on an OSError, cut what was written and raise it. When even
        that fails, BrokerError: the broker stops, and its next start cuts the torn tail."""
        before = self.log.last_seq
        try:
            if self.fsync == "always":
                framed = []
                for body in bodies:
                    framed += self.log.append([body])
                    self.log.sync()
                return framed
            framed = self.log.append(bodies)
            if self.fsync == "batch":
                self.log.sync()
            return framed
        except OSError as err:
            try:
                self.log.discard(before)
            except OSError as cut:
                raise BrokerError(
                    f"cannot write the event log ({err.strerror or err}) nor cut what was "
                    f"written ({cut.strerror or cut}): stopping"
                ) from None
            raise

    def _disk_refusal(self, publish: protocol.Publish) -> str | None:
        if self.disk is None:
            return None
        items = [item for item in publish.items if not isinstance(item, str)]
        size = sum(len(item.wire) + RECORD_OVERHEAD for item in items)
        essential = all(space.essential(item.topic, item.source) for item in items)
        return self.disk.refusal(size, essential) if items else None

    def _write_failed(self, err: OSError) -> str:
        if self.disk is None:
            return f"cannot write the event log: {err.strerror or err}"
        self.disk.failed(err)
        return self.disk.reason(essential=True)

    def _defer(self, identity: bytes, publish: protocol.Publish, reason: str) -> None:
        """Nothing of this frame is stored: its publisher sends it again later."""
        self.stats.deferred += len(publish.items)
        self._reply(identity, "retry", publish.batch, reason, space.RETRY_AFTER)

    def _saw_sources(self, admitted: list[tuple[bytes, protocol.Publish]]) -> None:
        for identity, publish in admitted:
            for item in publish.items:
                if not isinstance(item, str):
                    self.limiter.saw(client_key(identity), item.source)
                    break

    def publish_own(self, topic: str, payload: dict) -> int | None:
        """Publish a message of the broker's own (stats, reports) through the same path;
        its seq, or None when the disk did not take it."""
        own = protocol.Publish(0, [self._own(topic, payload)], envelope.BROKER)
        if not self._commit([(b"", own)]):
            return None
        return self.sequencer.last_seq

    def _own(self, topic: str, payload: dict) -> protocol.Envelope:
        self._own_count += 1
        msg_id = f"broker-{self._boot}-{self._own_count}"
        wire = envelope.encode_wire(topic, msg_id, "broker", payload)
        return protocol.Envelope(wire, topic, msg_id, "broker")

    # -- the clock -------------------------------------------------------------------------

    def _now(self) -> float:
        """The wall time to stamp with; a step of it since the last look is made due."""
        wall, steady = self.clock.read()
        step = self._watch.look(wall, steady)
        if step is not None:
            self._found_step(step, "running")
        return wall

    def _look_at_start(self, last_time: float | None) -> None:
        """The first look; a log whose last stamp is ahead of the clock: a step back."""
        wall, steady = self.clock.read()
        self._watch.look(wall, steady)
        if last_time is not None and last_time - wall >= self._watch.threshold:
            self._found_step(wall - last_time, "start")

    def _found_step(self, step: float, found: str) -> None:
        """Log a step once; ``bus.clock`` goes first in the next batch stored (two steps
        that come before it is stored are announced as one, their sum)."""
        log.warning("clock: %s", wallclock.report(step, found))
        if self._step_due is not None:
            step += self._step_due[1]["step"]
        payload = wallclock.payload(step, found)
        self._step_due = (self._own(wallclock.TOPIC, payload), payload)

    def _sound_alarm(self) -> None:
        """Say on the bus (``bus.alarm``) and in the broker's log when the disk's state
        changes; a message the disk does not take is tried again at the next tick."""
        if self.disk is None:
            return
        alarm = self.disk.alarm()
        if alarm["state"] != self._alarm_logged:
            self._alarm_logged = alarm["state"]
            (log.warning if alarm["active"] else log.info)("alarm: %s", alarm["reason"])
        if alarm["state"] != self._alarm_sent and self.publish_own(topics.ALARM, alarm):
            self._alarm_sent = alarm["state"]

    # -- queries ---------------------------------------------------------------------------

    def _answer(self, identity: bytes, query: tuple) -> None:
        try:
            self._answer_query(identity, query)
        except records.CorruptLog as err:  # the reader is told; the broker keeps serving
            log.error("cannot answer %s: %s", query[0], err)
            self._reply(identity, "err", query[1], str(err))

    def _answer_query(self, identity: bytes, query: tuple) -> None:
        kind, req = query[0], query[1]
        if kind == "fetch":
            if self._held_for(identity) >= self.fetch_budget:
                return  # it has not read what it was sent: no answer, it asks again later
            _, _, after, limit, prefixes = query
            scanned, bodies = self._fetch(after, limit, prefixes)
            frame = protocol.encode("batch", req, self.log.last_seq, scanned, bodies)
            try:
                tracker = self.router.send_multipart(
                    [identity, frame], zmq.NOBLOCK, copy=False, track=True
                )
            except zmq.ZMQError:
                return  # the client went away: it will ask again
            assert tracker is not None  # pyzmq gives one whenever track=True
            self._held.setdefault(identity, []).append((tracker, len(frame)))
        elif kind == "seek":
            self._reply(identity, "seek", req, self.log.seq_at(query[2]))
        else:
            self._reply(identity, "pong", req, self.status() | self.serves)

    def _held_for(self, identity: bytes) -> int:
        """Bytes of fetch replies sent to ``identity`` that ZeroMQ still holds (not yet
        written to the connection: the client is not reading). A reply of up to 1 MiB
        each, a client that sent fetch after fetch and read none made the broker hold them
        all; now the replies it holds are bounded like a subscriber's live queue."""
        pending = [(t, size) for t, size in self._held.get(identity, ()) if not t.done]
        if pending:
            self._held[identity] = pending
        else:
            self._held.pop(identity, None)
        return sum(size for _, size in pending)

    def _fetch(self, after: int, limit: int, prefixes: list[str]) -> tuple[int, list]:
        head = self.log.last_seq
        after = max(after, self.log.first_seq - 1)  # before it, retention deleted the history
        until = min(head, after + (FETCH_SCAN if prefixes else limit))
        bodies, size, seq = [], 0, after
        for body in self.log.read(after, until):
            seq += 1
            if not prefixes or topic_matches(body, prefixes):
                bodies.append(body)
                size += len(body)
                if len(bodies) >= limit or size >= FETCH_REPLY_BYTES:
                    break
        return seq, bodies

    def status(self) -> dict:
        alarms = []
        if self.disk is not None and self.disk.state != "ok":
            alarms.append(self.disk.alarm())
        return {
            "seq": self.log.last_seq,
            "rate": round(self.stats.rate, 1),
            "subscribers": self.stats.subscribers,
            "published": self.stats.published,
            "rejected": self.stats.rejected,
            "deferred": self.stats.deferred,
            "forbidden": self.stats.forbidden,
            "relistens": self.stats.relistens,
            "curve": self.curve is not None,
            "uptime_s": round(time.monotonic() - self.stats.started, 1),
            "fsync": self.fsync,
            "alarms": alarms,
            "disk": self.disk.alarm() if self.disk is not None else None,
            "limits": self.limiter.limits.status(),
            "clients": self.limiter.status(time.monotonic()),
            "clock_step": self.clock_step,
        }

    # -- housekeeping ----------------------------------------------------------------------

    def _tick(self) -> None:
        if self.housekeeping is not None:
            self.housekeeping()
        now = time.monotonic()
        stats = self.stats
        self._look_for_revocations(now)
        if self.inbox_dir is not None:
            self._take_inbox(self.inbox_dir)
        if self.disk is not None:
            self.disk.look()
            self._sound_alarm()
        if now >= self._next_trim:  # what a slow subscriber held goes back to the system
            self._next_trim = now + TRIM_EVERY
            for identity in list(self._held):  # clients that left or stopped asking
                self._held_for(identity)
            self.limiter.forget_idle(now)
            heap.trim()
        if now - stats.last_tick >= 1.0:  # the rate and the rejection log: once a second
            stats.rate = (self.log.last_seq - stats.last_tick_seq) / (now - stats.last_tick)
            stats.last_tick, stats.last_tick_seq = now, self.log.last_seq
            if stats.rejects_unlogged:
                rejects.warning("... and %d more rejected messages", stats.rejects_unlogged)
            stats.rejects_logged_this_tick = stats.rejects_unlogged = 0
        interval = self.stats_interval
        if interval and self.disk is not None and self.disk.state != "ok":
            interval = max(interval, ALARM_STATS_EVERY)  # the reserve is not for heartbeats
        if interval and now - stats.last_stats >= interval:
            stats.last_stats = now
            self.publish_own(topics.STATS, self.status())

    def _look_for_revocations(self, now: float) -> None:
        """A key taken off the allowlist: its live connections end (at most once a
        second; ``bus.relisten``)."""
        if self.curve is None:
            return
        self.curve.allowlist.refresh()
        if self._relisten.due(self.curve.allowlist.revocations, now):
            self.relisten()
        elif self._unbound:
            self._bind_again(deadline=now)

    def _take_inbox(self, inbox_dir: Path) -> None:
        try:
            waiting = inbox.scan(inbox_dir, self._inbox_stuck)
        except OSError as err:  # inbox/ is not a folder, or cannot be read: said once
            if self._inbox_unlisted != str(err):
                log.warning("inbox: cannot list %s: %s", inbox_dir, err)
            self._inbox_unlisted = str(err)
            return
        self._inbox_unlisted = None
        for dropped in waiting:
            item, reason = dropped.item, self._inbox_refusal(dropped)
            taken = protocol.Publish(0, [item], INBOX_ROLE)
            if reason is None and not self._commit([(b"", taken)]):
                return  # the disk did not take it: it stays in inbox/ for a later look
            try:
                if reason is None:
                    inbox.done(dropped)
                else:
                    inbox.reject(dropped, reason)
                    self._note_reject(b"inbox", f"{dropped.path.name!r}: {reason}")
            except FileNotFoundError as err:  # unless it vanished: then nothing is left to do
                if os.path.lexists(dropped.path):
                    self._inbox_cannot(dropped, err)
            except OSError as err:  # cannot be moved: said once, never the broker's end
                self._inbox_cannot(dropped, err)

    def _inbox_cannot(self, dropped: inbox.Dropped, err: OSError) -> None:
        self._inbox_stuck.add(dropped.path.name)
        log.warning("inbox: cannot handle %r: %s", dropped.path.name, err)

    def _inbox_refusal(self, dropped: inbox.Dropped) -> str | None:
        item = dropped.item
        if isinstance(item, str):
            return item
        refused = protocol.refusal(
            [item.topic, item.id, item.source, {}], len(item.wire), self.max_message_bytes
        )
        if refused is None and self.authorize is not None:
            why = self.authorize(INBOX_ROLE, item.source, item.topic)
            refused = None if why is None else f"{IDENTITY}{why}"
        return refused

    def _count_subscriptions(self) -> None:
        try:
            while True:
                frame = self.xpub.recv(zmq.NOBLOCK)
                if frame[:1] == b"\x01":
                    self.stats.subscribers += 1
                elif frame[:1] == b"\x00":
                    self.stats.subscribers = max(0, self.stats.subscribers - 1)
        except zmq.Again:
            pass

    def _reject(self, identity: bytes, req: int | None, reason: str) -> None:
        self._note_reject(identity, reason)
        self._reply(identity, "err", req, reason)

    def _note_reject(self, identity: bytes, reason: str, counted: bool = True) -> None:
        """Log a refusal (at most 20 lines a second); ``counted``: in ``rejected`` (a
        deferral is counted in ``deferred`` by the caller)."""
        stats = self.stats
        stats.rejected += counted
        if stats.rejects_logged_this_tick < 20:
            stats.rejects_logged_this_tick += 1
            what = "rejected" if counted else "deferred"
            rejects.warning("%s from %s: %s", what, identity.hex() or "broker", reason)
        else:
            stats.rejects_unlogged += 1

    def _reply(self, identity: bytes, *fields) -> None:
        if identity in (b"", b"inbox"):
            return
        try:
            self.router.send_multipart([identity, protocol.encode(*fields)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the client went away or is not reading: it will ask again


def live_frames(framed: list[bytes]) -> Iterator[bytes]:
    """Group framed records into publication frames of at most ``LIVE_FRAME_BYTES`` (a
    larger record goes alone): one send per group instead of one per message."""
    group: list[bytes] = []
    size = 0
    for record in framed:
        if group and size + len(record) > LIVE_FRAME_BYTES:
            yield b"".join(group)
            group, size = [], 0
        group.append(record)
        size += len(record)
    if group:
        yield b"".join(group)


def _accepted(
    admitted: list[tuple[bytes, protocol.Publish]],
) -> tuple[list[protocol.Envelope], list[str]]:
    """The envelopes to stamp, and who sent each (stored in its record)."""
    items, identities = [], []
    for _, publish in admitted:
        for item in publish.items:
            if not isinstance(item, str):
                items.append(item)
                identities.append(publish.identity)
    return items, identities


def client_key(identity: bytes) -> str:
    """Who a client is, for its publish limit: its connection until the bus authenticates
    clients (then the name it proved)."""
    return f"conn:{identity.hex()}"


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``tcp://host:port`` -> (host, port), with a readable error."""
    rest = endpoint.removeprefix("tcp://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise BrokerError(f"bad bus endpoint {endpoint!r}: expected tcp://HOST:PORT")
    return host, int(port)


def lock_log(events_dir: Path) -> int:
    """Hold an exclusive lock so two brokers never write one log."""
    events_dir.mkdir(parents=True, exist_ok=True)
    fd = durable.lock_exclusive(events_dir / ".lock")
    if fd is None:
        raise BrokerError(f"another broker is already writing {events_dir}")
    return fd


def _last_time(log_: EventLog) -> float:
    if log_.last_seq == 0:
        return 0.0
    for body in log_.read(log_.last_seq - 1):
        return envelope.body_time(body)
    return 0.0


def _recent_ids(log_: EventLog) -> list[tuple[tuple[str, str], int]]:
    start = max(0, log_.last_seq - DEDUP_WINDOW)
    return [(envelope.body_key(body), seq) for seq, body in enumerate(log_.read(start), start + 1)]
