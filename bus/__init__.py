"""The durable message bus: envelope, event log, broker and client.

Knows nothing of ``actors`` or ``gui`` (checked by import-linter). Only this package imports
``zmq``; everything else publishes and subscribes through ``bus.client``.
"""
