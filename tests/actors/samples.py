"""Sample inputs the actors' tests share: a desired state with one service of each kind and
policy, a check's state, what `docker compose ps` prints, and a stream of messages (as a log
on disk, and folded into a world)."""

from __future__ import annotations

import json
from pathlib import Path

from actors.domain.inventory import Inventory
from actors.domain.world import PREFIXES, CheckState, World, apply
from bus import envelope, filelog
from bus.envelope import Message

T0 = 1_800_000_000.0

DESIRED = Inventory.model_validate(
    {
        "nodes": {"vps": {"address": "127.0.0.1"}},
        "services": {
            "web": {
                "node": "vps",
                "kind": "container",
                "image": "nginx:1.27",
                "checks": [{"type": "http", "url": "http://127.0.0.1/"}],
            },
            "old": {"node": "vps", "kind": "systemd", "unit": "old.service", "desired": "stopped"},
            "db": {
                "node": "vps",
                "kind": "systemd",
                "unit": "postgresql.service",
                "policy": "auto",
            },
            "muted": {"node": "vps", "kind": "systemd", "unit": "m.service", "policy": "ignore"},
            "router": {
                "node": "vps",
                "kind": "http",
                "checks": [{"type": "http", "url": "http://192.0.2.1/"}],
            },
        },
    }
)


def check(outcome: str, since: float = 100.0, seq: int = 7, **facts) -> CheckState:
    return CheckState(
        outcome=outcome,
        detail=f"{outcome} detail",
        facts=facts,
        latency_ms=None,
        observed_at=since,
        since=since,
        since_seq=seq,
        last_seen=since + 5,
        last_seq=seq + 3,
    )


# `docker compose --project-name web ps --all --format json`, Compose 2.21 and later: one object
# per line.
COMPOSE_LINES = "\n".join(
    json.dumps(entry, separators=(",", ":"))
    for entry in [
        {
            "Command": '"/docker-entrypoint.…"',
            "CreatedAt": "2026-11-20 09:12:33 +0000 UTC",
            "ExitCode": 0,
            "Health": "healthy",
            "ID": "3f4e8b1c2d3a",
            "Image": "nginx:1.27-alpine",
            "Labels": "com.docker.compose.project=web,com.docker.compose.service=web",
            "LocalVolumes": "0",
            "Mounts": "",
            "Name": "web-web-1",
            "Names": "web-web-1",
            "Networks": "web_default",
            "Ports": "0.0.0.0:8080->80/tcp",
            "Project": "web",
            "Publishers": [
                {"URL": "0.0.0.0", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"}
            ],
            "RunningFor": "2 hours ago",
            "Service": "web",
            "Size": "0B",
            "State": "running",
            "Status": "Up 2 hours (healthy)",
        },
        {
            "Command": '"docker-entrypoint.s…"',
            "CreatedAt": "2026-11-20 09:12:31 +0000 UTC",
            "ExitCode": 0,
            "Health": "",
            "ID": "9a8b7c6d5e4f",
            "Image": "postgres:16",
            "Labels": "com.docker.compose.project=web,com.docker.compose.service=db",
            "LocalVolumes": "1",
            "Mounts": "web_pgdata",
            "Name": "web-db-1",
            "Names": "web-db-1",
            "Networks": "web_default",
            "Ports": "5432/tcp",
            "Project": "web",
            "Publishers": [{"URL": "", "TargetPort": 5432, "PublishedPort": 0, "Protocol": "tcp"}],
            "RunningFor": "2 hours ago",
            "Service": "db",
            "Size": "0B",
            "State": "running",
            "Status": "Up 2 hours",
        },
    ]
)


def stream(count: int) -> list[Message]:
    """Heartbeats, service checks flipping now and then, ticks, foreign topics, and now and
    then a slice of the desired state (one in three forged)."""
    out = []
    for seq in range(1, count + 1):
        time = T0 + seq * 0.5
        node = f"n{seq % 3}"
        kind = seq % 7
        source = "test"
        if seq % 40 == 9:
            topic = f"desired.node.{node}"
            wanted = {f"s{k}": "stopped" if (seq // 40 + k) % 3 else "running" for k in range(5)}
            services = {name: {"node": node, "desired": d} for name, d in wanted.items()}
            payload = {"node": node, "revision": "r", "definition": {}, "services": services}
            source = "emit" if seq % 120 == 9 else "supervisor"
        elif kind == 0:
            topic = f"obs.node.{node}.agent"
            payload = {"node": node, "interval": 5.0, "checks": 1, "started_at": T0}
        elif kind == 1:
            topic, payload = "bus.stats", {"seq": seq}
        elif kind == 2:
            topic, payload = "world.service.x", {"ignored": True}  # not folded
        else:
            service = f"s{seq % 5}"
            topic = f"obs.node.{node}.service.{service}"
            payload = {
                "node": node,
                "service": service,
                "check": "http" if seq % 2 else "state",
                "outcome": "fail" if seq % 23 < 3 else "ok",
                "detail": f"try {seq % 4}",
                "interval": 5.0,
                "observed_at": time,
            }
        out.append(Message(seq, time, topic, f"m{seq}", source, payload))
    return out


def write_log(events: Path, messages: list[Message], segment_bytes: int = 4096) -> None:
    log, _ = filelog.FileLog.open_for_append(events, segment_bytes)
    for m in messages:
        wire = envelope.encode_wire(m.topic, m.id, m.source, m.payload)
        log.append([envelope.stamp(wire, m.seq, m.time)])
    log.close()


def folded(messages: list[Message]) -> World:
    world = World()
    for m in messages:
        if m.topic.startswith(PREFIXES):
            apply(world, m)
    return world
