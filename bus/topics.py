"""The broker's own topics: ``bus.*`` is reserved for the broker (a client that publishes
one is refused), and these are the ones it publishes.

The control plane's vocabulary (``actors.domain.topics``) takes them from here, so the bus
names its topics once and knows nothing of the actors'.
"""

from __future__ import annotations

PREFIX = "bus."
STATS = "bus.stats"  # the broker's status, every few seconds
ALARM = "bus.alarm"  # an alarm raised or cleared (the disk, a publisher held to its limit)
CLOCK = "bus.clock"  # the wall clock's ticks and steps (``bus.wallclock``)
RETENTION = "bus.log.retention"  # what retention deleted (``bus.housekeeping``)
RECOVERED = "bus.log.recovered"  # the log was repaired at start (``homelab broker``)
