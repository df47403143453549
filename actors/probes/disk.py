"""The disk check: how full a filesystem is, without letting a dead mount pile up threads.

``statvfs`` on a dead NFS mount blocks for ever, and each check starting a new thread would
pile them up: one thread per path at a time. Later checks of a blocked path wait for the same
call, and report a timeout at once once it has been blocked for longer than DISK_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import threading
import time

from actors.domain.inventory import DiskCheck
from actors.probes.result import Facts, Result, reason

DISK_TIMEOUT = 10.0  # seconds, for disk checks (DiskCheck has no timeout)
GIB = 1024**3

_calls: dict[str, tuple[concurrent.futures.Future, float]] = {}
_lock = threading.Lock()


async def probe(check: DiskCheck) -> Result:
    future, since = _usage_call(check.path)
    remaining = since + DISK_TIMEOUT - time.monotonic()
    try:
        if remaining <= 0:
            raise TimeoutError
        usage = await asyncio.wait_for(asyncio.wrap_future(future), remaining)
    except TimeoutError:
        return Result(
            "timeout", f"{check.path}: no answer within {DISK_TIMEOUT:g} s (a dead mount?)"
        )
    except OSError as exc:
        return Result("error", f"{check.path}: {reason(exc)}")
    available = usage.used + usage.free  # what df counts: root's reserve is neither
    used_percent = round(usage.used * 100 / available, 1) if available else 0.0
    facts: Facts = {
        "used_percent": used_percent,
        "free_gb": round(usage.free / GIB, 2),
        "total_gb": round(usage.total / GIB, 2),
    }
    detail = f"{check.path}: {used_percent:g}% used, {usage.free / GIB:.1f} GiB free"
    if used_percent > check.max_used_percent:
        return Result("fail", f"{detail} (limit {check.max_used_percent:g}%)", facts)
    return Result("ok", detail, facts)


def _usage_call(path: str) -> tuple[concurrent.futures.Future, float]:
    """The running ``disk_usage(path)`` call and when it started; a new one if none runs."""
    with _lock:
        current = _calls.get(path)
        if current is not None and not current[0].done():
            return current
        future: concurrent.futures.Future = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(shutil.disk_usage(path))
            except BaseException as exc:
                future.set_exception(exc)

        _calls[path] = (future, time.monotonic())
        threading.Thread(target=work, name=f"disk-usage {path}", daemon=True).start()
        return _calls[path]
