"""The World page's fold: the observer's changes of health over what ``world/`` held."""

from __future__ import annotations

from actors.readmodel.live.world import WorldFold
from actors.readmodel.models import ServiceView, WorldView
from bus.envelope import Message

NOW = 1_790_000_000.0


def change(seq: int, kind: str, name: str, health: str, cause: int, **extra) -> Message:
    payload = {"name": name, "health": health, "previous": "x", "reason": f"{health} now"}
    payload |= {"since": NOW + seq, "cause_seq": cause, **extra}
    return Message(seq, NOW + seq, f"world.{kind}.{name}", f"m{seq}", "observer", payload)


def world(seq: int = 10) -> WorldView:
    db = ServiceView(
        name="db", node="n1", health="healthy", reason="ok", since=NOW, since_seq=5,
        last_seen=NOW, checks={},
    )  # fmt: skip
    return WorldView(seq=seq, time=NOW, nodes=[], services=[db])


def test_a_change_of_health_shows_at_once_with_its_reason_and_since():
    fold = WorldFold(world())
    assert fold.apply(change(12, "service", "db", "down", cause=11))
    [db] = fold.view().services
    assert (db.health, db.reason, db.since, db.since_seq, db.node) == (
        "down", "down now", NOW + 12, 11, "n1"
    )  # fmt: skip


def test_a_new_node_and_service_get_rows_with_the_services_node():
    fold = WorldFold(world())
    assert fold.apply(change(12, "node", "n2", "healthy", cause=11))
    assert fold.apply(change(13, "service", "web", "degraded", cause=11, node="n2"))
    view = fold.view()
    assert [(n.name, n.health) for n in view.nodes] == [("n2", "healthy")]
    assert [(s.name, s.node, s.health) for s in view.services] == [
        ("db", "n1", "healthy"),
        ("web", "n2", "degraded"),
    ]


def test_what_the_files_held_already_and_other_topics_change_nothing():
    fold = WorldFold(world(seq=10))
    assert not fold.apply(change(9, "service", "db", "down", cause=8))  # before the files
    assert not fold.apply(change(11, "service", "db", "down", cause=10))  # in them
    assert not fold.apply(change(12, "test", "db", "down", cause=11))
    assert not fold.apply(Message(13, NOW, "world.service.db", "m", "observer", {}))
    assert fold.view() == world(seq=10)
