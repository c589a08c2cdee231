"""The city feed's passages and alarms kept on disk until the broker has acknowledged them.

The city publisher's queue is in memory; this file makes it survive a restart or a crash during
a broker outage. It is a log of JSON lines, appended as messages are queued and finished:

    {"seq": 12, "topic": "parkgate/demo/passages", "body": "{…}"}   queued
    {"done": 12}                                                    acknowledged or dropped

What is queued and not done is sent again at the next start, in ``seq`` order, before anything
new: at least once, so a hub de-duplicates passages and alarms by ``id`` and ``at``
(docs/mqtt.md asks that already, for QoS 1). Every line is written through to the operating
system at once, which keeps it across a crash of the process; :meth:`CitySpool.sync` (run off
the event loop by the publisher, a moment later) puts queued lines on the disk against a power
cut. ``done`` lines are never synced on their own: losing one costs a duplicate, never a
message. When nothing is left to send the file is emptied; while a long outage keeps messages
waiting it is rewritten with only those once the finished lines far outnumber them (at most
once while a backlog of any size drains, and then of under a fifth of it).

The rewrite (a compaction) is written and synced in a worker thread, never on the event loop:
after a long outage it is an fsync of several MB, which would hold up every gate. Meanwhile the
old file stays the one in use and complete, and what is appended to it goes to the new one
too: kept in memory until the copy of the waiting messages is written, then written to both
files (:meth:`CitySpool.sync` syncs both) until the new one has replaced the old and that
rename is on the disk. A crash at any point therefore leaves the old file or the new one, each
complete; a compaction the disk refuses is given up with a WARNING, the old file goes on, and
it is tried again after :data:`COMPACT_SLACK` more finished lines.

Retained topics (availability, gate states) are not kept: the controller publishes the current
values again at start, and an old one would overwrite a newer one.

A disk that refuses a write stops the file, not the feed: it is logged once and the queue goes
on in memory as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from services.passage_journal import fsync_dir, private_opener, replace_durably

logger = logging.getLogger(__name__)

# The file is rewritten once its finished lines outnumber COMPACT_SLACK + COMPACT_RATIO times
# the live ones: a dropping outage stays bounded, a drain after one rewrites only its tail.
# A compaction the disk refused is tried again COMPACT_SLACK finished lines later, not at
# every acknowledgement.
COMPACT_SLACK = 1000
COMPACT_RATIO = 4


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    topic: str
    body: str

    def line(self) -> str:
        """The message as the file holds it, without the newline."""
        return json.dumps({"seq": self.seq, "topic": self.topic, "body": self.body},
                          ensure_ascii=False)


@dataclass(slots=True, eq=False)
class _Compaction:
    """One rewrite of the file on its way. Changed on the event loop only; the worker threads
    get what they need as arguments."""

    loop: asyncio.AbstractEventLoop
    copy: Path  # the new file until it replaces the old one
    finished_before: int  # the spool's finished lines when the copy's snapshot was taken
    out: IO[bytes] | None = None  # open on the new file once its snapshot is written
    old: IO[bytes] | None = None  # the old file, once replaced, until the rename is synced
    # Lines appended to the old file while the snapshot was being written: for the copy next.
    pending: list[bytes] = field(default_factory=list)
    swapped: bool = False  # the copy is the spool's file now
    abandoned: bool = False  # given up (failed, emptied, closed): cleaned up after the thread


def _write_copy(copy: Path, messages: list[Spooled]) -> IO[bytes]:
    """In a worker thread: ``copy`` holding ``messages``, synced, left open for appending. A
    write the disk refuses leaves no half-written copy behind."""
    # O_APPEND like the file in use: after the swap it is that file, and emptying it with
    # truncate(0) must put the next line at its start, not after a hole.
    out = open(copy, "ab", opener=_truncating_opener)  # noqa: SIM115
    try:
        out.writelines(m.line().encode("utf-8") + b"\n" for m in messages)
        out.flush()
        os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            out.close()
        with contextlib.suppress(OSError):
            copy.unlink(missing_ok=True)
        raise
    return out


def _truncating_opener(path: str, flags: int) -> int:
    # A copy left by a crash during an earlier compaction is started over, not appended to.
    return private_opener(path, flags | os.O_TRUNC)


def _sync_file(out: IO[bytes]) -> None:
    os.fsync(out.fileno())


class CitySpool:
    """Append-only record of the event messages not yet acknowledged by the city broker.

    Call from one thread (the event loop), except :meth:`sync`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._live: dict[int, Spooled] = {}
        self._finished_lines = 0  # queued lines in the file whose message is done
        self._next = 1
        self._out: IO[bytes] | None = None
        # The other file every line also goes to while a compaction runs (the new one, then,
        # until the rename is on the disk, the old one): read by sync() from another thread.
        self._twin: IO[bytes] | None = None
        self._compaction: _Compaction | None = None
        self._retry_after = 0  # finished lines before a refused compaction is tried again
        self._broken = False

    @property
    def compacting(self) -> bool:
        """A compaction is under way in a worker thread (or being cleaned up after)."""
        return self._compaction is not None

    @property
    def _copy_path(self) -> Path:
        # Not replace_durably's ``.tmp``: load() may rewrite with that while a compaction
        # that close() gave up is still writing in its thread.
        return self.path.with_name(f"{self.path.stem}.compacting.tmp")

    def load(self, rewrite_body: Callable[[Spooled], str] | None = None) -> list[Spooled]:
        """The messages a previous run left unsent, oldest first; the file is rewritten with
        only those (``rewrite_body`` may change a body first, e.g. mask a plate that an earlier
        setting published in full)."""
        queued: dict[int, Spooled] = {}
        torn = 0
        try:
            with self.path.open("rb") as f:
                for raw in f:
                    try:
                        entry = json.loads(raw)
                        if "done" in entry:
                            queued.pop(int(entry["done"]), None)
                        else:
                            message = Spooled(
                                int(entry["seq"]), str(entry["topic"]), str(entry["body"])
                            )
                            queued[message.seq] = message
                            self._next = max(self._next, message.seq + 1)
                    except (ValueError, KeyError, TypeError):
                        torn += 1  # a line cut short by a crash or a full disk
        except FileNotFoundError:
            pass
        except OSError as err:
            self._stop_writing("reading", err)
            return []
        if torn:
            logger.warning("city MQTT spool %s: %d unreadable line(s) skipped", self.path, torn)
        if self._compaction is None:
            # A crash during a compaction leaves its copy: the file itself is complete.
            with contextlib.suppress(OSError):
                self._copy_path.unlink(missing_ok=True)
        left = sorted(queued.values(), key=lambda m: m.seq)
        if rewrite_body is not None:
            left = [Spooled(m.seq, m.topic, rewrite_body(m)) for m in left]
        self._live = {m.seq: m for m in left}
        self._rewrite()
        return left

    def __len__(self) -> int:
        return len(self._live)

    def add(self, topic: str, body: str) -> int | None:
        """Keep a message until :meth:`done`; its sequence number, or None when the file is
        out of use (the message then lives in memory only)."""
        if self._broken:
            return None
        message = Spooled(self._next, topic, body)
        self._next += 1
        if not self._append(message.line()):
            return None
        self._live[message.seq] = message
        return message.seq

    def done(self, seq: int) -> None:
        """``seq`` was acknowledged by the broker, or dropped from a full queue."""
        if self._live.pop(seq, None) is None or self._broken:
            return
        self._finished_lines += 1
        if not self._live:
            self._empty()
            return
        due = (
            self._compaction is None
            and self._finished_lines > COMPACT_SLACK + COMPACT_RATIO * len(self._live)
            and self._finished_lines >= self._retry_after
        )
        if not due:
            self._append(json.dumps({"done": seq}))
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._rewrite()  # no event loop to hold up (a tool or a test on the file alone)
            return
        # The done line goes to the old file, which stays complete until the new one is in.
        if self._append(json.dumps({"done": seq})):
            self._compact(loop)

    def sync(self) -> None:
        """fsync what was appended; safe from another thread (the file may be closed or
        replaced meanwhile: then the replacement was synced by the rewrite). During a
        compaction both files are synced: a line once on the disk stays there whichever of
        them a power cut leaves."""
        for out in (self._out, self._twin):
            if out is not None:
                with contextlib.suppress(OSError, ValueError):
                    os.fsync(out.fileno())

    def close(self) -> None:
        if self._compaction is not None:
            self._abandon(self._compaction)
        out, self._out = self._out, None
        if out is not None:
            out.close()

    # -- the file --------------------------------------------------------------------------
    def _file(self) -> IO[bytes]:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = open(self.path, "ab", opener=private_opener)  # noqa: SIM115
        return self._out

    def _append(self, line: str) -> bool:
        data = line.encode("utf-8") + b"\n"
        try:
            out = self._file()
            out.write(data)
            out.flush()
        except OSError as err:
            self._stop_writing("writing", err)
            return False
        if self._compaction is not None:
            self._follow(self._compaction, data)
        return True

    def _empty(self) -> None:
        """Nothing left to send. Not synced: a power cut that brings the old lines back costs
        duplicates the hub drops, and this runs once per acknowledged passage."""
        if self._compaction is not None:
            self._abandon(self._compaction)  # an empty file is smaller than any copy
        try:
            self._file().truncate(0)
        except OSError as err:
            self._stop_writing("emptying", err)
            return
        self._finished_lines = 0

    def _rewrite(self) -> None:
        """The file replaced by the live messages alone (empty when none), in place: for load,
        before anything is appended, and for a spool used without an event loop."""
        if self._broken:
            return
        self.close()
        lines = [m.line() + "\n" for m in self._live.values()]
        try:
            if lines or self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                replace_durably(self.path, lines)
        except OSError as err:
            self._stop_writing("rewriting", err)
            return
        self._finished_lines = 0
        self._retry_after = 0

    def _stop_writing(self, doing: str, err: OSError) -> None:
        self._broken = True
        # Closing flushes what the full disk refused again, and fails again: the file is
        # closed all the same, and the message must still reach the queue in memory.
        with contextlib.suppress(OSError):
            self.close()
        logger.error(
            "city MQTT spool %s failed %s (%s): from now on passages and alarms waiting for the "
            "broker are kept in memory only, and a restart during a broker outage loses them",
            self.path, doing, err,
        )

    # -- compaction, off the event loop ----------------------------------------------------
    # Each step runs in a worker thread and hands over to the next on the event loop, where
    # every add and done happens: the snapshot written and synced, then what came meanwhile
    # appended and the copy synced again, then the rename (on the loop, so that no line can
    # fall between the last check and the swap), then the directory synced.
    def _compact(self, loop: asyncio.AbstractEventLoop) -> None:
        job = _Compaction(loop, self._copy_path, self._finished_lines)
        self._compaction = job
        # A list of the (frozen) messages, not their lines: encoding a backlog of several MB
        # is work for the thread too.
        snapshot = list(self._live.values())
        loop.run_in_executor(None, _write_copy, job.copy, snapshot).add_done_callback(
            partial(self._copy_written, job)
        )

    def _follow(self, job: _Compaction, data: bytes) -> None:
        """A line just appended to the file in use, for the compaction's other file."""
        if job.abandoned:
            return
        if job.out is None:
            job.pending.append(data)  # the snapshot is still being written
            return
        twin = self._twin
        if twin is None:
            return
        try:
            twin.write(data)
            twin.flush()
        except OSError as err:
            if job.swapped:
                # The old file, kept only until the rename is synced: the new one has it.
                self._twin = None
                return
            self._abandon(job, f"writing the copy ({err})")

    def _copy_written(self, job: _Compaction, written: asyncio.Future[IO[bytes]]) -> None:
        if written.cancelled():
            self._abandon(job)
            self._discard(job)
            return
        err = written.exception()
        if err is not None:
            self._abandon(job, f"writing the copy ({err})")
            self._discard(job)
            if not isinstance(err, OSError):
                raise err
            return
        job.out = written.result()
        if job.abandoned:
            self._discard(job)
            return
        try:
            job.out.writelines(job.pending)
            job.out.flush()
        except OSError as err:
            self._abandon(job, f"writing the copy ({err})")
            self._discard(job)
            return
        job.pending.clear()
        self._twin = job.out
        job.loop.run_in_executor(None, _sync_file, job.out).add_done_callback(
            partial(self._copy_synced, job)
        )

    def _copy_synced(self, job: _Compaction, synced: asyncio.Future[None]) -> None:
        err = None if synced.cancelled() else synced.exception()
        if job.abandoned or synced.cancelled() or err is not None:
            self._abandon(job, None if err is None else f"syncing the copy ({err})")
            self._discard(job)
            if err is not None and not isinstance(err, OSError):
                raise err
            return
        try:
            os.replace(job.copy, self.path)
        except OSError as err:
            self._abandon(job, f"replacing the file ({err})")
            self._discard(job)
            return
        assert job.out is not None  # set before the sync was started
        job.swapped = True
        job.old, self._out, self._twin = self._out, job.out, self._out
        self._finished_lines -= job.finished_before
        self._retry_after = 0
        logger.debug("city MQTT spool %s compacted to %d message(s)", self.path, len(self._live))
        job.loop.run_in_executor(None, fsync_dir, self.path.parent).add_done_callback(
            partial(self._rename_synced, job)
        )

    def _rename_synced(self, job: _Compaction, synced: asyncio.Future[None]) -> None:
        err = None if synced.cancelled() else synced.exception()
        if err is not None:
            # The new file is in place and complete; a power cut before the directory reaches
            # the disk brings back the old one, complete but for the lines since.
            logger.warning(
                "city MQTT spool %s: the compacted file is in place but its directory could "
                "not be synced (%s)", self.path, err,
            )
        self._discard(job)

    def _abandon(self, job: _Compaction, failure: str | None = None) -> None:
        """Stop feeding ``job``; its files are cleaned up by :meth:`_discard` once no thread
        works on them."""
        if job.abandoned:
            return
        job.abandoned = True
        self._twin = None
        job.pending.clear()
        if failure is None:
            return
        self._retry_after = self._finished_lines + COMPACT_SLACK
        # Not the ERROR of a file out of use: nothing is lost and the old file goes on.
        logger.warning(
            "city MQTT spool %s: compaction failed %s; the file in use is kept as it is, and "
            "compacting is tried again after %d more finished messages",
            self.path, failure, COMPACT_SLACK,
        )

    def _discard(self, job: _Compaction) -> None:
        if self._twin is not None and self._twin in (job.out, job.old):
            self._twin = None
        if not job.swapped and job.out is not None:
            with contextlib.suppress(OSError):
                job.out.close()
            with contextlib.suppress(OSError):
                job.copy.unlink(missing_ok=True)
        if job.old is not None:
            with contextlib.suppress(OSError):
                job.old.close()
        if self._compaction is job:
            self._compaction = None


SPOOL_FILE = "city_mqtt.jsonl"


def open_city_spool(journal_dir: Path, *, durable: bool) -> CitySpool | None:
    """The spool in ``journal_dir``, or None with ``mqtt.durable_queue`` off (a file an earlier
    setting left is removed then: its messages would never be sent)."""
    path = journal_dir / SPOOL_FILE
    if durable:
        return CitySpool(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as err:
        logger.error("cannot remove city MQTT spool %s: %s", path, err)
        return None
    logger.warning(
        "mqtt.durable_queue is off: removed %s with the passages and alarms an earlier run had "
        "not sent to the city broker", path,
    )
    return None
