"""Commands the inventory names: a command check, and a command service's ``status``.

The exit status says it all (0 is ok); the last line the command printed is the detail.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors import process_group
from actors.domain.inventory import CommandCheck
from actors.probes.child_process import CliResult, run_cli
from actors.probes.result import Facts, Result, reason


async def check(check: CommandCheck) -> Result:
    result = await _run(check.argv, check.timeout)
    if isinstance(result, Result):
        return result
    code = result.returncode
    assert code is not None
    facts: Facts = {"exit_code": code}
    if code == 0:
        return Result(
            "ok", process_group.last_line(result.out) or process_group.last_line(result.err), facts
        )
    line = process_group.last_line(result.err) or process_group.last_line(result.out)
    if code < 0:
        return Result(
            "fail",
            f"killed by {process_group.signal_name(-code)}" + (f": {line}" * bool(line)),
            facts,
        )
    return Result("fail", line or f"exited {code}", facts)


async def state(status: Sequence[str], timeout: float) -> Result:
    result = await _run(status, timeout)
    if isinstance(result, Result):
        return result
    code = result.returncode
    line = process_group.last_line(result.err) or process_group.last_line(result.out)
    if code == 0:
        return Result("ok", line or "running", {"state": "running", "exit_code": 0})
    return Result("fail", line or f"status exited {code}", {"state": "stopped", "exit_code": code})


async def _run(argv: Sequence[str], timeout: float) -> CliResult | Result:
    """The finished command (its last output kept), or a Result when it did not finish."""
    try:
        result = await run_cli(argv, timeout=timeout, keep="tail")
    except OSError as exc:
        return Result("error", f"{argv[0]}: {reason(exc)}")
    if result.timed_out:
        return Result("timeout", f"{argv[0]}: killed after {timeout:g} s")
    return result
