"""The read model: what the CLI and the UI show, as typed results read from the data root
(filesystem first) plus the broker's status. One place, so `homelab status --json` and
`GET /summary`, `homelab actions list` and the Action Queue page can never drift apart.

``summary``, ``world``, ``drift``, ``queue``, ``eventlog`` and ``disk`` read;
``actors.decisions`` decides (approve, reject). ``publishers`` and ``drivers`` hand on the
domain's table of who may say what and how an action's commands read, so the UI imports
nothing of ``actors`` but this package, ``actors.decisions`` and ``actors.atomic``.

May import ``actors.domain``, ``actors.atomic``, ``actors.desired_state``,
``actors.world_checkpoint`` and ``bus``; never an actor process, ``gui`` or ``homelab``
(import-linter checks the first and the layers).
"""
