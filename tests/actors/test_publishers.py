"""The table of who may publish what: every reader applies it to what it receives."""

import pytest

from actors.domain.publishers import may_publish, owned


@pytest.mark.parametrize(
    "source, topic",
    [
        ("agent:web1", "obs.node.web1.service.nginx"),
        ("agent:web1", "obs.node.web1.agent"),
        ("observer", "world.service.nginx"),
        ("supervisor", "desired.revision"),
        ("supervisor", "drift.report"),
        ("supervisor", "action.approved"),
        ("executor", "action.output"),
        ("executor", "action.refused"),
        ("supervisor", "action.interrupted"),  # a run the queue heard no end of
        ("supervisor", "drift.gave_up"),
        ("cli:oskar", "action.request.approve"),
        ("ui:oskar", "action.request.reject"),
        ("broker", "bus.stats"),
        ("emit", "obs.backup.nas"),
        ("inbox", "backup.done"),
    ],
)
def test_the_owner_of_a_topic_may_publish_it(source, topic):
    assert may_publish(source, topic)


@pytest.mark.parametrize(
    "source, topic",
    [
        ("agent:web2", "obs.node.web1.service.nginx"),  # another node's agent
        ("emit", "obs.node.web1.service.nginx"),
        ("emit", "world.service.nginx"),
        ("emit", "desired.revision"),
        ("executor", "desired.revision"),
        ("emit", "action.output"),
        ("supervisor", "action.output"),
        ("executor", "action.approved"),
        ("emit", "drift.gave_up"),
        ("emit", "action.request.approve"),
        ("cli:", "action.request.approve"),  # a channel with no name
        ("emit", "bus.stats"),
        ("emit", "action.unheard_of"),
        ("agent:", "obs.node..agent"),
    ],
)
def test_nobody_else_may(source, topic):
    assert not may_publish(source, topic)


def test_only_the_control_planes_topics_are_owned():
    assert owned("action.output") and owned("obs.node.a.agent")
    assert not owned("obs.backup.nas") and not owned("actions.x")
