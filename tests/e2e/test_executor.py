"""The executor as a real process against a real broker: approvals in, runs and ends out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from actors.domain import lifecycle
from bus import client
from plant import child_env, speak_as, wait_until

pytestmark = pytest.mark.slow

DRIFT = "svc/stopped"


def start_executor(root: Path, endpoint: str) -> subprocess.Popen:
    code = speak_as("service:executor") + (
        "import sys; from pathlib import Path; from actors import executor; "
        "from homelab import service_logging; "
        f"sys.exit(executor.run(Path({str(root)!r}), {endpoint!r}, service_logging.stop_flag(), "
        "timeout=60))"
    )
    with open(root / "executor-stderr.log", "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", code], stdout=err, stderr=subprocess.STDOUT, env=child_env()
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def executor(root, broker):
    procs: list[subprocess.Popen] = []

    def starter() -> subprocess.Popen:
        procs.append(start_executor(root, broker.endpoint))
        return procs[-1]

    yield starter
    for proc in procs:
        stop(proc)


def report_drifts(endpoint: str, *keys: str) -> None:
    """The supervisor's latest drift report, which the executor checks before each run."""
    with client.Publisher(endpoint, source="supervisor") as pub:
        pub.publish("drift.report", {"drifts": [{"key": k} for k in keys]})


def approval(action_id: str, commands: list[list[str]], hash_: str | None = None) -> dict:
    type_, target, revision = "start", "svc", "rev1"
    return {
        "id": action_id,
        "type": type_,
        "target": target,
        "commands": commands,
        "revision": revision,
        "hash": hash_ or lifecycle.run_hash(type_, target, commands, revision),
        "by": "tester",
        "at": time.time(),
        "drift_key": DRIFT,
        "service": "svc",
    }


def recommendation(payload: dict) -> dict:
    fields = ("id", "type", "target", "commands", "revision", "service")
    return {k: payload[k] for k in fields} | {"drift": {"key": DRIFT}}


def approve(endpoint: str, payload: dict, source: str = "supervisor") -> None:
    """What the queue publishes: the recommendation, then (here at once) its approval."""
    with client.Publisher(endpoint, source="supervisor") as pub:
        pub.publish("action.recommended", recommendation(payload))
    with client.Publisher(endpoint, source=source) as pub:
        if source == "supervisor":
            pub.publish("action.approved", payload)
            return
        # A forgery: the broker refuses it (and the executor would ignore it if it got in).
        with pytest.raises(client.PublishRejected, match="identity: "):
            pub.publish("action.approved", payload)


def history(endpoint: str) -> list:
    with client.Subscriber(endpoint, "action.", since=1) as sub:
        found = []
        while (message := sub.get(timeout=0.3)) is not None:
            found.append(message)
        return found


def of(endpoint: str, action_id: str, topic: str | None = None) -> list:
    return [
        m
        for m in history(endpoint)
        if m.payload.get("id") == action_id and (topic is None or m.topic == topic)
    ]


def wait_for(endpoint: str, action_id: str, topic: str, timeout: float = 15.0):
    return wait_until(lambda: of(endpoint, action_id, topic), timeout, f"{topic} for {action_id}")[
        0
    ]


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_runs_once_after_running_is_durable(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    seen = root / "seen.txt"
    # The command itself reads the bus: the running message must be there already.
    check = (
        "import os, pathlib; from bus import client, keys; "
        "keys.use(keys.client(pathlib.Path(os.environ['HOMELAB_KEYS']), 'tool:test')); "
        f"sub = client.Subscriber({broker.endpoint!r}, 'action.running', since=1); "
        "ids = []\n"
        "while (m := sub.get(timeout=0.5)) is not None: ids.append(m.payload['id'])\n"
        f"open({str(seen)!r}, 'a').write(' '.join(ids) + '\\n'); print('hello from a1')"
    )
    executor()
    approve(broker.endpoint, approval("a1", [py(check)]))
    done = wait_for(broker.endpoint, "a1", "action.succeeded")
    running = of(broker.endpoint, "a1", "action.running")
    assert len(running) == 1 and running[0].seq < done.seq
    assert running[0].payload["by"] == "executor"
    assert running[0].payload["timeout"] == 60  # the queue interrupts a run silent beyond it
    assert seen.read_text().split() == ["a1"]  # one run, and it saw its running message
    assert done.payload["log"] == "logs/actions/a1.log" and done.payload["drift_key"] == DRIFT
    assert done.payload["exit_code"] == 0
    assert "hello from a1" in (root / "logs" / "actions" / "a1.log").read_text()
    output = "".join(m.payload["chunk"] for m in of(broker.endpoint, "a1", "action.output"))
    assert "hello from a1" in output


def test_the_same_approval_twice_runs_once(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    ran = root / "ran.txt"
    payload = approval("a2", [py(f"open({str(ran)!r}, 'a').write('ran\\n')")])
    executor()
    approve(broker.endpoint, payload)
    with client.Publisher(broker.endpoint, source="supervisor") as pub:
        pub.publish("action.approved", payload)  # another message id, the same action
    wait_for(broker.endpoint, "a2", "action.succeeded")
    time.sleep(1.0)  # room for a second run, if there were one
    assert ran.read_text() == "ran\n"
    assert len(of(broker.endpoint, "a2", "action.running")) == 1
    assert len(of(broker.endpoint, "a2", "action.succeeded")) == 1


def test_a_wrong_hash_is_refused(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    ran = root / "ran.txt"
    executor()
    approve(broker.endpoint, approval("a3", [py(f"open({str(ran)!r}, 'a')")], hash_="0" * 64))
    refused = wait_for(broker.endpoint, "a3", "action.refused")
    assert "hash" in refused.payload["reason"]
    assert not ran.exists()
    assert not of(broker.endpoint, "a3", "action.running")


def test_a_gone_drift_holds_it_until_the_supervisor_takes_it_back(root, broker, executor):
    """Only the supervisor declares it obsolete: the executor waits, then never runs it."""
    report_drifts(broker.endpoint, "svc/other")
    ran = root / "ran.txt"
    executor()
    approve(broker.endpoint, approval("a4", [py(f"open({str(ran)!r}, 'a')")]))
    with client.Publisher(broker.endpoint, source="supervisor") as pub:
        pub.publish("action.obsolete", {"id": "a4", "reason": "the drift is gone"})
    report_drifts(broker.endpoint, DRIFT)  # the drift is back: a4 stays taken back
    approve(broker.endpoint, approval("a5", [py("pass")]))
    wait_for(broker.endpoint, "a5", "action.succeeded")  # a4 came first, had it run
    assert not ran.exists()
    assert not of(broker.endpoint, "a4", "action.running")
    assert [m.source for m in of(broker.endpoint, "a4", "action.obsolete")] == ["supervisor"]


def test_a_gone_drift_that_comes_back_lets_it_run(root, broker, executor):
    report_drifts(broker.endpoint, "svc/other")
    ran = root / "ran.txt"
    executor()
    approve(broker.endpoint, approval("a6", [py(f"open({str(ran)!r}, 'a')")]))
    report_drifts(broker.endpoint, DRIFT)
    wait_for(broker.endpoint, "a6", "action.succeeded")
    assert ran.exists()


def test_a_failing_command_fails_with_its_exit_code(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    executor()
    approve(broker.endpoint, approval("a5", [py("import sys; print('boom'); sys.exit(3)")]))
    failed = wait_for(broker.endpoint, "a5", "action.failed")
    assert failed.payload["exit_code"] == 3
    assert "exited 3" in failed.payload["detail"]
    assert "boom" in (root / "logs" / "actions" / "a5.log").read_text()


def test_killed_mid_run_is_interrupted_once_and_never_rerun(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    pids = root / "pids.txt"
    marker = f"executor-test-sleeper-{os.getpid()}"
    sleeper = py(
        f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); "
        f"time.sleep(30)  # {marker}"
    )
    first = executor()
    approve(broker.endpoint, approval("a6", [sleeper]))
    orphan = 0
    try:
        wait_for(broker.endpoint, "a6", "action.running")
        wait_until(lambda: pids.exists() and pids.read_text().endswith("\n"), 10, "the sleeper")
        orphan = int(pids.read_text())
        first.kill()
        first.wait(10)
        executor()
        interrupted = wait_for(broker.endpoint, "a6", "action.interrupted")
        assert "not run again" in interrupted.payload["reason"]
        third = executor()  # a second restart publishes nothing more
        time.sleep(2.0)
        assert third.poll() is None
        assert len(of(broker.endpoint, "a6", "action.interrupted")) == 1
        assert len(of(broker.endpoint, "a6", "action.running")) == 1
        assert pids.read_text().split() == [str(orphan)]
        sleepers = [
            p
            for p in psutil.process_iter(["cmdline"])
            if any(marker in part for part in p.info["cmdline"] or [])
        ]
        assert [p.pid for p in sleepers] == [orphan]
    finally:
        if orphan:
            try:
                os.killpg(orphan, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_only_the_queues_approval_of_what_it_recommended_runs(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    ran = root / "ran.txt"
    payload = approval("a7", [py(f"open({str(ran)!r}, 'a').write('ran\\n')")])
    executor()
    approve(broker.endpoint, payload, source="cli:mallory")  # not the queue: ignored
    unasked = approval("a8", [py(f"open({str(ran)!r}, 'a').write('unasked\\n')")])
    with client.Publisher(broker.endpoint, source="supervisor") as pub:
        pub.publish("action.approved", unasked)  # never recommended
    refused = wait_for(broker.endpoint, "a8", "action.refused")
    assert refused.payload["reason"] == "the supervisor never recommended this action"
    other = [py(f"open({str(ran)!r}, 'a').write('other\\n')")]
    swapped = approval("a7", other)  # a consistent hash, but not what was recommended
    with client.Publisher(broker.endpoint, source="supervisor") as pub:
        pub.publish("action.approved", swapped, id="swapped")
    assert wait_for(broker.endpoint, "a7", "action.refused").payload["reason"] == (
        "the approval is not for what was recommended"
    )
    assert not ran.exists() and not of(broker.endpoint, "a7", "action.running")


def test_a_forged_approval_does_not_block_the_real_one(root, broker, executor):
    report_drifts(broker.endpoint, DRIFT)
    ran = root / "ran.txt"
    payload = approval("a9", [py(f"open({str(ran)!r}, 'a').write('ran\\n')")])
    executor()
    approve(broker.endpoint, payload, source="emit")
    with client.Publisher(broker.endpoint, source="supervisor") as pub:
        pub.publish("action.approved", payload)
    wait_for(broker.endpoint, "a9", "action.succeeded")
    assert ran.read_text() == "ran\n"
    assert not of(broker.endpoint, "a9", "action.refused")
