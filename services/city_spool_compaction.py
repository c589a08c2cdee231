"""The city spool's file rewritten with only the messages still waiting, off the event loop.

The rewrite (a compaction) is written and synced in a worker thread, never on the event loop:
after a long outage it is an fsync of several MB, which would hold up every gate. Meanwhile the
old file stays the one in use and complete, and what is appended to it goes to the new one
too: kept in memory until the copy of the waiting messages is written, then written to both
files (:meth:`CitySpool.sync` syncs both) until the new one has replaced the old and that
rename is on the disk. A crash at any point therefore leaves the old file or the new one, each
complete; a compaction the disk refuses is given up with a WARNING, the old file goes on, and
it is tried again after :data:`COMPACT_SLACK` more finished lines.

When one is due is the spool's to say (:meth:`services.city_spool.CitySpool.done`, and the end
of the load at start); this module holds the steps, as :class:`CompactsOffTheLoop`, a part of
the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from services.city_spool_file import Spooled
from services.passage_journal import fsync_dir, private_opener

# The spool's own logger, whichever of its modules speaks: its messages are one feed's.
logger = logging.getLogger("services.city_spool")

# The file is rewritten once its finished lines outnumber COMPACT_SLACK + COMPACT_RATIO times
# the live ones: a dropping outage stays bounded, a drain after one rewrites only its tail.
# A compaction the disk refused is tried again COMPACT_SLACK finished lines later, not at
# every acknowledgement.
COMPACT_SLACK = 1000
COMPACT_RATIO = 4


@dataclass(slots=True, eq=False)
class Compaction:
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


def write_copy(copy: Path, messages: list[Spooled]) -> IO[bytes]:
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


class CompactsOffTheLoop:
    """The compaction steps of :class:`services.city_spool.CitySpool`, which keeps the state
    they use (set in its ``__init__``) and calls :meth:`_compact`, :meth:`_follow` and
    :meth:`_abandon`."""

    path: Path
    _live: dict[int, Spooled]
    _finished_lines: int
    _out: IO[bytes] | None
    _twin: IO[bytes] | None
    _compaction: Compaction | None
    _retry_after: int

    @property
    def compacting(self) -> bool:
        """A compaction is under way in a worker thread (or being cleaned up after)."""
        return self._compaction is not None

    @property
    def _copy_path(self) -> Path:
        # Not replace_durably's ``.tmp``: load() may rewrite with that while a compaction
        # that close() gave up is still writing in its thread.
        return self.path.with_name(f"{self.path.stem}.compacting.tmp")

    # Each step runs in a worker thread and hands over to the next on the event loop, where
    # every add and done happens: the snapshot written and synced, then what came meanwhile
    # appended and the copy synced again, then the rename (on the loop, so that no line can
    # fall between the last check and the swap), then the directory synced.
    def _compact(self, loop: asyncio.AbstractEventLoop) -> None:
        job = Compaction(loop, self._copy_path, self._finished_lines)
        self._compaction = job
        # A list of the (frozen) messages, not their lines: encoding a backlog of several MB
        # is work for the thread too.
        snapshot = list(self._live.values())
        loop.run_in_executor(None, write_copy, job.copy, snapshot).add_done_callback(
            partial(self._copy_written, job)
        )

    def _follow(self, job: Compaction, data: bytes) -> None:
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

    def _copy_written(self, job: Compaction, written: asyncio.Future[IO[bytes]]) -> None:
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

    def _copy_synced(self, job: Compaction, synced: asyncio.Future[None]) -> None:
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

    def _rename_synced(self, job: Compaction, synced: asyncio.Future[None]) -> None:
        err = None if synced.cancelled() else synced.exception()
        if err is not None:
            # The new file is in place and complete; a power cut before the directory reaches
            # the disk brings back the old one, complete but for the lines since.
            logger.warning(
                "city MQTT spool %s: the compacted file is in place but its directory could "
                "not be synced (%s)", self.path, err,
            )
        self._discard(job)

    def _abandon(self, job: Compaction, failure: str | None = None) -> None:
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

    def _discard(self, job: Compaction) -> None:
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
