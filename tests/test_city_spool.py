"""The city feed's disk spool on its own: what a run leaves unsent is what the next run gets."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from services import city_spool, passage_journal
from services.city_spool import COMPACT_SLACK, CitySpool, Spooled, open_city_spool

TOPIC = "parkgate/demo/passages"


def bodies(spooled: list[Spooled]) -> list[str]:
    return [m.body for m in spooled]


def test_what_is_not_done_comes_back_in_order_and_numbering_goes_on(tmp_path: Path) -> None:
    spool = CitySpool(tmp_path / "city.jsonl")
    spool.load()
    seqs = [spool.add(TOPIC, f"p{n}") for n in range(1, 5)]
    assert seqs == [1, 2, 3, 4]
    spool.done(2)
    spool.done(1)
    spool.close()  # the run ends (a crash leaves the same file: every line is flushed)

    again = CitySpool(tmp_path / "city.jsonl")
    left = again.load()
    assert [(m.seq, m.body) for m in left] == [(3, "p3"), (4, "p4")]
    assert again.add(TOPIC, "p5") == 5  # never a number the hub's messages already had
    assert len(again) == 3


def test_the_file_is_emptied_once_everything_is_done(tmp_path: Path) -> None:
    spool = CitySpool(tmp_path / "city.jsonl")
    spool.load()
    for n in range(3):
        spool.add(TOPIC, f"p{n}")
    assert len(spool.path.read_text(encoding="utf-8").splitlines()) == 3
    for seq in (1, 2, 3):
        spool.done(seq)
    assert spool.path.stat().st_size == 0
    assert CitySpool(spool.path).load() == []


def test_finished_lines_are_compacted_away_during_a_long_backlog(tmp_path: Path) -> None:
    spool = CitySpool(tmp_path / "city.jsonl")
    spool.load()
    total, left = 2 * COMPACT_SLACK, 100
    for n in range(total):
        spool.add(TOPIC, f"p{n}")
    for seq in range(1, total - left + 1):
        spool.done(seq)
    # The file stays in proportion to what waits, not to everything ever sent.
    lines = spool.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) < total
    assert bodies(CitySpool(spool.path).load()) == [f"p{n}" for n in range(total - left, total)]


def test_a_draining_backlog_is_rewritten_once_and_only_its_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an event loop the rewrite is done in place (test_city_spool_compaction.py has
    the same with one): a broker back after a long outage must not cost a rewrite of the whole
    backlog, nor one every thousand acknowledgements."""
    spool = CitySpool(tmp_path / "city.jsonl")
    spool.load()
    backlog = 5000
    for n in range(backlog):
        spool.add(TOPIC, f"p{n}")
    rewritten: list[int] = []
    rewrite = spool._rewrite

    def counted() -> None:
        rewritten.append(len(spool))
        rewrite()

    monkeypatch.setattr(spool, "_rewrite", counted)
    for seq in range(1, backlog + 1):
        spool.done(seq)
    assert len(rewritten) <= 1 and all(n < backlog / 5 for n in rewritten)
    assert spool.path.stat().st_size == 0


def test_a_torn_last_line_is_skipped_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "city.jsonl"
    spool = CitySpool(path)
    spool.load()
    spool.add(TOPIC, "p1")
    spool.close()
    with path.open("ab") as f:
        f.write(b'{"seq": 2, "topic": "parkgate/demo/pass')  # the crash came mid-write
    left = CitySpool(path).load()
    assert bodies(left) == ["p1"]
    assert any("1 unreadable line(s) skipped" in r.getMessage() for r in caplog.records)


def test_load_may_rewrite_bodies_and_the_file_then_holds_the_new_ones(tmp_path: Path) -> None:
    spool = CitySpool(tmp_path / "city.jsonl")
    spool.load()
    spool.add(TOPIC, json.dumps({"plate": "闽A12345"}, ensure_ascii=False))
    spool.close()
    left = CitySpool(spool.path).load(rewrite_body=lambda m: m.body.replace("12345", "1***5"))
    assert "闽A1***5" in left[0].body
    on_disk = spool.path.read_text(encoding="utf-8")
    assert "12345" not in on_disk and "1***5" in on_disk


def test_the_spool_is_private(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        spool = CitySpool(tmp_path / "journal" / "city.jsonl")
        spool.load()
        spool.add(TOPIC, "p1")
    finally:
        os.umask(before)
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600


def test_a_disk_that_refuses_writes_leaves_the_feed_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "journal"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    spool = CitySpool(blocker / "city.jsonl")
    spool.load()
    with caplog.at_level(logging.ERROR, logger="services.city_spool"):
        assert spool.add(TOPIC, "p1") is None
        assert spool.add(TOPIC, "p2") is None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "kept in memory only" in errors[0]


def test_durable_queue_off_removes_what_an_earlier_run_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = open_city_spool(tmp_path, durable=True)
    assert spool is not None
    spool.load()
    spool.add(TOPIC, "p1")
    spool.close()
    assert open_city_spool(tmp_path, durable=False) is None
    assert not spool.path.exists()
    assert any("durable_queue is off" in r.getMessage() for r in caplog.records)


class FillingDisk(io.RawIOBase):
    """A file on a disk with ``room`` bytes left: the write that reaches it is cut short,
    then every write fails with ENOSPC, as a full disk does."""

    def __init__(self, path: Path, room: int) -> None:
        self._file = path.open("ab", buffering=0)
        self._room = room

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        taken = bytes(data)[: self._room]
        self._file.write(taken)
        self._room -= len(taken)
        return len(taken)

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()
        super().close()


def test_a_disk_that_fills_mid_line_leaves_the_feed_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "city.jsonl"
    first = json.dumps({"seq": 1, "topic": TOPIC, "body": "p1"}) + "\n"
    room = len(first.encode()) + 10  # the second line is torn by the full disk
    monkeypatch.setattr(
        city_spool, "open",
        lambda p, _mode, opener: io.BufferedWriter(FillingDisk(Path(p), room)), raising=False,
    )
    spool = CitySpool(path)
    spool.load()
    with caplog.at_level(logging.ERROR, logger="services.city_spool"):
        assert spool.add(TOPIC, "p1") == 1
        assert spool.add(TOPIC, "p2") is None  # not raised: the publisher keeps it in memory
        assert spool.add(TOPIC, "p3") is None
        spool.done(1)
        spool.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "kept in memory only" in errors[0]
    monkeypatch.undo()
    assert bodies(CitySpool(path).load()) == ["p1"]  # the torn line skipped


def test_a_rewrite_the_disk_refuses_leaves_no_half_copy_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "city.jsonl"
    path.write_text(json.dumps({"seq": 1, "topic": TOPIC, "body": "p1"}) + "\n",
                    encoding="utf-8")

    def full_disk(fd: int) -> None:  # the copy is written, the disk refuses to keep it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(passage_journal.os, "fsync", full_disk)
    left = CitySpool(path).load()  # loading rewrites the file with what is left
    assert bodies(left) == ["p1"]  # still sent, from memory
    assert not path.with_suffix(".tmp").exists()
    assert path.read_text(encoding="utf-8").count("\n") == 1  # the old file as it was
