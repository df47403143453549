"""The inbox's file handling in-process: a name the broker could not move once is not
ignored forever, and every reason file lands in inbox/rejected under a plain name."""

from __future__ import annotations

import os
from pathlib import Path

from bus import inbox, protocol


def test_a_stuck_name_is_forgotten_once_it_is_gone_so_a_new_file_of_that_name_is_taken(
    tmp_path: Path,
):
    box = tmp_path / "inbox"
    box.mkdir()
    (box / "status.json").write_text("{}")
    stuck = {"status.json", "gone.json"}
    assert [d.path.name for d in inbox.scan(box, stuck)] == []
    assert stuck == {"status.json"}
    (box / "status.json").unlink()  # taken away (by its writer, or the operator)
    list(inbox.scan(box, stuck))
    (box / "status.json").write_text('{"topic": "obs.status", "payload": {}}')
    [dropped] = inbox.scan(box, stuck)
    assert dropped.item.topic == "obs.status"


def test_reasons_get_plain_names_inside_rejected(tmp_path: Path):
    box = tmp_path / "inbox"
    box.mkdir()
    names = ["x" * 250 + ".json", "tab\there.json", os.fsdecode(b"\xff\xfe.json"), "ok.json"]
    for name in names:
        (box / name).write_text("[]")
    for dropped in inbox.scan(box):
        inbox.reject(dropped, "file: must be a map\nsecond line")
    notes = sorted(p.name for p in (box / "rejected").iterdir() if p.name.endswith(".txt"))
    assert len(notes) == 4 and "ok.json.reason.txt" in notes
    for note in notes:
        assert note.isprintable() and len(note) < 100
        assert (box / "rejected" / note).read_text() == "file: must be a map second line\n"
    assert sorted(p.name for p in box.iterdir()) == ["rejected"]


def test_an_inbox_the_operator_linked_elsewhere_still_works(tmp_path: Path):
    real = tmp_path / "disk" / "inbox"
    real.mkdir(parents=True)
    box = tmp_path / "inbox"
    box.symlink_to(real)
    (box / "a.json").write_text('{"topic": "obs.a", "payload": {}}')
    [dropped] = inbox.scan(box)
    inbox.done(dropped)
    assert (real / "done" / "a.json").exists()


def test_a_file_replaced_while_it_was_read_is_taken_again_not_moved_unread(tmp_path: Path):
    """A tool that rewrites ``status.json`` (tmp file, rename) between the broker's read and
    its move: the broker published the old content, so the new one must stay to be taken."""
    box = tmp_path / "inbox"
    box.mkdir()
    (box / "status.json").write_text('{"topic": "obs.status", "payload": {"n": 1}}')
    [first] = inbox.scan(box)
    (box / "status.tmp").write_text('{"topic": "obs.status", "payload": {"n": 2}}')
    os.replace(box / "status.tmp", box / "status.json")  # between the read and the move
    inbox.done(first)
    assert not (box / "done").exists() or list((box / "done").iterdir()) == []
    [second] = inbox.scan(box)
    assert isinstance(second.item, protocol.Envelope) and second.item.wire != first.item.wire
    inbox.done(second)
    assert [p.name for p in (box / "done").iterdir()] == ["status.json"]


def test_taking_files_leaves_no_descriptor_open(tmp_path: Path):
    """The broker takes files for as long as it runs: one folder descriptor left open per
    file would stop it at the process's limit (1024 by default)."""
    box = tmp_path / "inbox"
    box.mkdir()
    for i in range(60):
        body = '{"topic": "obs.x", "payload": {}}' if i % 2 else "not json"
        (box / f"{i:03}.json").write_text(body)
    before = len(os.listdir("/proc/self/fd"))
    for dropped in inbox.scan(box):
        if isinstance(dropped.item, str):
            inbox.reject(dropped, dropped.item)
        else:
            inbox.done(dropped)
    assert len(os.listdir("/proc/self/fd")) == before
    assert len(list((box / "done").iterdir())) == 30
