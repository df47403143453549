"""What a reader shows of the drivers: how an action's commands read (``command_text``).
The drivers that build commands (``actors.domain.drivers``) stay out of the UI's reach."""

from __future__ import annotations

from actors.domain.drivers import command_text

__all__ = ["command_text"]
