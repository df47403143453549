"""A systemd unit's state, from ``systemctl list-units``: active is ok, anything else fails."""

from __future__ import annotations

from actors.probes import manager
from actors.probes.manager import as_text
from actors.probes.result import Facts, Result

LABEL = "systemctl list-units"


async def probe(unit: str, timeout: float) -> Result:
    argv = ["systemctl", "list-units", "--all", "--output=json", "--no-pager", "--"]
    argv.append(manager.safe_arg(unit))
    facts = await manager.ask(argv, LABEL, timeout, lambda text: parse_systemctl_units(text, unit))
    if isinstance(facts, Result):
        return facts
    if facts["state"] == "not-found":
        return Result("fail", f"{unit}: no such unit", facts)
    text = f"{unit}: {facts['state']} ({facts['sub']})"
    if facts["load"] != "loaded":
        text += f", {facts['load']}"
    return Result("ok" if facts["state"] == "active" else "fail", text, facts)


# -- parsing (pure) ------------------------------------------------------------------------------


def parse_systemctl_units(text: str, unit: str) -> Facts:
    """Facts for ``unit`` from ``systemctl list-units --output=json``: state (the ACTIVE
    column, or 'not-found' when the unit is not listed or not loadable), sub, load."""
    units = manager.load_json(text) if text.strip() else []
    if not isinstance(units, list):
        raise ValueError("expected a JSON array")
    for entry in units:
        if not isinstance(entry, dict):
            raise ValueError("expected one JSON object per unit")
        if (as_text(entry.get("unit")) or "").lstrip("●* ") == unit:
            load = as_text(entry.get("load"))
            active = as_text(entry.get("active")) or "unknown"
            return {
                "state": "not-found" if load == "not-found" else active,
                "sub": as_text(entry.get("sub")),
                "load": load,
            }
    return {"state": "not-found", "sub": None, "load": None}
