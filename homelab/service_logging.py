"""Diagnostics: every service logs to stderr and to ``logs/<service>.log`` under the root."""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bus.dataroot import DataRoot

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LogFile(logging.handlers.RotatingFileHandler):
    """The service's log file; when it cannot be written (a full disk), says so once on
    stderr instead of a traceback per line, and tries again with every line."""

    failing = False  # the last line could not be written
    _failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)
        if not self._failed and self.failing:
            self.failing = False
            sys.stderr.write(f"homelab: writing {self.baseFilename} again\n")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed = True
        if not self.failing:
            self.failing = True
            error = sys.exc_info()[1]
            sys.stderr.write(
                f"homelab: cannot write {self.baseFilename} ({error}); on stderr only\n"
            )


def setup(root: Path, service: str, verbose: bool = False) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    handlers.append(
        _LogFile(DataRoot(root).service_log(service), maxBytes=10 * 1024 * 1024, backupCount=3)
    )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=FORMAT,
        handlers=handlers,
        force=True,
    )


def stop_flag() -> Callable[[], bool]:
    """A ``should_stop`` callable that turns true on SIGTERM or SIGINT (Ctrl-C)."""
    state = {"stop": False}

    def handle(signum: int, frame: object) -> None:
        state["stop"] = True

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return lambda: state["stop"]
