"""compare.side_by_side: the Drift page's desired | actual rows, as tables."""

from __future__ import annotations

from test_drift_and_plan import DESIRED, check

from actors.domain.compare import NOT_SEEN, side_by_side
from actors.domain.inventory import check_id
from actors.domain.world import STATE_CHECK, ServiceState


def test_a_container_on_the_wrong_image_with_a_failing_check():
    web = DESIRED.services["web"]
    http = check_id(web.checks[0])
    observed = ServiceState(
        node="vps",
        checks={STATE_CHECK: check("ok", image="nginx:1.25", state="running"), http: check("fail")},
    )
    assert side_by_side(web, observed) == [
        ("state", "running", "running"),
        ("image", "nginx:1.27", "nginx:1.25"),
        (f"check {http}", "ok", "fail: fail detail"),
    ]


def test_a_stopped_unit_says_why_and_an_unseen_one_says_so():
    db = DESIRED.services["db"]
    stopped = ServiceState(node="vps", checks={STATE_CHECK: check("fail", state="inactive")})
    assert side_by_side(db, stopped) == [
        ("state", "running", "not running (inactive): fail detail")
    ]
    assert side_by_side(db, None) == [("state", "running", NOT_SEEN)]


def test_an_endpoint_has_no_state_row_and_a_declared_stop_is_shown():
    router = DESIRED.services["router"]
    assert [row[0] for row in side_by_side(router, None)] == [f"check {check_id(router.checks[0])}"]
    old = DESIRED.services["old"]
    running = ServiceState(node="vps", checks={STATE_CHECK: check("ok", state="active")})
    assert side_by_side(old, running) == [("state", "stopped", "running (active)")]
