"""Diagnostics: every service logs to stderr and to ``logs/<service>.log`` under the root."""

from __future__ import annotations

import logging
import logging.handlers
import signal
from collections.abc import Callable
from pathlib import Path

from bus.dataroot import DataRoot

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(root: Path, service: str, verbose: bool = False) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    handlers.append(
        logging.handlers.RotatingFileHandler(
            DataRoot(root).service_log(service), maxBytes=10 * 1024 * 1024, backupCount=3
        )
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
