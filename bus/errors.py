"""The one base of the errors an operator is shown: a message worded for people, one line
(``homelab`` prints ``homelab: error: <message>``), and the exit status that goes with it.

It lives at the bottom layer so that every package may derive from it (bus, actors, gui,
homelab); it imports nothing.
"""

from __future__ import annotations

FAILED = 1  # the command could not do its job: the bus is away, a file is damaged...
BAD_INPUT = 2  # the command line, a file named on it or the data root given is not usable


class HomelabError(Exception):
    """What went wrong, for the operator; ``exit_code`` is the status ``homelab`` exits with."""

    exit_code: int = FAILED
