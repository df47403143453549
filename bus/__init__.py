"""The durable message bus: the envelope, the event log on disk (segments, retention), the
broker that stamps, stores and then publishes every message, and the clients.

Knows nothing of ``actors``, ``gui`` or ``homelab`` (import-linter checks it). Only this
package imports ``zmq``; the others publish and subscribe through its clients: ``client``
(blocking), ``aio`` (asyncio: the UI), ``outbox`` and ``ports`` (what an actor is given),
``stub`` (the same in memory, for tests); they read the log on disk with ``filelog``. It
also holds what every layer shares: ``dataroot`` (the paths under the data root) and
``errors`` (the base of the errors an operator is shown).
"""
