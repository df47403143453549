"""Whatever lands in inbox/, the broker goes on: every hostile file is rejected with a
reason (never followed, never blocking), good files around it are published, and a restart
with the same files present starts cleanly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bus import envelope
from bus.filelog import FileLog
from plant import wait_until

pytestmark = pytest.mark.slow


def published(root: Path, topic: str) -> list[envelope.Message]:
    found = [envelope.decode_body(b) for b in FileLog(root / "events").read()]
    return [m for m in found if m.topic == topic]


def hostile_files(inbox: Path, secret: Path) -> dict[str, str]:
    """Each file's name (as the broker lists it) and a word its reason must contain."""
    (inbox / "deep.json").write_text(
        '{"topic": "obs.deep", "payload": ' + "[" * 50_000 + "]" * 50_000 + "}"
    )
    (inbox / "deep-payload.json").write_text(
        '{"topic": "obs.deep", "payload": ' + '{"x": ' * 40 + "{}" + "}" * 40 + "}"
    )
    bad_name = os.fsdecode(b"caf\xe9.json")  # not UTF-8
    (inbox / bad_name).write_text('{"topic": "obs.name", "payload": {"ok": true}}')
    os.symlink(secret, inbox / "link.json")
    os.mkfifo(inbox / "fifo.json")
    (inbox / "folder.json").mkdir()
    (inbox / "big.json").write_bytes(b" " * (300 * 1024))
    (inbox / "nan.json").write_text('{"topic": "obs.nan", "payload": {"x": NaN}}')
    (inbox / "forged.json").write_text(
        '{"topic": "action.approved", "payload": {"id": "a-1"}, "source": "supervisor"}'
    )
    (inbox / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (inbox / "bigint.json").write_text('{"topic": "obs.x", "payload": {"n": ' + "9" * 5000 + "}}")
    (inbox / "hugeint.json").write_text('{"topic": "obs.x", "payload": {"n": ' + "9" * 30 + "}}")
    forged = '{"topic": "obs.x", "payload": {}, "source": "executor"}'
    (inbox / ("l" * 250 + ".json")).write_text(forged)  # its reason's name would be too long
    (inbox / "new\nline.json").write_text(forged)
    return {
        "deep.json": "nested too deeply",
        "deep-payload.json": "nested deeper than 32",
        "link.json": "symlink",
        "fifo.json": "not a regular file",
        "folder.json": "not a regular file",
        "big.json": "larger than",
        "nan.json": "finite",
        "forged.json": "control plane",
        "binary.json": "not readable JSON",
        "bigint.json": "not readable JSON",
        "hugeint.json": "cannot be encoded",
        "l" * 60 + ".*.json": "control plane",  # renamed: a plain, short name
        "new_line.*.json": "control plane",
    }


def test_hostile_inbox_files_are_rejected_and_the_broker_goes_on(broker, tmp_path):
    inbox = broker.root / "inbox"
    secret = tmp_path / "private.json"
    secret.write_text('{"topic": "obs.secret", "payload": {"password": "hunter2"}}')
    secret.chmod(0o600)
    expected = hostile_files(inbox, secret)
    (inbox / "zz-good.json").write_text('{"topic": "obs.good", "payload": {"ok": true}}')
    wait_until(lambda: (inbox / "done" / "zz-good.json").exists(), 20, "the good file")
    for name, word in expected.items():
        notes = wait_until(
            lambda p=f"{name}.reason.txt": list((inbox / "rejected").glob(p)), 10, name
        )
        assert len(notes) == 1 and word in notes[0].read_text(), (name, notes)
    assert sorted(p.name for p in inbox.iterdir()) == ["done", "rejected"]  # nothing stuck
    assert (inbox / "rejected" / "link.json").is_symlink()  # moved, never followed
    assert not published(broker.root, "obs.secret") and not published(
        broker.root, "action.approved"
    )
    assert [m.payload for m in published(broker.root, "obs.good")] == [{"ok": True}]
    wait_until(lambda: published(broker.root, "obs.name"), 10, "the file whose name is not UTF-8")
    assert broker.answers()
    assert json.loads(secret.read_text())["payload"]["password"] == "hunter2"  # untouched


def test_a_broker_restarted_with_hostile_files_waiting_starts(broker, tmp_path):
    broker.stop()
    inbox = broker.root / "inbox"
    secret = tmp_path / "private.json"
    secret.write_text("{}")
    hostile_files(inbox, secret)
    broker.start()
    wait_until(lambda: (inbox / "rejected" / "fifo.json").exists(), 20, "the FIFO rejected")
    assert broker.answers()


def test_a_rejected_folder_that_is_a_symlink_is_not_written_through(broker, tmp_path):
    inbox = broker.root / "inbox"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rmdir(inbox / "rejected")
    os.symlink(elsewhere, inbox / "rejected")
    (inbox / "bad.json").write_text("not json")
    (inbox / "good.json").write_text('{"topic": "obs.good", "payload": {"ok": true}}')
    wait_until(lambda: (inbox / "done" / "good.json").exists(), 20, "the good file")
    assert list(elsewhere.iterdir()) == [] and (inbox / "bad.json").exists()
    assert broker.answers()


def test_an_inbox_that_cannot_be_listed_does_not_stop_the_broker(broker):
    """inbox/ replaced by a file (or made unreadable, or a link loop) while the broker runs:
    it says so once and goes on; once inbox/ is a folder again, files are taken."""
    inbox = broker.root / "inbox"
    inbox.rename(broker.root / "inbox.away")
    inbox.write_text("not a folder")
    wait_until(lambda: broker.answers() and "cannot list" in broker.output(), 10, "a warning")
    assert broker.answers()
    inbox.unlink()
    (broker.root / "inbox.away").rename(inbox)
    (inbox / "good.json").write_text('{"topic": "obs.good", "payload": {"ok": true}}')
    wait_until(lambda: (inbox / "done" / "good.json").exists(), 20, "the good file")
    assert broker.answers() and broker.output().count("cannot list") == 1
