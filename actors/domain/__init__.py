"""The control plane's domain, pure: its vocabulary (``topics``, ``states``: every topic,
action state and health named once), the inventory and its files, observations, the world
fold, drift, plans, drivers' argv, the action lifecycle and the queue fold.

No sockets, no subprocesses, no clock: everything comes in as arguments, so all of it is
tested with tables. Must not import the actor processes (``actors.agent``, ``observer``,
``supervisor``, ``executor``), ``zmq`` or ``subprocess`` (checked by import-linter).
"""
