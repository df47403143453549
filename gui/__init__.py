"""The NiceGUI operator interface: the pages (``pages/``), the login and its sessions, one
feed from the bus (``feed``), and the endpoints that need no session (``endpoints``:
``/healthz``, and ``/summary``, whose details need a session or the summary token).

What it shows comes from the read model (``actors.readmodel``), what it decides goes through
``actors.decisions``, as for the CLI; nothing else of ``actors`` but ``actors.atomic`` (its
own files). It reaches the bus through ``bus.aio`` only (only ``bus`` imports ``zmq``) and
never imports ``homelab``. import-linter checks all three.
"""
