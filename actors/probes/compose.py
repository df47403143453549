"""A compose project's state, from ``docker compose ps``: all running and none unhealthy is ok."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.domain.inventory import ComposeService
from actors.probes import manager
from actors.probes.manager import as_text
from actors.probes.result import Facts, Result

LABEL = "docker compose ps"
_HEALTH_RANK = {"healthy": 1, "starting": 2, "unhealthy": 3}


async def probe(service: ComposeService, timeout: float) -> Result:
    argv = ["docker", "compose", "--project-name", manager.safe_arg(service.project)]
    if service.directory:
        argv += ["--project-directory", manager.safe_arg(service.directory)]
    argv += ["ps", "--all", "--format", "json"]

    def parse(text: str) -> Facts:
        return parse_compose_ps(text, main_service=service.project, expected_image=service.image)

    facts = await manager.ask(argv, LABEL, timeout, parse)
    if isinstance(facts, Result):
        return facts
    if facts["state"] == "missing":
        return Result("fail", f"no containers in project {service.project}", facts)
    ok = facts["running"] == facts["total"] and facts["health"] != "unhealthy"
    return Result("ok" if ok else "fail", describe_compose(facts), facts)


# -- parsing (pure) ------------------------------------------------------------------------------


def compose_entries(text: str) -> list[dict[str, Any]]:
    """The containers of ``docker compose ps --format json``: JSON lines (Compose 2.21 and
    later) or one JSON array (before); nothing at all, ``[]`` or ``null`` for none."""
    stripped = text.strip()
    if not stripped or stripped == "null":
        return []
    if stripped.startswith("["):
        entries = manager.load_json(stripped)
        if not isinstance(entries, list):
            raise ValueError("expected a JSON array")
    else:
        entries = [manager.load_json(line) for line in stripped.splitlines() if line.strip()]
    if not all(isinstance(entry, dict) for entry in entries):
        raise ValueError("expected one JSON object per container")
    return entries


def parse_compose_ps(
    text: str, *, main_service: str | None = None, expected_image: str | None = None
) -> Facts:
    """Facts for a compose project: state (running, partial, stopped or missing), running,
    total, states (the distinct states, sorted), health (the worst reported, or None),
    image, and down (``service=state`` of those not running).

    ``image`` is that of the project's main container: the one whose service is
    ``main_service``, else one running ``expected_image`` (exactly, then the same repository
    with another tag), else the first listed."""
    entries = compose_entries(text)
    states = [(as_text(e.get("State")) or "unknown").lower() for e in entries]
    running = states.count("running")
    healths = [(as_text(e.get("Health")) or "").lower() for e in entries]
    ranked = [h for h in healths if h]
    worst = max(ranked, key=lambda h: _HEALTH_RANK.get(h, 4)) if ranked else None
    down = [
        f"{as_text(e.get('Service')) or as_text(e.get('Name')) or '?'}={s}"
        for e, s in zip(entries, states, strict=True)
        if s != "running"
    ]
    total = len(entries)
    if total == 0:
        state = "missing"
    elif running == total:
        state = "running"
    else:
        state = "stopped" if running == 0 else "partial"
    main = _main_container(entries, main_service, expected_image)
    return {
        "state": state,
        "running": running,
        "total": total,
        "states": ",".join(sorted(set(states))),
        "health": worst,
        "image": as_text(main.get("Image")) if main else None,
        "down": ",".join(down),
    }


def describe_compose(facts: Facts) -> str:
    """One line: '1/2 running; not running: db=exited; health: unhealthy'."""
    text = f"{facts['running']}/{facts['total']} running"
    if facts.get("down"):
        text += f"; not running: {facts['down']}"
    if facts.get("health"):
        text += f"; health: {facts['health']}"
    return text


def _main_container(
    entries: list[dict[str, Any]], service: str | None, image: str | None
) -> dict[str, Any] | None:
    if not entries:
        return None
    tests: list[Callable[[dict[str, Any]], bool]] = []
    if service:
        tests.append(lambda e: e.get("Service") == service)
    if image:
        tests.append(lambda e: e.get("Image") == image)
        tests.append(lambda e: _repository(as_text(e.get("Image")) or "") == _repository(image))
    for test in tests:
        for entry in entries:
            if test(entry):
                return entry
    return entries[0]


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name
