"""A container's state, from ``docker inspect``: running and healthy is ok, anything else fails."""

from __future__ import annotations

import re

from actors.domain.observations import cut
from actors.probes import manager
from actors.probes.manager import as_text
from actors.probes.result import Facts, Result

LABEL = "docker inspect"
_NO_SUCH = re.compile(r"No such (container|object)", re.IGNORECASE)


async def probe(container: str, timeout: float) -> Result:
    argv = ["docker", "inspect", "--type", "container", "--", manager.safe_arg(container)]
    facts = await manager.ask(argv, LABEL, timeout, parse_docker_inspect, missing=_NO_SUCH)
    if isinstance(facts, Result):
        return facts
    if facts["state"] == "missing":
        return Result("fail", f"no container named {container}", facts)
    ok = facts["state"] == "running" and facts["health"] in (None, "healthy")
    return Result("ok" if ok else "fail", describe_container(facts), facts)


# -- parsing (pure) ------------------------------------------------------------------------------


def parse_docker_inspect(text: str) -> Facts:
    """Facts from ``docker inspect --type container`` output (a JSON array of one object):
    state, health, image, image_id, started_at, exit_code, restart_count, and error and
    health_output when there is something to say. An empty array is state 'missing'."""
    data = manager.load_json(text)
    if not isinstance(data, list):
        raise ValueError("expected a JSON array")
    if not data:
        return {"state": "missing"}
    container = data[0]
    if not isinstance(container, dict) or not isinstance(container.get("State"), dict):
        raise ValueError("expected a container with a State")
    state = container["State"]
    health = state.get("Health") if isinstance(state.get("Health"), dict) else None
    config = container.get("Config")
    config = config if isinstance(config, dict) else {}
    facts: Facts = {
        "state": as_text(state.get("Status")) or "unknown",
        "health": as_text(health.get("Status")) if health else None,
        "image": as_text(config.get("Image")),
        "image_id": as_text(container.get("Image")),
        "started_at": as_text(state.get("StartedAt")),
        "exit_code": state.get("ExitCode") if isinstance(state.get("ExitCode"), int) else None,
        "restart_count": (
            container.get("RestartCount") if isinstance(container.get("RestartCount"), int) else 0
        ),
    }
    if as_text(state.get("Error")):
        facts["error"] = cut(as_text(state.get("Error")) or "", 200)
    log = health.get("Log") if health else None
    if facts["health"] not in (None, "healthy") and isinstance(log, list) and log:
        last = log[-1] if isinstance(log[-1], dict) else {}
        output = " ".join(str(last.get("Output") or "").split())
        if output:
            facts["health_output"] = cut(output, 200)
    return facts


def describe_container(facts: Facts) -> str:
    """One line: 'running (healthy), nginx:1.27', 'exited (code 1), ...: what went wrong'."""
    state, health = facts.get("state"), facts.get("health")
    text = f"{state}" + (f" ({health})" if health else "")
    if state in ("exited", "dead") and facts.get("exit_code") is not None:
        text = f"{state} (code {facts['exit_code']})"
    if facts.get("image"):
        text += f", {facts['image']}"
    for extra in ("error", "health_output"):
        if facts.get(extra):
            text += f": {facts[extra]}"
    return text
