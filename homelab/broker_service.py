"""``homelab broker``: open the log (cutting a torn tail), then run the broker until stopped."""

from __future__ import annotations

import functools
import logging
import os

from actors.domain import identities
from bus import broker, filelog, housekeeping, keys, limits, retention, space, topics, wallclock
from bus.dataroot import DataRoot
from homelab import bus_keys, layout, service_logging
from homelab.settings import Settings

# Pure, and asked once per message published: a client sends the same few (role, source,
# topic) again and again, so the answers are kept (a micro-second each, a tenth of that kept).
AUTHORIZE = functools.lru_cache(maxsize=8192)(identities.refusal)

log = logging.getLogger("homelab.broker")
MIB = 1024 * 1024


def serve(settings: Settings) -> int:
    root = layout.ensure(settings.root)
    service_logging.setup(root, "broker")
    data = DataRoot(root)
    try:
        curve = bus_keys.server(settings)
    except keys.KeyProblem as err:
        raise broker.BrokerError(str(err)) from None
    lock = broker.lock_log(data.events)
    event_log, report = filelog.FileLog.open_for_append(data.events)
    for line in report:
        log.warning("recovered: %s", line)
    server = broker.Broker(
        event_log,
        settings.listen_endpoint,
        fsync=settings.fsync,
        max_message_bytes=settings.max_message_bytes,
        stats_interval=settings.stats_interval,
        inbox_dir=data.inbox,
        subscriber_queue=settings.subscriber_queue,
        subscriber_bytes=settings.subscriber_buffer * 1024 * 1024,
        serves={"root": str(root.resolve()), "root_id": layout.root_id(root)},
        client_limits=limits.Limits(
            messages=settings.client_rate,
            bytes=settings.client_bandwidth * MIB,
            burst=settings.client_burst,
        ),
        disk=space.Guard(data.events, int(settings.disk_reserve * MIB)),
        clock=wallclock.from_env(),
        curve=curve,
        authorize=AUTHORIZE,
    )
    for line in report:
        server.publish_own(topics.RECOVERED, {"report": line})
    policy = retention.Policy(days=settings.retention_days, bytes=settings.retention_bytes)
    keeper = housekeeping.Housekeeper(
        event_log, policy, data.holds, data.history, server.publish_own
    )
    server.housekeeping = keeper
    log.info("history: sealed segments compressed, kept %s", policy.describe())
    log.info(
        "broker listening on %s (subscribers: port + 1), log at seq %d, fsync=%s, "
        "per client %s, disk reserve %g MiB, %s",
        settings.listen_endpoint,
        event_log.last_seq,
        settings.fsync,
        server.limiter.describe() if limits.enabled(server.limiter.limits) else "no limit",
        settings.disk_reserve,
        f"CURVE on, {len(curve.allowlist)} keys allowed ({bus_keys.folder(settings)})"
        if curve is not None
        else "CURVE OFF",
    )
    should_stop = service_logging.stop_flag()
    try:
        server.run(should_stop)
    finally:
        keeper.close()
        server.close()
        event_log.close()
        log.info("broker stopped at seq %d", event_log.last_seq)
        os.close(lock)
    return 0
