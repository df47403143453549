"""The ``homelab`` command run in-process on what an operator may type: wrong roots, values
out of range, ids that are paths. One line on stderr and a non-zero exit, never a traceback,
and never an empty answer ("no drift", "no actions") from a root that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors import observer, world_checkpoint
from actors.domain import world
from plant import free_port_pair

CLOSED = f"tcp://127.0.0.1:{free_port_pair()}"  # nothing listens: a broker that is down
INVENTORY = (
    "nodes:\n  n: {address: 127.0.0.1}\nservices:\n"
    "  db: {node: n, kind: systemd, unit: postgresql.service}\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "inventory.yml").write_text(INVENTORY)
    return folder


def observed(seq: int, db_state: str | None) -> world.World:
    """A world where node n heartbeats and db's state probe says ``db_state`` (None: db has
    no observation yet)."""
    state = world.World(seq=seq, time=100.0)
    state.nodes["n"] = world.NodeState(
        health="healthy", reason="ok", last_seen=99.0, last_seq=seq, interval=5.0
    )
    if db_state is not None:
        outcome = "ok" if db_state == "active" else "fail"
        check = world.CheckState(
            outcome, db_state, {"state": db_state}, None, 99.0, 99.0, 2, 99.0, 2
        )
        state.services["db"] = world.ServiceState(
            node="n", health="healthy" if outcome == "ok" else "down", checks={"state": check}
        )
    return state


def write_world(root: Path, state: world.World) -> None:
    (root / "world").mkdir(exist_ok=True)
    observer.write_world(root / "world", state, {})


# -- item 8: a missing or wrong root is an error, not an empty answer --------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--timeout", "0.2", "--bus", CLOSED],
        ["drift"],
        ["actions", "list"],
        ["actions", "show", "a-0123456789abcdef"],
        ["replay"],
    ],
)
def test_a_missing_root_is_named_exits_2_and_is_not_created(
    tmp_path, repo, args, homelab, one_line
):
    root = tmp_path / "no-such-root"
    extra = ["--repo", str(repo)] if args[0] == "drift" else []
    code, out, err = homelab(*args, *extra, "--root", str(root))
    assert code == 2 and out == ""
    assert one_line(err) == f"homelab: error: no data root at {root} (set HOMELAB_ROOT or --root)"
    assert not root.exists()


@pytest.mark.parametrize(
    "args", [["status", "--timeout", "0.2", "--bus", CLOSED], ["actions", "list"]]
)
def test_a_folder_without_an_event_log_is_not_a_data_root(tmp_path, args, homelab, one_line):
    code, out, err = homelab(*args, "--root", str(tmp_path))
    assert code == 2 and "no event log at" in one_line(err) and out == ""


def test_status_says_the_world_is_not_built_yet(data_root, homelab):
    """Said, not in the exit status: the broker's health check is `homelab status`, and the
    observer starts only once that check passes."""
    args = ["status", "--root", str(data_root), "--timeout", "0.2", "--bus", CLOSED]
    code, out, _ = homelab(*args)
    assert code == 1 and "world: none yet" in out  # 1: the broker is down
    code, out, _ = homelab(*args, "--json")
    assert code == 1 and json.loads(out)["observed"] is False


def test_status_does_not_say_no_drift_before_services_are_observed(data_root, homelab):
    """Right after a start the supervisor's report is empty because it saw nothing yet."""
    (data_root / "state" / "desired.json").write_text('{"revision": "r1", "problems": []}')
    (data_root / "state" / "drift.json").write_text('{"drifted": 0, "drifts": []}')
    args = ["status", "--root", str(data_root), "--timeout", "0.2", "--bus", CLOSED]
    _, out, _ = homelab(*args)
    assert "drift: none seen yet (no service observed)" in out
    state = observed(5, "active")
    state.services["cache"] = world.ServiceState(node="n")  # health unknown: not observed
    write_world(data_root, state)
    _, out, _ = homelab(*args)
    assert "drift: none seen yet (1 service(s) not observed)" in out
    write_world(data_root, observed(6, "active"))
    _, out, _ = homelab(*args)
    assert "drift: none\n" in out


def test_drift_without_any_world_is_an_error_not_no_drift(data_root, repo, homelab, one_line):
    code, out, err = homelab("drift", "--root", str(data_root), "--repo", str(repo))
    assert code == 2 and "no drift" not in out
    assert "no world yet" in one_line(err)


def test_drift_with_an_invalid_inventory_exits_2_not_1(data_root, tmp_path, homelab):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "inventory.yml").write_text("nodes:\n  n: {address: a, adress: b}\n")
    world_checkpoint.save(data_root / world_checkpoint.PATH, observed(3, "active"))
    code, _, err = homelab("drift", "--root", str(data_root), "--repo", str(bad))
    assert code == 2
    assert "inventory.yml:2" in err and "Traceback" not in err


def test_drift_reads_the_world_files_when_the_checkpoint_lags_them(data_root, repo, homelab):
    """Right after a start the checkpoint (every 5 s) is older than world/ (every second):
    status showed the drift, drift said "no drift"."""
    world_checkpoint.save(data_root / world_checkpoint.PATH, observed(3, "active"))
    write_world(data_root, observed(7, "inactive"))
    code, out, _ = homelab("drift", "--json", "--root", str(data_root), "--repo", str(repo))
    report = json.loads(out)
    assert code == 1 and report["world_seq"] == 7
    assert [(d["service"], d["kind"]) for d in report["drifts"]] == [("db", "stopped")]


def test_drift_with_only_world_files_and_no_checkpoint_sees_the_drift(data_root, repo, homelab):
    write_world(data_root, observed(7, "inactive"))
    code, out, _ = homelab("drift", "--root", str(data_root), "--repo", str(repo))
    assert code == 1 and "stopped" in out


def test_a_declared_service_not_observed_yet_is_not_clean(data_root, repo, homelab):
    write_world(data_root, observed(4, None))
    code, out, _ = homelab("drift", "--root", str(data_root), "--repo", str(repo))
    assert code == 2 and "no drift" not in out
    assert "not observed yet" in out and "db" in out
    code, out, _ = homelab("drift", "--json", "--root", str(data_root), "--repo", str(repo))
    assert code == 2 and json.loads(out)["unobserved"] == [
        {"service": "db", "node": "n", "why": world.NO_OBSERVATION}
    ]


def test_drift_is_clean_only_when_every_declared_service_was_observed(data_root, repo, homelab):
    write_world(data_root, observed(5, "active"))
    code, out, _ = homelab("drift", "--root", str(data_root), "--repo", str(repo))
    assert code == 0 and out.startswith("no drift")


def test_an_empty_queue_in_a_real_root_is_no_actions(data_root, homelab):
    code, out, _ = homelab("actions", "list", "--root", str(data_root))
    assert code == 0 and out.strip() == "no actions"


# -- item 14: values out of range are usage errors ------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["replay", "--from", "0001-01-01"], "out of range"),
        (["replay", "--to", "99999d"], "out of range"),
        (["replay", "--from", "²"], "neither a sequence number nor a time"),
        (["replay", "--from", "9" * 5000], "too long"),
        (["tap", "--since", "99999999999999999999999", "--bus", CLOSED], "out of range"),
        (["tap", "--since", "18446744073709551616", "--bus", CLOSED], "out of range"),
    ],
)
def test_times_and_seqs_out_of_range_are_one_line_exit_2(
    data_root, args, expected, homelab, one_line
):
    code, _, err = homelab(*args, *(["--root", str(data_root)] if args[0] == "replay" else []))
    assert code == 2 and expected in one_line(err)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"a": 99999999999999999999999}', "does not fit in 64 bits"),
        ('{"a": -9223372036854775809}', "does not fit in 64 bits"),
        ('{"a": ' + "9" * 5000 + "}", "does not fit in 64 bits"),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper than"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e400}', "too large for a number"),
        ('{"a": "\\ud800"}', "cannot be encoded"),
        ('{"a": "' + "x" * 2_000_000 + '"}', "more than a message holds"),
        ("[1]", "must be a JSON object"),
        ("{nope", "not JSON"),
    ],
)
def test_emit_refuses_data_msgpack_cannot_carry_before_any_bus_io(
    data, expected, homelab, one_line
):
    code, out, err = homelab("emit", "obs.x", "--data", data, "--bus", CLOSED, "--timeout", "5")
    assert code == 2 and out == ""
    line = one_line(err)
    assert expected in line and "broker" not in line  # refused here, not after 5 s of waiting


def test_emit_accepts_the_edges_of_the_int64_range(homelab, one_line):
    data = '{"a": -9223372036854775808, "b": 18446744073709551615, "c": 1.5e300}'
    code, _, err = homelab("emit", "obs.x", "--data", data, "--bus", CLOSED, "--timeout", "0.2")
    assert code == 1 and "no answer from the broker" in one_line(err)  # valid, so it tried


@pytest.mark.parametrize("source", ["broker", "bus", "observer", "ui", "agent:web1", "cli:oskar"])
def test_emit_refuses_the_control_planes_own_sources(source, homelab, one_line):
    code, _, err = homelab("emit", "obs.x", "--source", source, "--bus", CLOSED)
    assert code == 2 and "is reserved for the control plane" in one_line(err)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--id", "x" * 65], "--id:"),
        (["--source", "s" * 200], "--source:"),
    ],
)
def test_emit_checks_id_and_source_before_any_bus_io(args, expected, homelab, one_line):
    code, _, err = homelab("emit", "obs.x", *args, "--bus", CLOSED, "--timeout", "5")
    assert code == 2 and one_line(err).startswith(f"homelab: error: {expected}")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e9"])
@pytest.mark.parametrize("command", [["emit", "obs.x"], ["status"]])
def test_a_timeout_that_would_never_expire_or_is_zero_is_refused(command, value, homelab, one_line):
    code, _, err = homelab(*command, "--timeout", value, "--bus", CLOSED)
    assert code == 2 and "--timeout" in one_line(err)


def test_usage_errors_are_one_line_too(homelab, one_line):
    code, _, err = homelab("replay", "--nope")
    assert code == 2 and one_line(err).endswith("(see: homelab replay -h)")


# -- replay ranges that cannot match --------------------------------------------------------


def test_replay_from_after_to_is_a_usage_error(data_root, homelab, one_line):
    code, _, err = homelab("replay", "--from", "10", "--to", "5", "--root", str(data_root))
    assert code == 2 and "--from 10 is after --to 5" in one_line(err)
    code, _, err = homelab("replay", "--from", "1h", "--to", "2h", "--root", str(data_root))
    assert code == 2 and "is after --to" in one_line(err)


def test_replay_of_an_empty_range_says_where_the_log_ends(data_root, homelab, one_line):
    from bus import envelope, filelog

    log, _ = filelog.FileLog.open_for_append(data_root / "events")
    wires = [envelope.encode_wire("obs.x", f"m{i}", "t", {}) for i in range(3)]
    log.append([envelope.stamp(w, i + 1, 1_800_000_000.0) for i, w in enumerate(wires)])
    log.close()
    code, out, err = homelab("replay", "--from", "10", "--root", str(data_root))
    assert code == 1 and out == ""
    assert one_line(err) == "homelab: nothing in range: the log ends at seq 3"
    code, out, _ = homelab("replay", "--from", "2", "--json", "--root", str(data_root))
    assert code == 0 and [json.loads(x)["seq"] for x in out.splitlines()] == [2, 3]


def test_replay_of_an_empty_log_says_so(data_root, homelab, one_line):
    code, _, err = homelab("replay", "--root", str(data_root))
    assert code == 1 and one_line(err) == "homelab: nothing in range: the log is empty"


# -- item 15: action ids are checked before they name a file ---------------------------------


@pytest.mark.parametrize(
    "bad", ["../../x", "a-0123", "a-0123456789ABCDEF", "x/../a-0123456789abcdef"]
)
@pytest.mark.parametrize("command", ["show", "approve", "reject"])
def test_an_action_id_that_is_not_one_is_refused_before_any_file(
    tmp_path, command, bad, homelab, one_line
):
    outside = tmp_path / "x.json"
    outside.write_text('{"id": "../../x", "state": "pending", "secret": "outside the root"}')
    root = tmp_path / "a" / "b"
    (root / "events").mkdir(parents=True)
    extra = ["--bus", CLOSED] if command != "show" else []
    code, out, err = homelab("actions", command, bad, "--root", str(root), *extra)
    assert code == 2 and "secret" not in out
    assert "is not an action id" in one_line(err)


def test_a_well_formed_unknown_id_is_no_action(data_root, homelab, one_line):
    code, _, err = homelab("actions", "show", "a-0123456789abcdef", "--root", str(data_root))
    assert code == 1 and "no action 'a-0123456789abcdef'" in one_line(err)
