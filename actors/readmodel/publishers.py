"""Who may say what on the bus, as a reader applies it to what it shows: the domain's one
table (``actors.domain.publishers``), offered here so that the UI reads it from the read
model and imports nothing else of ``actors`` but the decision path."""

from __future__ import annotations

from actors.domain.publishers import ACTION_PUBLISHERS, may_publish, owned

__all__ = ["ACTION_PUBLISHERS", "may_publish", "owned"]
