"""The ``homelab`` command and the processes it runs."""
