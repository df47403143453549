"""A service's log file that cannot be written is said once on stderr, not a traceback a line."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

from homelab import service_logging


def test_a_log_file_on_a_full_disk_is_said_once_and_again_when_it_works(
    tmp_path: Path, monkeypatch, capsys
):
    handler = service_logging._LogFile(tmp_path / "observer.log")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "line", None, None)
    full = True
    write = handler.stream.write

    def disk(text: str) -> int:
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(text)

    monkeypatch.setattr(handler.stream, "write", disk)
    for _ in range(3):
        handler.emit(record)
    full = False
    handler.emit(record)
    handler.close()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"homelab: cannot write {tmp_path / 'observer.log'} ([Errno 28] No space left on device); "
        "on stderr only",
        f"homelab: writing {tmp_path / 'observer.log'} again",
    ]
    assert (tmp_path / "observer.log").read_text() == "line\n"
