"""The broker's memory with subscribers that do not read (issue 8, item 13).

Two idle SUB sockets and N messages of 200 KB through a real broker process; prints its RSS
at start, at the peak and after the subscribers left, for the default byte budget and, as the
baseline in the same run, the old frame-counted queue (``--subscriber-queue 2000``).

    python bench/broker_memory_bench.py [N]     # N defaults to 2000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import psutil
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bus import client  # noqa: E402
from plant import BrokerProcess, free_port_pair  # noqa: E402


def measure(count: int, *flags: str) -> tuple[float, float, float]:
    root = Path(tempfile.mkdtemp())
    broker = BrokerProcess(
        root,
        free_port_pair(),
        "--stats-interval",
        "0",
        *flags,
        env={"HOMELAB_CLIENT_RATE": "0", "HOMELAB_CLIENT_BANDWIDTH": "0"},  # memory, not limits
    ).start()
    rss = psutil.Process(broker.proc.pid).memory_info
    try:
        base, peak = rss().rss, 0
        subs = []
        for _ in range(2):
            sock = zmq.Context.instance().socket(zmq.SUB)
            sock.setsockopt(zmq.RCVHWM, 1)
            sock.setsockopt(zmq.RCVBUF, 4096)
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(client.publish_endpoint(broker.endpoint))
            subs.append(sock)
        time.sleep(0.5)
        with client.Publisher(broker.endpoint, "bench") as publisher:
            for i in range(count):
                publisher.publish("obs.big", {"i": i, "pad": "x" * 200_000})
                if i % 20 == 0:
                    peak = max(peak, rss().rss)
        peak = max(peak, rss().rss)
        for sock in subs:
            sock.close(0)
        time.sleep(12)  # past one trim
        return base / 1e6, peak / 1e6, rss().rss / 1e6
    finally:
        broker.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for label, flags in (
        ("byte budget (16 MiB)", ()),
        ("baseline: 2000 frames", ("--subscriber-queue", "2000")),
    ):
        base, peak, after = measure(count, *flags)
        print(
            f"{label:24} {count} x 200 KB, 2 idle subscribers: RSS {base:.0f} MB at start, "
            f"{peak:.0f} MB peak, {after:.0f} MB after they left"
        )


if __name__ == "__main__":
    main()
