"""The city spool's file read at start in a worker thread, while the gates answer cars.

At start the file is read in a worker thread too (:meth:`CitySpool.load_in_background`): after a
long outage it holds many MB, and the gates answer cars meanwhile. What they queue meanwhile
cannot get its number yet (numbers go on from the file's highest, which is still being read),
so it is appended as ``late`` lines numbered 1, 2, …. Whoever reads the file (this load, or
the next start after a crash) gives ``late`` n the number (highest before its ``late`` 1) + n:
the number the running spool gives that message once the read is done, and uses in every line
after. The messages are therefore sent in the order they were queued, whichever start reads
them. Then, if the file held finished messages, a torn line or a plate to mask, it is
compacted (services/city_spool_compaction.py).

This module holds that load as :class:`LoadsInBackground`, a part of the spool; what
:meth:`CitySpool.add` and :meth:`CitySpool.done` do meanwhile is theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from services.city_spool_file import NOTHING_READ, FileRead, Spooled, read_file


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :meth:`CitySpool.load_in_background` hands over once the file is read."""

    left: list[Spooled]  # what an earlier run left unsent, oldest first
    # The number add() returned for each message queued while the file was read, and the
    # number it has from then on (above those of ``left``: sent after them).
    renumbered: dict[int, int]


@dataclass(slots=True, eq=False)
class Loading:
    """The file being read at start in a worker thread. Changed on the event loop only."""

    then: Callable[[Loaded], None]
    limit: int  # the bytes being read; what is appended after them is queued meanwhile
    # Queued meanwhile, by the number add() returned (its ``late`` line's).
    window: dict[int, Spooled] = field(default_factory=dict)
    next_late: int = 1
    finished: list[int] = field(default_factory=list)  # of those, done meanwhile
    closed: bool = False  # close() was called meanwhile: no more work on the file


def read_at_start(
    path: Path, copy: Path, limit: int, rewrite_body: Callable[[Spooled], str] | None
) -> FileRead:
    """In a worker thread: :func:`read_file`, and a compaction's copy that a crash left
    removed (the file itself is complete)."""
    with contextlib.suppress(OSError):
        copy.unlink(missing_ok=True)
    return read_file(path, limit, rewrite_body)


class LoadsInBackground:
    """The load at start of :class:`services.city_spool.CitySpool`, which keeps the state it
    uses (set in its ``__init__``) and lends it the steps below."""

    path: Path
    _live: dict[int, Spooled]
    _next: int
    _finished_lines: int
    _loading: Loading | None
    _broken: bool
    _copy_path: Path
    _file: Callable[[], IO[bytes]]
    _append: Callable[[str], bool]
    _empty: Callable[[], None]
    _stop_writing: Callable[[str, BaseException], None]
    _warn_torn: Callable[[FileRead], None]
    _compact: Callable[[asyncio.AbstractEventLoop], None]

    @property
    def loading(self) -> bool:
        """:meth:`load_in_background` is reading the file."""
        return self._loading is not None

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
        loading = Loading(then, self._open_for_loading())
        self._loading = loading
        loop.run_in_executor(
            None, read_at_start, self.path, self._copy_path, loading.limit, rewrite_body
        ).add_done_callback(partial(self._loaded, loading, loop))

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
        self, loading: Loading, loop: asyncio.AbstractEventLoop, done: asyncio.Future[FileRead]
    ) -> None:
        """On the event loop, the file read: the spool takes it over, and the messages queued
        meanwhile get the numbers their ``late`` lines stand for."""
        self._loading = None
        read = NOTHING_READ
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
