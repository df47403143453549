"""compare.side_by_side: the Drift page's desired | actual rows, as tables, each saying
whether its two sides agree."""

from __future__ import annotations

import pytest

from actors.domain.compare import NOT_JUDGED, NOT_SEEN, side_by_side
from actors.domain.inventory import Inventory, check_id
from actors.domain.world import STATE_CHECK, ServiceState
from samples import DESIRED, check


def test_a_container_on_the_wrong_image_with_a_failing_check():
    web = DESIRED.services["web"]
    http = check_id(web.checks[0])
    observed = ServiceState(
        node="vps",
        checks={STATE_CHECK: check("ok", image="nginx:1.25", state="running"), http: check("fail")},
    )
    assert side_by_side(web, observed) == [
        ("state", "running", "running", True),
        ("image", "nginx:1.27", "nginx:1.25", False),
        (f"check {http}", "ok", "fail: fail detail", False),
    ]


def test_a_passing_check_with_a_detail_matches_its_desired_ok():
    web = DESIRED.services["web"]
    http = check_id(web.checks[0])
    passing = check("ok")
    passing.detail = "200 OK"
    observed = ServiceState(
        node="vps",
        checks={STATE_CHECK: check("ok", image="nginx:1.27", state="running"), http: passing},
    )
    rows = side_by_side(web, observed)
    assert rows[-1] == (f"check {http}", "ok", "ok: 200 OK", True)
    assert all(row.matches for row in rows)


def test_a_stopped_unit_says_why_and_an_unseen_one_says_so():
    db = DESIRED.services["db"]
    stopped = ServiceState(node="vps", checks={STATE_CHECK: check("fail", state="inactive")})
    assert side_by_side(db, stopped) == [
        ("state", "running", "not running (inactive): fail detail", False)
    ]
    assert side_by_side(db, None) == [("state", "running", NOT_SEEN, False)]


def test_an_endpoint_has_no_state_row_and_a_declared_stop_is_shown():
    router = DESIRED.services["router"]
    assert [row.aspect for row in side_by_side(router, None)] == [
        f"check {check_id(router.checks[0])}"
    ]
    old = DESIRED.services["old"]
    running = ServiceState(node="vps", checks={STATE_CHECK: check("ok", state="active")})
    assert side_by_side(old, running) == [("state", "stopped", "running (active)", False)]


STOPPED = Inventory.model_validate(
    {
        "nodes": {"vps": {"address": "127.0.0.1"}},
        "services": {
            "api": {
                "node": "vps",
                "kind": "command",
                "desired": "stopped",
                "start": ["api", "start"],
                "stop": ["api", "stop"],
                "status": ["api", "status"],
                "checks": [{"type": "http", "url": "http://127.0.0.1/health"}],
            }
        },
    }
).services["api"]


@pytest.mark.parametrize(
    ("outcome", "state_matches"),
    [("fail", True), ("ok", False), ("error", False), ("timeout", False)],
)
def test_a_service_declared_stopped_matches_when_its_state_probe_says_it_does_not_run(
    outcome, state_matches
):
    observed = ServiceState(
        node="vps", checks={STATE_CHECK: check(outcome, state="stopped"), "http": check("fail")}
    )
    state, http = side_by_side(STOPPED, observed)
    assert state.desired == "stopped" and state.matches is state_matches
    # its other checks do not count: failing is what a stopped service's checks do
    assert http == ("check http", NOT_JUDGED, "fail: fail detail", True)
