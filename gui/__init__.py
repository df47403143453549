"""The NiceGUI operator interface. May import ``actors`` and ``bus.client``; not ``homelab``."""
