"""The actors: agent, observer, supervisor and executor, on top of ``bus``.

May import ``bus``; must not import ``gui`` or ``homelab`` (checked by import-linter).
"""
