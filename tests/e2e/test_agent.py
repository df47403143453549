"""The agent as a real process: probes on their intervals, published on a real bus."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from actors.domain.world import World, apply
from bus import client
from plant import child_env

pytestmark = pytest.mark.slow


@pytest.fixture
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def start_agent(repo: Path, root: Path, endpoint: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homelab",
            "agent",
            "--node",
            "here",
            "--repo",
            str(repo),
            "--root",
            str(root),
            "--bus",
            endpoint,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
    )


def collect(subscriber: client.Subscriber, until, timeout: float = 20.0) -> list:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and not until(seen):
        message = subscriber.get(timeout=0.5)
        if message is not None:
            seen.append(message)
    return seen


def test_the_agent_publishes_each_check_and_a_slow_probe_delays_nothing(broker, tmp_path, web):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inventory.yml").write_text(
        textwrap.dedent(f"""\
        nodes:
          here:
            address: 127.0.0.1
            interval: 0.5
        services:
          site:
            node: here
            kind: http
            checks:
              - {{type: http, url: "http://127.0.0.1:{web}/"}}
          stuck:
            node: here
            kind: command
            start: [/bin/true]
            stop: [/bin/true]
            checks:
              - {{type: command, argv: [/bin/sleep, "30"], timeout: 1}}
    """)
    )
    with client.Subscriber(broker.endpoint, "obs.") as subscriber:
        agent = start_agent(repo, broker.root, broker.endpoint, "--refresh", "0")
        try:

            def enough(seen):
                site = [m for m in seen if m.topic == "obs.node.here.service.site"]
                stuck = [m for m in seen if m.topic == "obs.node.here.service.stuck"]
                return len(site) >= 6 and len(stuck) >= 1

            seen = collect(subscriber, enough)
        finally:
            agent.send_signal(signal.SIGTERM)
            output, _ = agent.communicate(timeout=15)
    site = [m.payload for m in seen if m.topic == "obs.node.here.service.site"]
    stuck = [m.payload for m in seen if m.topic == "obs.node.here.service.stuck"]
    assert len(site) >= 6, output  # every 0.5 s although the other probe hangs for 1 s each time
    assert site[0]["outcome"] == "ok" and site[0]["facts"]["status"] == 200
    assert stuck[0]["outcome"] == "timeout" and stuck[0]["check"] == "command"
    assert any(m.topic == "obs.node.here.agent" for m in seen)
    assert agent.returncode == 0 and "Traceback" not in output


def test_an_agent_for_a_node_not_in_the_inventory_says_so(broker, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inventory.yml").write_text("nodes:\n  other: {address: 127.0.0.1}\n")
    agent = start_agent(repo, broker.root, broker.endpoint)
    output, _ = agent.communicate(timeout=30)
    assert agent.returncode == 1
    assert "node 'here' is not in the inventory (known: other)" in output
    assert "Traceback" not in output


def test_a_quiet_check_is_sent_once_then_named_by_heartbeats_and_refreshed_in_full(
    broker, tmp_path, web
):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "inventory.yml").write_text(
        textwrap.dedent(f"""\
        nodes:
          here:
            address: 127.0.0.1
            interval: 0.4
        services:
          site:
            node: here
            kind: http
            checks:
              - {{type: http, url: "http://127.0.0.1:{web}/"}}
    """)
    )
    with client.Subscriber(broker.endpoint, "obs.") as subscriber:
        agent = start_agent(repo, broker.root, broker.endpoint, "--refresh", "3")
        try:
            seen = collect(subscriber, lambda seen: False, timeout=7.5)
        finally:
            agent.send_signal(signal.SIGTERM)
            output, _ = agent.communicate(timeout=15)
    full = [m for m in seen if m.topic == "obs.node.here.service.site"]
    beats = [m for m in seen if m.topic == "obs.node.here.agent"]
    naming = [m for m in beats if m.payload.get("unchanged") == {"site": ["http"]}]
    assert 2 <= len(full) <= 4, output  # the first, then every 3 s: not every 0.4 s
    assert len(naming) >= 8, [m.payload for m in beats]
    for beat in naming:
        assert beat.payload["since"] < beat.seq
    world = World()
    for message in seen:
        apply(world, message)
    check = world.services["site"].checks["http"]
    later = [b.payload["since"] for b in naming if b.seq > full[-1].seq]
    assert check.last_seq == max([full[-1].seq, *later])  # never back, moved by heartbeats
    assert check.last_seen == max(full[-1].time, naming[-1].time)
    # seen again, by a heartbeat, after a full result: a run begun after it was stored
    assert any(b.payload["since"] > f.seq for f in full for b in naming if b.seq > f.seq)
    assert agent.returncode == 0 and "Traceback" not in output
