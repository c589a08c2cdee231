"""The city feed's passages and alarms kept on disk until the broker has acknowledged them.

The city publisher's queue is in memory; this file makes it survive a restart or a crash during
a broker outage. It is a log of JSON lines, appended as messages are queued and finished:

    {"seq": 12, "topic": "parkgate/demo/passages", "body": "{…}"}   queued
    {"done": 12}                                                    acknowledged or dropped
    {"late": 1, "topic": "parkgate/demo/passages", "body": "{…}"}   queued during the load

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

At start the file is read in a worker thread too (:meth:`CitySpool.load_in_background`): after a
long outage it holds many MB, and the gates answer cars meanwhile. What they queue meanwhile
cannot get its number yet (numbers go on from the file's highest, which is still being read),
so it is appended as ``late`` lines numbered 1, 2, …. Whoever reads the file (this load, or
the next start after a crash) gives ``late`` n the number (highest before its ``late`` 1) + n:
the number the running spool gives that message once the read is done, and uses in every line
after. The messages are therefore sent in the order they were queued, whichever start reads
them. Then, if the file held finished messages, a torn line or a plate to mask, it is
compacted as above.

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


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :meth:`CitySpool.load_in_background` hands over once the file is read."""

    left: list[Spooled]  # what an earlier run left unsent, oldest first
    # The number add() returned for each message queued while the file was read, and the
    # number it has from then on (above those of ``left``: sent after them).
    renumbered: dict[int, int]


@dataclass(frozen=True, slots=True)
class _Read:
    """The file as a start finds it."""

    left: list[Spooled]  # not done, oldest first, with ``rewrite_body`` applied
    next: int  # above every number the file holds
    finished: int  # queued lines whose message is done
    torn: int  # unreadable lines (cut short by a crash or a full disk)
    changed: bool  # ``rewrite_body`` changed a body: the file holds the old one


_NOTHING_READ = _Read([], 1, 0, 0, False)


def _late_line(late: int, topic: str, body: str) -> str:
    return json.dumps({"late": late, "topic": topic, "body": body}, ensure_ascii=False)


def _read_file(
    path: Path, limit: int | None, rewrite_body: Callable[[Spooled], str] | None
) -> _Read:
    """The messages in ``path`` (its first ``limit`` bytes when given) not done yet. Pure
    apart from reading: the start runs it in a worker thread."""
    queued: dict[int, Spooled] = {}
    next_seq, late_base, lines, torn = 1, 0, 0, 0
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return _NOTHING_READ
    with f:
        remaining = limit
        for raw in f:
            if remaining is not None:
                if remaining <= 0:
                    break  # appended since the read began: the event loop holds those
                remaining -= len(raw)
            try:
                entry = json.loads(raw)
                if "done" in entry:
                    queued.pop(int(entry["done"]), None)
                    continue
                if "late" in entry:
                    late = int(entry["late"])
                    if late == 1:  # a start's first: its numbers go on from the file's highest
                        late_base = next_seq - 1
                    seq = late_base + late
                else:
                    seq = int(entry["seq"])
                message = Spooled(seq, str(entry["topic"]), str(entry["body"]))
            except (ValueError, KeyError, TypeError):
                torn += 1  # a line cut short by a crash or a full disk
                continue
            queued[seq] = message
            lines += 1
            next_seq = max(next_seq, seq + 1)
    left = sorted(queued.values(), key=lambda m: m.seq)
    changed = False
    if rewrite_body is not None:
        rewritten = []
        for message in left:
            body = rewrite_body(message)
            if body != message.body:
                changed = True
                message = Spooled(message.seq, message.topic, body)
            rewritten.append(message)
        left = rewritten
    return _Read(left, next_seq, lines - len(left), torn, changed)


def _read_at_start(
    path: Path, copy: Path, limit: int, rewrite_body: Callable[[Spooled], str] | None
) -> _Read:
    """In a worker thread: :func:`_read_file`, and a compaction's copy that a crash left
    removed (the file itself is complete)."""
    with contextlib.suppress(OSError):
        copy.unlink(missing_ok=True)
    return _read_file(path, limit, rewrite_body)


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


@dataclass(slots=True, eq=False)
class _Loading:
    """The file being read at start in a worker thread. Changed on the event loop only."""

    then: Callable[[Loaded], None]
    limit: int  # the bytes being read; what is appended after them is queued meanwhile
    # Queued meanwhile, by the number add() returned (its ``late`` line's).
    window: dict[int, Spooled] = field(default_factory=dict)
    next_late: int = 1
    finished: list[int] = field(default_factory=list)  # of those, done meanwhile
    closed: bool = False  # close() was called meanwhile: no more work on the file


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
        self._loading: _Loading | None = None
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

    @property
    def loading(self) -> bool:
        """:meth:`load_in_background` is reading the file."""
        return self._loading is not None

    def load(self, rewrite_body: Callable[[Spooled], str] | None = None) -> list[Spooled]:
        """The messages a previous run left unsent, oldest first; the file is rewritten with
        only those (``rewrite_body`` may change a body first, e.g. mask a plate that an earlier
        setting published in full). On the calling thread: for a tool or a test;
        a controller starts with :meth:`load_in_background`."""
        try:
            read = _read_file(self.path, None, rewrite_body)
        except OSError as err:
            self._stop_writing("reading", err)
            return []
        self._warn_torn(read)
        if self._compaction is None:
            # A crash during a compaction leaves its copy: the file itself is complete.
            with contextlib.suppress(OSError):
                self._copy_path.unlink(missing_ok=True)
        self._next = max(self._next, read.next)
        self._live = {m.seq: m for m in read.left}
        self._rewrite()
        return read.left

    def load_in_background(
        self, then: Callable[[Loaded], None],
        rewrite_body: Callable[[Spooled], str] | None = None,
    ) -> None:
        """:meth:`load` for a controller whose gates already answer: the file is read (and
        ``rewrite_body`` applied) in a worker thread, then compacted off the loop like any
        other. Meanwhile :meth:`add` goes on writing through to the file, with numbers of its
        own; ``then`` gets, on the event loop, what the earlier run left and those numbers'
        new values, before anything else is added. A crash at any moment leaves a file from
        which the next start sends each message once, the earlier run's first."""
        if self._loading is not None or self._live or self._next != 1:
            raise RuntimeError("load_in_background is for a spool not used yet")
        loop = asyncio.get_running_loop()
        loading = _Loading(then, self._open_for_loading())
        self._loading = loading
        loop.run_in_executor(
            None, _read_at_start, self.path, self._copy_path, loading.limit, rewrite_body
        ).add_done_callback(partial(self._loaded, loading, loop))

    def __len__(self) -> int:
        return len(self._live) + (len(self._loading.window) if self._loading else 0)

    def add(self, topic: str, body: str) -> int | None:
        """Keep a message until :meth:`done`; its sequence number, or None when the file is
        out of use (the message then lives in memory only)."""
        if self._broken:
            return None
        loading = self._loading
        if loading is not None:
            late = loading.next_late
            if not self._append(_late_line(late, topic, body)):
                return None
            loading.next_late += 1
            loading.window[late] = Spooled(late, topic, body)
            return late
        message = Spooled(self._next, topic, body)
        self._next += 1
        if not self._append(message.line()):
            return None
        self._live[message.seq] = message
        return message.seq

    def done(self, seq: int) -> None:
        """``seq`` was acknowledged by the broker, or dropped from a full queue."""
        loading = self._loading
        if loading is not None:
            # Its done line needs the number the read will give it: written then.
            if loading.window.pop(seq, None) is not None:
                loading.finished.append(seq)
            return
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
        if self._loading is not None:
            self._loading.closed = True
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
        job = self._compaction
        if job is not None and not job.swapped:
            self._abandon(job)  # an empty file is smaller than any copy
        # Once swapped, the old file goes on getting every line until the rename is on the
        # disk: a power cut before that brings it back, and what is queued next must be in it.
        try:
            self._file().truncate(0)
        except OSError as err:
            self._stop_writing("emptying", err)
            return
        self._finished_lines = 0
        self._retry_after = 0  # a refusal during the last backlog does not put off the next

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

    def _stop_writing(self, doing: str, err: BaseException) -> None:
        self._broken = True
        # Closing flushes what the full disk refused again, and fails again: the file is
        # closed all the same, and the message must still reach the queue in memory.
        with contextlib.suppress(OSError):
            self.close()
        logger.error(
            "city MQTT spool %s failed %s (%s): from now on passages and alarms waiting for the "
            "broker are kept in memory only, and a restart during a broker outage loses them",
            self.path, doing, err,
            # Not a disk's refusal but a fault of the code: its traceback is what tells.
            exc_info=None if isinstance(err, OSError) else err,
        )

    def _warn_torn(self, read: _Read) -> None:
        if read.torn:
            logger.warning(
                "city MQTT spool %s: %d unreadable line(s) skipped", self.path, read.torn
            )

    # -- the load at start, off the event loop ---------------------------------------------
    def _open_for_loading(self) -> int:
        """The file's size, the bytes the worker thread reads; opened for the lines queued
        meanwhile, which must start on a line of their own."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0  # created by the first line queued
        except OSError as err:
            self._stop_writing("reading", err)
            return 0
        if size == 0:
            return 0
        try:
            with self.path.open("rb") as f:  # the spool's own file is write-only
                f.seek(size - 1)
                torn = f.read(1) != b"\n"
            if torn:
                # A line cut short by a crash would swallow the first one appended: it is
                # ended here, and read as the unreadable line it is.
                out = self._file()
                out.write(b"\n")
                out.flush()
                size += 1
        except OSError as err:
            self._stop_writing("writing", err)
        return size

    def _loaded(
        self, loading: _Loading, loop: asyncio.AbstractEventLoop, done: asyncio.Future[_Read]
    ) -> None:
        """On the event loop, the file read: the spool takes it over, and the messages queued
        meanwhile get the numbers their ``late`` lines stand for."""
        self._loading = None
        read = _NOTHING_READ
        err = asyncio.CancelledError() if done.cancelled() else done.exception()
        if err is not None:
            self._stop_writing("reading", err)  # the file stays as it is, for the next start
        else:
            read = done.result()
        self._warn_torn(read)
        base = read.next - 1
        live = {m.seq: m for m in read.left}
        renumbered: dict[int, int] = {}
        for late, message in loading.window.items():
            renumbered[late] = seq = base + late
            live[seq] = Spooled(seq, message.topic, message.body)
        self._live = live
        self._next = base + loading.next_late
        self._finished_lines = read.finished
        if not (self._broken or loading.closed):
            for late in loading.finished:
                if not self._append(json.dumps({"done": base + late})):
                    break  # the file is out of use: nothing more goes to it
                self._finished_lines += 1
        if not (self._broken or loading.closed):
            if not self._live:
                if loading.limit or loading.next_late > 1:
                    self._empty()
            elif self._finished_lines or read.torn or read.changed:
                # Not compacted otherwise: the file holds just what waits, as it should.
                self._compact(loop)
        loading.then(Loaded(read.left, renumbered))

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
