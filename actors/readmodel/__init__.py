"""The read model: what the CLI and the UI show, as typed results read from the data root
(filesystem first) plus the broker's status. One place, so `homelab status --json` and
`GET /summary`, `homelab actions list` and the Action Queue page can never drift apart.

``summary``, ``world``, ``drift`` and ``queue`` read; ``actors.decisions`` decides (approve,
reject). May import ``actors.domain``, ``actors.world_checkpoint`` and ``bus``; never an actor
process, ``gui`` or ``homelab``.
"""
