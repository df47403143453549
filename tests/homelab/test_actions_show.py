"""``homelab actions show`` and ``list`` run in-process on actions the real queue decided
(``actors.domain.action_queue.Queue``), written to a data root as the supervisor writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors import atomic
from actors.domain.action_queue import Queue
from actors.domain.lifecycle import run_hash
from bus.dataroot import DataRoot
from bus.envelope import Message
from homelab import cli

T0 = 1_800_000_000.0
DAY = 24 * 3600.0
COMMANDS = [["systemctl", "start", "--", "x.service"]]
HASH = run_hash("start", "unit:x.service", COMMANDS, "rev1")


def recommended(seq: int, action_id: str) -> Message:
    payload = {
        "id": action_id,
        "type": "start",
        "target": "unit:x.service",
        "commands": COMMANDS,
        "revision": "rev1",
        "service": "x",
        "node": "n",
        "reason": "stopped: inactive",
        "drift": {"key": "x/stopped", "seqs": [seq]},
        "approval": "approve",
    }
    return Message(seq, T0 + seq, "action.recommended", f"m{seq}", "supervisor", payload)


def request(seq: int, kind: str, action_id: str, **payload) -> Message:
    body = {"id": action_id, "by": "oskar", **payload}
    return Message(seq, T0 + seq, f"action.request.{kind}", f"m{seq}", "cli:oskar", body)


REJECTED, EXPIRED, APPROVED = "a-0000000000000001", "a-0000000000000002", "a-0000000000000003"
REFUSED = "a-0000000000000004"
WHY_REFUSED = "the commands are not what the driver builds for this service now"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Four actions: one rejected with a reason, one that expired pending, one approved, one
    approved that the executor refused."""
    data = DataRoot(tmp_path / "root")
    for folder in (data.events, data.actions):
        folder.mkdir(parents=True)
    queue = Queue(approval_ttl=DAY)
    for seq, action_id in enumerate((REJECTED, EXPIRED, APPROVED), 1):
        queue.apply(recommended(seq, action_id))
    queue.apply(request(4, "reject", REJECTED, reason="not during backups"))
    queue.apply(request(5, "approve", APPROVED, hash=HASH))
    queue.apply(recommended(6, REFUSED))
    queue.apply(request(7, "approve", REFUSED, hash=HASH))
    refusal = {"id": REFUSED, "reason": WHY_REFUSED}
    queue.apply(Message(8, T0 + 8, "action.refused", "m8", "executor", refusal))
    queue.expire(T0 + 2.5 + DAY)  # the pending one only: the approval is younger
    for action_id, record in queue.records.items():
        atomic.write_json(data.action_file(action_id), record.to_dict())
    return data.path


def show(capsys, root: Path, action_id: str) -> dict[str, str]:
    assert cli.main(["actions", "show", action_id, "--root", str(root)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if not line.startswith(" ")]
    return dict(line.split(":", 1) for line in lines if ":" in line) | {"": out}


def test_a_rejected_action_says_who_rejected_it_and_why(capsys, root):
    shown = show(capsys, root, REJECTED)
    assert "approved_by" not in shown
    assert shown["rejected_by"].strip() == "oskar"
    assert shown["why"].strip() == "not during backups"
    assert "rejected    by oskar: not during backups" in shown[""]


def test_an_expired_action_was_decided_by_nobody(capsys, root):
    shown = show(capsys, root, EXPIRED)
    assert shown["decided_by"].strip() == "nobody"
    assert shown["why"].strip() == "expired after 24 h without a decision"
    assert "queue" not in shown[""]  # not "queue queue" in its timeline
    assert "expired     by nobody: expired after 24 h without a decision" in shown[""]


def test_an_approved_action_says_who_approved_it(capsys, root):
    shown = show(capsys, root, APPROVED)
    assert shown["approved_by"].strip() == "oskar" and "why" not in shown
    assert "  pending\n" in shown[""] and "approved    by oskar" in shown[""]


def test_an_approval_the_executor_refused_says_so_and_why(capsys, root):
    shown = show(capsys, root, REFUSED)
    assert shown["state"].strip() == "refused" and shown["approved_by"].strip() == "oskar"
    assert (shown["refused_by"].strip(), shown["why"].strip()) == ("executor", WHY_REFUSED)
    assert f"refused     by executor: {WHY_REFUSED}" in shown[""]
    assert cli.main(["actions", "list", "--root", str(root)]) == 0
    [listed] = [line for line in capsys.readouterr().out.splitlines() if REFUSED in line]
    assert "refused" in listed
