"""The names of states, once: an action's states and their groups, and health.

An action goes ``recommended -> pending -> approved -> running`` and ends in one of
``FINAL`` (``lifecycle.TRANSITIONS`` says which event moves it where; each state is also a
topic, ``action.<state>``, ``topics.action``). Whoever asks "is it over?", "did it fail?",
"is it the executor's now?" asks a group here, so a new state is added in one place, and
``tests/actors/test_states.py`` fails until the lifecycle and every group place it.

A node or a service is ``healthy``, ``degraded``, ``down`` or ``unknown`` (``world``).
Pure: names only.
"""

from __future__ import annotations

# -- an action --------------------------------------------------------------------------------

RECOMMENDED = "recommended"  # the supervisor proposed it; the queue has not taken it yet
PENDING = "pending"  # waits for an operator (or its policy)
APPROVED = "approved"  # waits for the executor
RUNNING = "running"
REJECTED = "rejected"  # an operator said no
EXPIRED = "expired"  # nobody decided, or it did not run, within the approval's time to live
OBSOLETE = "obsolete"  # the drift behind it is gone, or another fix replaced it
REFUSED = "refused"  # the executor would not run what was approved (it says why)
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed_out"
INTERRUPTED = "interrupted"  # its run was cut off (the executor stopped) or never heard of

OPEN = (RECOMMENDED, PENDING, APPROVED, RUNNING)  # something may still happen to it
FINAL = (REJECTED, EXPIRED, OBSOLETE, REFUSED, SUCCEEDED, FAILED, TIMED_OUT, INTERRUPTED)
ALL = (*OPEN, *FINAL)

# The open ones, by whose move it is.
WAITING = (PENDING, APPROVED)  # on an operator or the executor: the time to live ages them
UNDER_WAY = (APPROVED, RUNNING)  # approved and not ended: the executor's to run, or running

# The final ones, by what became of the fix: SUCCEEDED, FAILURES, NOT_RUN, or REJECTED.
FAILURES = (FAILED, TIMED_OUT, INTERRUPTED, REFUSED)  # it ran without success, or could not
RAN = (SUCCEEDED, *FAILURES)  # an attempt: if the drift stayed, the next fix backs off
NOT_RUN = (EXPIRED, OBSOLETE)  # nothing ran and nobody said no: offered again at once

# -- health of a node or a service ------------------------------------------------------------

HEALTHY = "healthy"
DEGRADED = "degraded"
DOWN = "down"
UNKNOWN = "unknown"  # not observed (yet, or lately): also what an unreadable entry counts as
HEALTHS = (HEALTHY, DEGRADED, DOWN, UNKNOWN)
