"""diff + plan for 5,000 services, 10 % drifted: the supervisor's work per evaluation.

    python bench/drift_bench.py [--services 5000] [--runs 7]

Baseline from the same run: building the inputs' plain dict view (one pass over the same
world), to show what a single walk over 5,000 services costs here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.domain import (
    drift,
    plan,  # noqa: E402
)
from actors.domain.inventory import Inventory  # noqa: E402
from actors.domain.world import CheckState, NodeState, ServiceState, World  # noqa: E402

KINDS = ("container", "systemd", "compose", "command")


def inputs(count: int, drifted_share: float = 0.1) -> tuple[Inventory, World]:
    nodes = {f"node{n}": {"address": f"10.0.{n}.1", "ssh": {"user": "homelab"}} for n in range(50)}
    services, state = {}, World(seq=10**6, time=2_000_000_000.0)
    for name in nodes:
        state.nodes[name] = NodeState(health="healthy", reason="", since=1.0)
    every = round(1 / drifted_share)
    for i in range(count):
        name, node, kind = f"svc{i}", f"node{i % 50}", KINDS[i % 4]
        spec = {
            "node": node,
            "kind": kind,
            "checks": [{"type": "http", "url": f"http://10.0.{i % 50}.1:{8000 + i % 1000}/"}],
        }
        if kind == "container":
            spec["image"] = "nginx:1.27"
        elif kind == "systemd":
            spec["unit"] = f"svc{i}.service"
        elif kind == "compose":
            spec["project"] = f"svc{i}"
        else:
            spec |= {
                "start": ["/usr/local/bin/svc", "start"],
                "stop": ["/usr/local/bin/svc", "stop"],
            }
        services[name] = spec
        broken = i % every == 0
        checks = {
            "state": _check(
                "fail" if broken else "ok",
                state="exited" if broken else "running",
                image="nginx:1.27",
            ),
            "http": _check("ok"),
        }
        state.services[name] = ServiceState(
            node=node, health="down" if broken else "healthy", checks=checks
        )
    return Inventory.model_validate({"nodes": nodes, "services": services}), state


def _check(outcome: str, **facts) -> CheckState:
    return CheckState(
        outcome=outcome,
        detail=outcome,
        facts=facts,
        latency_ms=1.0,
        observed_at=1.0,
        since=1.0,
        since_seq=1,
        last_seen=2.0,
        last_seq=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    desired, state = inputs(args.services)
    timings, baseline = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        {name: (s.health, dict(s.checks)) for name, s in state.services.items()}
        baseline.append(time.perf_counter() - start)
        start = time.perf_counter()
        drifts = drift.diff(desired, state)
        recommended, held = plan.plan(drifts, desired, "abc123", {}, now=state.time)
        timings.append(time.perf_counter() - start)
    ms, base = statistics.median(timings) * 1000, statistics.median(baseline) * 1000
    print(
        f"diff + plan, {args.services} services, {len(drifts)} drifted -> "
        f"{len(recommended)} recommendations, {len(held)} held: median {ms:.1f} ms "
        f"(runs {[round(t * 1000, 1) for t in timings]}); target <= 100 ms"
    )
    print(
        f"baseline, one plain walk over the same world: median {base:.1f} ms "
        f"= diff+plan is {ms / base:.1f}x that"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
