"""Who may publish what, by the role of the key the broker authenticated: a table test."""

from __future__ import annotations

import pytest

from actors.domain import identities

ALLOWED = [
    ("agent:web1", "agent:web1", "obs.node.web1.check"),
    ("agent:web1", "agent:web1", "obs.node.web1.agent"),
    ("agent:web1", "agent:web1", "obs.node.web1.service.nginx"),
    ("service:observer", "observer", "world.node.web1"),
    ("service:supervisor", "supervisor", "action.approved"),
    ("service:supervisor", "supervisor", "desired.node.web1"),
    ("service:supervisor", "supervisor", "drift.report"),
    ("service:executor", "executor", "action.running"),
    ("service:executor", "executor", "action.output"),
    ("service:ui", "ui", "note.x"),
    ("operator:oskar", "ui:oskar", "action.request.approve"),
    ("operator:oskar", "cli:oskar", "action.request.reject"),
    ("tool:cli", "emit", "backup.done"),
    ("tool:inbox", "inbox", "note.x"),
]
REFUSED = [
    ("agent:web1", "agent:web2", "obs.node.web2.check", "may not publish as 'agent:web2'"),
    ("agent:web1", "agent:web1", "obs.node.web2.check", "publishes only obs.node.web1.*"),
    ("agent:web1", "agent:web1", "backup.done", "publishes only obs.node.web1.*"),
    ("tool:cli", "emit", "action.approved", "action.approved is not tool:cli's"),
    ("tool:cli", "supervisor", "drift.report", "may not publish as 'supervisor'"),
    ("tool:cli", "cli:oskar", "action.request.approve", "may not publish as 'cli:oskar'"),
    ("tool:inbox", "inbox", "world.node.x", "world.node.x is not tool:inbox's"),
    ("service:observer", "observer", "action.approved", "is not service:observer's"),
    ("service:executor", "executor", "action.approved", "is not service:executor's"),
    ("service:supervisor", "supervisor", "action.running", "is not service:supervisor's"),
    ("service:ui", "ui:oskar", "action.request.approve", "may not publish as 'ui:oskar'"),
    ("service:ui", "ui", "action.request.approve", "is not service:ui's"),
    ("service:ui", "ui", "action.approved", "is not service:ui's"),
    ("operator:oskar", "ui:mallory", "action.request.approve", "may not publish as"),
    ("service:ui", "supervisor", "action.approved", "may not publish as 'supervisor'"),
    ("operator:oskar", "cli:mallory", "action.request.approve", "may not publish as"),
    ("operator:oskar", "cli:oskar", "world.node.x", "is not operator:oskar's"),
]


@pytest.mark.parametrize(("role", "source", "topic"), ALLOWED)
def test_a_role_publishes_its_own_topics(role, source, topic):
    assert identities.refusal(role, source, topic) is None


@pytest.mark.parametrize(("role", "source", "topic", "why"), REFUSED)
def test_anything_else_is_refused_with_a_reason(role, source, topic, why):
    assert why in (identities.refusal(role, source, topic) or "")
