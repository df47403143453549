"""Fuzz of the commands that parse values (replay, tap, emit), in-process through
``homelab.cli.main``: whatever is typed, an exit status comes back (never an exception) and
at most one line on stderr. No broker is needed: --bus points at a closed loopback port."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus import envelope, filelog
from homelab import cli
from plant import free_port_pair

CLOSED = f"tcp://127.0.0.1:{free_port_pair()}"
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

SEQ_OR_TIME = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.from_regex(r"[0-9]{1,25}(\.[0-9]{1,8})?[smhdx]?", fullmatch=True),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0",
            "1",
            "18446744073709551615",
            "18446744073709551616",
            "0001-01-01",
            "9999-12-31",
            "1970-01-01T00:00:00+14:00",
            "1e400d",
            "nan",
            "inf",
            "-1",
            "²",
            "١٢",
            " 7 ",
            "",
        ]
    ),
)
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
DATA = st.one_of(
    JSON_VALUE.map(json.dumps),  # NaN and Infinity included, as json.dumps writes them
    st.dictionaries(st.text(max_size=5), JSON_VALUE, max_size=3).map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(lambda n: '{"a": ' + "[" * n + "]" * n + "}"),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A data root whose log holds seq 1 to 3."""
    path = tmp_path_factory.mktemp("fuzz") / "root"
    log, _ = filelog.FileLog.open_for_append(path / "events")
    wires = [envelope.encode_wire("obs.x", f"m{i}", "t", {}) for i in range(3)]
    log.append([envelope.stamp(w, i + 1, 1_800_000_000.0 + i) for i, w in enumerate(wires)])
    log.close()
    return path


def check(capsys, args: list[str]) -> int:
    code = cli.main(args)
    _, err = capsys.readouterr()
    assert isinstance(code, int)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == (1 if code else 0) or (code == 0 and len(lines) <= 1), err
    return code


@FUZZ
@given(start=st.none() | SEQ_OR_TIME, end=st.none() | SEQ_OR_TIME)
def test_replay_never_raises(capsys, root, start, end):
    args = ["replay", "--root", str(root), "--json"]
    args += ["--from", start] if start is not None else []
    args += ["--to", end] if end is not None else []
    assert check(capsys, args) in (0, 1, 2)


@FUZZ
@given(
    topic=st.sampled_from(["obs.x", "Obs.x", "bus.stats", "", "a" * 300]) | st.text(max_size=20),
    data=DATA,
    source=st.sampled_from(["emit", "broker", "agent:x", "s" * 200, ""]) | st.text(max_size=10),
    msg_id=st.none() | st.text(max_size=70),
)
def test_emit_never_raises(capsys, topic, data, source, msg_id):
    args = ["emit", topic, "--data", data, "--source", source, "--bus", CLOSED]
    args += ["--timeout", "0.1"] + (["--id", msg_id] if msg_id is not None else [])
    assert check(capsys, args) in (1, 2)  # 1: valid, and no broker answered


@pytest.fixture
def interrupt_after() -> Iterator[None]:
    """SIGINT 0.1 s into a tap that waits for a broker that never comes, as Ctrl-C would be:
    only while the tap's own handler is installed, so the test run itself is never hit."""
    ours = signal.getsignal(signal.SIGINT)

    def ring(signum, frame) -> None:
        if signal.getsignal(signal.SIGINT) is not ours:
            signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGALRM, ring)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(since=SEQ_OR_TIME)
def test_tap_never_raises(capsys, interrupt_after, since):
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        code = check(capsys, ["tap", "--since", since, "--bus", CLOSED])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    assert code in (0, 2)  # 0: valid, waited, stopped by the interrupt
