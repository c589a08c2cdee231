"""The city feed's passages and alarms kept on disk until the broker has acknowledged them.

The city publisher's queue is in memory; this file makes it survive a restart or a crash during
a broker outage. It is a log of JSON lines, appended as messages are queued and finished (their
format, and how a start reads them: services/city_spool_file.py).

What is queued and not done is sent again at the next start, in ``seq`` order, before anything
new: at least once, so a hub de-duplicates passages and alarms by ``id`` and ``at``
(docs/mqtt.md asks that already, for QoS 1). Every line is written through to the operating
system at once, which keeps it across a crash of the process; :meth:`CitySpool.sync` (run off
the event loop by the publisher, a moment later) puts queued lines on the disk against a power
cut. ``done`` lines are never synced on their own: losing one costs a duplicate, never a
message. When nothing is left to send the file is emptied; while a long outage keeps messages
waiting it is rewritten with only those once the finished lines far outnumber them (at most
once while a backlog of any size drains, and then of under a fifth of it).

That rewrite (a compaction) is written and synced in a worker thread, never on the event loop
(services/city_spool_compaction.py); at start the file is read in a worker thread too
(services/city_spool_load.py). Each says why a crash at any point leaves a complete file.

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
from pathlib import Path
from typing import IO

from services.city_spool_compaction import (
    COMPACT_RATIO,
    COMPACT_SLACK,
    Compaction,
    CompactsOffTheLoop,
)
from services.city_spool_file import FileRead, Spooled, late_line, read_file
from services.city_spool_load import Loaded, Loading, LoadsInBackground
from services.passage_journal import private_opener, replace_durably

# The spool's names as services/city_mqtt.py, services/container.py and the tests import them.
__all__ = [
    "COMPACT_RATIO",
    "COMPACT_SLACK",
    "SPOOL_FILE",
    "CitySpool",
    "Loaded",
    "Spooled",
    "open_city_spool",
]

logger = logging.getLogger(__name__)


class CitySpool(LoadsInBackground, CompactsOffTheLoop):
    """Append-only record of the event messages not yet acknowledged by the city broker.

    Call from one thread (the event loop), except :meth:`sync`. Its read at start
    (:class:`LoadsInBackground`) and its compaction (:class:`CompactsOffTheLoop`) are in modules
    of their own; the state they work on is kept here.
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
        self._compaction: Compaction | None = None
        self._retry_after = 0  # finished lines before a refused compaction is tried again
        self._loading: Loading | None = None
        self._broken = False

    def load(self, rewrite_body: Callable[[Spooled], str] | None = None) -> list[Spooled]:
        """The messages a previous run left unsent, oldest first; the file is rewritten with
        only those (``rewrite_body`` may change a body first, e.g. mask a plate that an earlier
        setting published in full). On the calling thread: for a tool or a test;
        a controller starts with :meth:`load_in_background`."""
        try:
            read = read_file(self.path, None, rewrite_body)
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
            if not self._append(late_line(late, topic, body)):
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

    def _warn_torn(self, read: FileRead) -> None:
        if read.torn:
            logger.warning(
                "city MQTT spool %s: %d unreadable line(s) skipped", self.path, read.torn
            )


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
