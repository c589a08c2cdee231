"""Compacting the city spool during a long outage: the gates' event loop goes on meanwhile, and
every message waiting for the broker is in the file exactly once, whatever happens meanwhile
(appends, acknowledgements, a crash, a disk that refuses the copy)."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest

from services import city_spool_compaction
from services.city_spool import COMPACT_RATIO, COMPACT_SLACK, CitySpool, Spooled

TOPIC = "parkgate/demo/passages"
BACKLOG = 3000  # messages waiting when the broker comes back
STEP_TIMEOUT_S = 10.0
# Taken before any test patches os.fsync: a GatedDisk made while another one is in place
# would otherwise pass each fsync on to that one, whose gate nobody opens any more.
REAL_FSYNC = os.fsync


class Backlog:
    """The spool and what the test expects it to hold: every message added and not done."""

    def __init__(self, path: Path) -> None:
        self.spool = CitySpool(path)
        self.spool.load()
        self.expected: dict[int, str] = {}
        self._bodies = 0

    def add(self, count: int = 1) -> list[int]:
        seqs = []
        for _ in range(count):
            self._bodies += 1
            body = json.dumps({"id": self._bodies, "plate": "闽A1***5"}, ensure_ascii=False)
            seq = self.spool.add(TOPIC, body)
            assert seq is not None, "the spool stopped using its file"
            self.expected[seq] = body
            seqs.append(seq)
        return seqs

    def finish(self, seq: int) -> None:
        self.spool.done(seq)
        del self.expected[seq]

    def finish_oldest(self) -> None:
        self.finish(min(self.expected))

    def finish_until_compacting(self) -> None:
        """The broker acknowledges the oldest messages until the spool begins a compaction."""
        while not self.spool.compacting:
            assert len(self.expected) > 1, "no compaction began"
            self.finish_oldest()

    def bodies(self) -> list[str]:
        return [self.expected[seq] for seq in sorted(self.expected)]


def reloaded(path: Path, tmp_path: Path, name: str = "restarted.jsonl") -> list[str]:
    """What a restart would send from the file as it is now on disk (a copy is loaded, so the
    running spool's file is left alone)."""
    copy = tmp_path / name
    copy.write_bytes(path.read_bytes())
    return [m.body for m in CitySpool(copy).load()]


def queued_lines(path: Path) -> Counter[int]:
    """How many times the file holds each message (its queued line, not a done mark)."""
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    return Counter(int(e["seq"]) for e in entries if "seq" in e)


class GatedDisk:
    """``os.fsync`` on a disk the test controls: each fsync made by a worker thread waits until
    the test lets it go, so the test can act while a compaction is at that step; the
    ``fail_at``-th one is refused as by a full disk."""

    def __init__(self, fail_at: int | None = None) -> None:
        self._real = REAL_FSYNC
        self._lock = threading.Lock()
        self.calls = 0
        self.fail_at = fail_at
        self.waiting = threading.Semaphore(0)
        self.go = threading.Semaphore(0)

    def __call__(self, fd: int) -> None:
        if threading.current_thread() is threading.main_thread():
            self._real(fd)
            return
        with self._lock:
            self.calls += 1
            call = self.calls
        self.waiting.release()
        if not self.go.acquire(timeout=STEP_TIMEOUT_S):
            raise AssertionError("the test never let the fsync go")
        if call == self.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._real(fd)

    async def next_step(self, spool: CitySpool) -> bool:
        """True when a worker's fsync is waiting for :attr:`go`, False once the compaction
        is over."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            if self.waiting.acquire(blocking=False):
                return True
            if not spool.compacting:
                return False
            assert time.monotonic() < deadline, "the compaction neither went on nor ended"
            await asyncio.sleep(0.002)


def one_past_the_threshold(backlog: Backlog) -> None:
    """Acknowledge the oldest messages until the next acknowledgement starts a compaction."""
    finished = 0
    while finished + 1 <= COMPACT_SLACK + COMPACT_RATIO * (len(backlog.expected) - 1):
        backlog.finish_oldest()  # not one that starts it: there is no event loop yet
        finished += 1
    assert not backlog.spool.compacting


SLOW_FSYNC_S = 0.4


def test_a_compaction_does_not_hold_up_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow SD card: every fsync takes SLOW_FSYNC_S. Passages keep being queued and
    acknowledged, and the loop keeps its pace, while a compaction of the backlog is synced."""
    backlog = Backlog(tmp_path / "city.jsonl")
    backlog.add(BACKLOG)
    one_past_the_threshold(backlog)
    lines_before = len(backlog.spool.path.read_bytes().splitlines())
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(SLOW_FSYNC_S)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)

    async def scenario() -> tuple[float, float, float, int]:
        ticks: list[float] = []
        running = True

        async def gate() -> None:  # stands for the gates' work on the same loop
            while running:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(gate())
        await asyncio.sleep(0.05)
        began = time.monotonic()
        backlog.finish_oldest()  # the acknowledgement that starts the compaction
        longest_call = time.monotonic() - began
        assert backlog.spool.compacting
        while backlog.spool.compacting:
            called = time.monotonic()
            (seq,) = backlog.add()  # a passage queued meanwhile, and acknowledged
            backlog.finish(seq)
            longest_call = max(longest_call, time.monotonic() - called)
            await asyncio.sleep(0.02)
            assert time.monotonic() - began < 30, "the compaction never ended"
        took = time.monotonic() - began
        running = False
        await task
        during = [t for t in ticks if t >= began]
        gaps = [b - a for a, b in itertools.pairwise(during)]
        return took, longest_call, max(gaps), len(during)

    took, longest_call, longest_gap, ticks = asyncio.run(scenario())
    monkeypatch.undo()
    # The compaction did wait for the slow disk (copy, its catch-up and the directory) ...
    assert took >= 2 * SLOW_FSYNC_S
    # ... and neither the spool's calls nor the loop did.
    assert longest_call < SLOW_FSYNC_S / 2
    assert longest_gap < SLOW_FSYNC_S / 2
    assert ticks > took / 0.05
    assert len(backlog.spool.path.read_bytes().splitlines()) < lines_before / 2
    assert reloaded(backlog.spool.path, tmp_path) == backlog.bodies()


def test_what_comes_during_a_compaction_is_in_the_file_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At each step of a compaction (the copy being synced, the catch-up being synced, the
    rename being synced) passages are queued and acknowledged, old and new ones; a crash at
    any of those moments leaves a file that sends exactly what waits, and so does the file
    the compaction leaves."""
    disk = GatedDisk()
    monkeypatch.setattr(os, "fsync", disk)
    backlog = Backlog(tmp_path / "city.jsonl")
    path = backlog.spool.path
    backlog.add(BACKLOG)

    async def scenario() -> int:
        backlog.finish_until_compacting()
        steps = 0
        while await disk.next_step(backlog.spool):
            steps += 1
            assert reloaded(path, tmp_path, f"crash-{steps}a.jsonl") == backlog.bodies()
            new = backlog.add(3)
            backlog.finish_oldest()  # one from the compaction's snapshot
            backlog.finish(new[1])  # and one queued since
            assert reloaded(path, tmp_path, f"crash-{steps}b.jsonl") == backlog.bodies()
            disk.go.release()
        return steps

    steps = asyncio.run(scenario())
    assert steps == 3  # the test acted at each of them
    # Compacted: what waits, each message once, nothing finished before the compaction began.
    on_disk = queued_lines(path)
    assert set(on_disk) >= set(backlog.expected)
    assert max(on_disk.values()) == 1
    assert len(on_disk) < len(backlog.expected) + 3 * steps
    assert reloaded(path, tmp_path) == backlog.bodies()
    assert not list(tmp_path.glob("*.tmp"))
    # The spool goes on with the new file.
    backlog.add(2)
    assert reloaded(path, tmp_path) == backlog.bodies()
    for seq in list(backlog.expected):
        backlog.finish(seq)
    assert path.stat().st_size == 0


@pytest.mark.parametrize("failing", [1, 2], ids=["copy-refused", "catch-up-refused"])
def test_a_compaction_the_disk_refuses_keeps_the_file_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    failing: int,
) -> None:
    disk = GatedDisk(fail_at=failing)
    monkeypatch.setattr(os, "fsync", disk)
    backlog = Backlog(tmp_path / "city.jsonl")
    path = backlog.spool.path
    backlog.add(BACKLOG)

    async def compact(*, acting: bool) -> None:
        backlog.finish_until_compacting()
        while await disk.next_step(backlog.spool):
            if acting:
                (seq, _) = backlog.add(2)
                backlog.finish(seq)
            disk.go.release()

    with caplog.at_level(logging.WARNING, logger="services.city_spool"):
        asyncio.run(compact(acting=True))
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "compaction failed" in caplog.records[0].getMessage()
    # The old file is whole and still the one in use; no half copy is left next to it.
    assert not list(tmp_path.glob("*.tmp"))
    assert reloaded(path, tmp_path) == backlog.bodies()
    lines_after_failure = len(path.read_bytes().splitlines())
    backlog.add()
    assert len(path.read_bytes().splitlines()) == lines_after_failure + 1

    # The broker goes on acknowledging: a while later the compaction is tried again, and works.
    backlog.add(1500)
    caplog.clear()
    asyncio.run(compact(acting=False))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert max(queued_lines(path).values()) == 1
    assert len(path.read_bytes().splitlines()) == len(backlog.expected)
    assert reloaded(path, tmp_path) == backlog.bodies()


def test_a_queue_emptied_during_a_compaction_leaves_an_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker takes everything while the copy is being synced: the file is emptied, and
    the copy (which still holds those messages) must not come back in its place."""
    disk = GatedDisk()
    monkeypatch.setattr(os, "fsync", disk)
    backlog = Backlog(tmp_path / "city.jsonl")
    path = backlog.spool.path
    backlog.add(BACKLOG)

    async def scenario() -> None:
        backlog.finish_until_compacting()
        assert await disk.next_step(backlog.spool)
        while backlog.expected:
            backlog.finish_oldest()
        disk.go.release()
        while await disk.next_step(backlog.spool):
            disk.go.release()

    asyncio.run(scenario())
    assert path.stat().st_size == 0
    assert not list(tmp_path.glob("*.tmp"))
    (seq,) = backlog.add()
    assert seq == BACKLOG + 1  # numbering goes on
    assert reloaded(path, tmp_path) == backlog.bodies()


def test_a_stop_during_a_compaction_leaves_the_whole_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = GatedDisk()
    monkeypatch.setattr(os, "fsync", disk)
    backlog = Backlog(tmp_path / "city.jsonl")
    path = backlog.spool.path
    backlog.add(BACKLOG)

    async def scenario() -> None:
        backlog.finish_until_compacting()
        assert await disk.next_step(backlog.spool)  # the copy is being synced
        backlog.add(2)
        backlog.spool.close()  # the publisher stops
        disk.go.release()
        while await disk.next_step(backlog.spool):
            disk.go.release()

    asyncio.run(scenario())
    assert not list(tmp_path.glob("*.tmp"))
    # Not replaced after the stop: the next start reads the file the stop left.
    assert queued_lines(path)[1] == 1
    assert [m.body for m in CitySpool(path).load()] == backlog.bodies()


def test_a_draining_backlog_is_compacted_once_and_only_its_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker is back after a long outage and takes the backlog: one compaction, of under
    a fifth of it, not one every thousand acknowledgements."""
    backlog = Backlog(tmp_path / "city.jsonl")
    backlog.add(BACKLOG)
    copied: list[int] = []  # messages in each compaction's copy
    write_copy = city_spool_compaction.write_copy

    def counted(copy: Path, messages: list[Spooled]) -> IO[bytes]:
        copied.append(len(messages))
        return write_copy(copy, messages)

    monkeypatch.setattr(city_spool_compaction, "write_copy", counted)

    async def drain() -> None:
        while backlog.expected:
            backlog.finish_oldest()
            await asyncio.sleep(0)  # the acknowledgements come from the network, one by one
        while backlog.spool.compacting:
            await asyncio.sleep(0.01)

    asyncio.run(drain())
    assert len(copied) == 1 and copied[0] < BACKLOG / 5
    assert backlog.spool.path.stat().st_size == 0


def test_a_queue_emptied_while_the_rename_is_synced_keeps_what_comes_next_in_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy has replaced the old file but the rename is not on the disk yet, and the broker
    takes everything then: a power cut now brings back the old file, which must still hold
    the passages queued after the queue was emptied (they were synced, the rename was not)."""
    disk = GatedDisk()
    monkeypatch.setattr(os, "fsync", disk)
    backlog = Backlog(tmp_path / "city.jsonl")
    path = backlog.spool.path
    backlog.add(BACKLOG)
    old = tmp_path / "old-inode.jsonl"  # the old file by another name, as a power cut leaves it

    async def scenario() -> int:
        backlog.finish_until_compacting()
        steps = 0
        while await disk.next_step(backlog.spool):
            steps += 1
            if steps == 1:
                os.link(path, old)  # before the rename
            if steps == 3:  # the rename is being synced
                while backlog.expected:
                    backlog.finish_oldest()
                backlog.add(2)
                backlog.spool.sync()
                sent_after_power_cut = reloaded(old, tmp_path, "power-cut.jsonl")
                assert set(backlog.bodies()) <= set(sent_after_power_cut)
            disk.go.release()
        return steps

    assert asyncio.run(scenario()) == 3
    assert reloaded(path, tmp_path) == backlog.bodies()


def test_a_refused_compaction_does_not_put_off_compacting_the_next_backlog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction the disk refused is tried again COMPACT_SLACK acknowledgements later; once
    the queue has emptied, the next outage's backlog is compacted at the usual threshold."""
    disk = GatedDisk(fail_at=1)
    monkeypatch.setattr(os, "fsync", disk)
    backlog = Backlog(tmp_path / "city.jsonl")
    backlog.add(BACKLOG)

    async def refused_then_emptied() -> None:
        backlog.finish_until_compacting()
        while await disk.next_step(backlog.spool):
            disk.go.release()
        while backlog.expected:
            backlog.finish_oldest()

    asyncio.run(refused_then_emptied())
    assert backlog.spool.path.stat().st_size == 0

    disk = GatedDisk()
    monkeypatch.setattr(os, "fsync", disk)
    backlog.add(BACKLOG)

    async def next_outage() -> bool:
        one_past_the_threshold(backlog)
        backlog.finish_oldest()  # the acknowledgement past the threshold
        compacting = backlog.spool.compacting
        while await disk.next_step(backlog.spool):
            disk.go.release()
        return compacting

    assert asyncio.run(next_outage())
    # Compacted, not given up: the file holds each waiting message once and nothing else.
    assert queued_lines(backlog.spool.path) == Counter(backlog.expected.keys())
    assert len(backlog.spool.path.read_bytes().splitlines()) == len(backlog.expected)
