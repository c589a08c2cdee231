"""Free space on the data directory's disk, for the records that must not be lost.

Everything parkgate keeps lives under ``data_dir``, usually on one SD card or small SSD, and
snapshots are what fills it. Passages come first: below ``storage.min_free_mb`` free the
oldest snapshots are deleted (only images: a passage's record is never touched; its row then
says the snapshot is gone, as after retention) and new snapshots are not written while the
space stays low, so the database and the journals keep room. The office learns of it before
anything is lost: a ``disk_low`` alarm and ``/healthz`` ``storage``.

A disk that fills anyway (logs, another program, a card smaller than planned) would leave the
journal, the last place a passage can be kept, unwritable: then no car could be let in. So
``storage.reserve_mb`` are held in ``data_dir/space.reserve``; the first write the disk refuses
(ENOSPC, EDQUOT) gives it up and is tried again, and a ``disk_full`` alarm says so. The
reserve is taken again once there is room for it. EFBIG (a file-size limit such as
RLIMIT_FSIZE) is not a full disk: giving up the reserve would not help it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# ENOSPC: the file system is full; EDQUOT: the user's quota is. Both are "no room".
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_free_mb: int = Field(
        200,
        description=(
            "Below this much free space on data_dir's disk: a disk_low alarm, /healthz "
            "storage.low (status degraded), the oldest snapshots are deleted until it is free "
            "again (passages are kept; only their images go), and no new snapshot is written "
            "meanwhile. 0 turns the watch off."
        ),
        ge=0,
    )
    reserve_mb: int = Field(
        8,
        description=(
            "Held in data_dir/space.reserve and given up when the disk is full, so "
            "passages can still be recorded (about 1 KB each). 0: no reserve."
        ),
        ge=0,
    )
    check_s: float = Field(
        60.0, description="How often free space is measured (and snapshots deleted when low).",
        gt=0,
    )


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` is the disk (or the user's quota) having no room left."""
    return isinstance(err, OSError) and err.errno in _NO_ROOM


@dataclass(frozen=True, slots=True)
class StorageStatus:
    free_mb: float
    min_free_mb: int
    low: bool  # free space below min_free_mb
    full: bool  # a write was refused for want of room since space was last enough
    reserve_held: bool


class DiskSpace:
    """The data directory's free space, the reserve, and whether a write found it full."""

    def __init__(
        self, data_dir: Path, config: StorageConfig,
        usage: Callable[[Path], int] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        # Beside the journal directory, not in it: backups copy journal/ and need not copy this.
        self.reserve_path = data_dir / "space.reserve"
        self._reserve_tmp = self.reserve_path.with_name("space.reserve.tmp")
        self._usage = usage or _free_bytes
        self._lock = threading.Lock()
        self._full = False
        self._reserve_failing = False
        self._listeners: list[Callable[[], None]] = []

    def free_bytes(self) -> int:
        try:
            return self._usage(self.data_dir)
        except OSError:  # data_dir not there yet: nothing measured, nothing to say
            return 1 << 62

    def low(self) -> bool:
        """Below ``min_free_mb`` (cheap: one statvfs); always False with the watch off."""
        minimum = self.config.min_free_mb * MB
        return minimum > 0 and self.free_bytes() < minimum

    def needed_bytes(self) -> int:
        """How much must be freed to be back at ``min_free_mb``; 0 when there is enough."""
        return max(0, self.config.min_free_mb * MB - self.free_bytes())

    def status(self) -> StorageStatus:
        free = self.free_bytes()
        return StorageStatus(
            free_mb=round(free / MB, 1),
            min_free_mb=self.config.min_free_mb,
            low=self.config.min_free_mb > 0 and free < self.config.min_free_mb * MB,
            full=self._full,
            reserve_held=self.reserve_path.exists(),
        )

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called (from any thread) when a write finds the disk full."""
        self._listeners.append(listener)

    def note_full(self, err: OSError) -> bool:
        """A write was refused with ``err``; True when that is a full disk (noted, and
        the listeners told)."""
        if not is_disk_full(err):
            return False
        self._full = True
        for listener in self._listeners:
            listener()
        return True

    def refused(self, err: OSError) -> bool:
        """A record's write was refused with ``err``. For a full disk: gives up the reserve
        and returns True when that made room (the caller tries once more)."""
        if not self.note_full(err):
            return False
        size = 0
        found = False
        with self._lock:
            # The half-taken reserve of a run that crashed (or lost power) while writing it
            # holds room as well; with the lock held, no reserve of ours is being written now.
            for path in (self.reserve_path, self._reserve_tmp):
                try:
                    size += path.stat().st_size
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as gone:
                    logger.error("disk full and the space reserve %s cannot be given up: %s",
                                 path, gone)
                    continue
                found = True
        if not found:
            return False
        logger.error("disk of %s is full (%s): gave up the %.1f MB reserve so passages can "
                     "still be recorded; free space is needed", self.data_dir, err, size / MB)
        return True

    def space_back(self) -> bool:
        """Whether a full disk has room again (clears ``full``; True on the change): its
        reserve is held again (:meth:`keep_reserve`), or without one, a megabyte is free.
        Still being low is said by ``low``."""
        if not self._full:
            return False
        if self.config.reserve_mb and not self.reserve_path.exists():
            return False
        if self.free_bytes() < MB:
            return False
        self._full = False
        return True

    def keep_reserve(self) -> None:
        """Take the reserve (again) when there is room for it twice over: held back, never
        at the cost of the space it is there to protect."""
        size = self.config.reserve_mb * MB
        if size == 0 or self.reserve_path.exists() or self.free_bytes() < 2 * size:
            return
        with self._lock:
            self.reserve_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._reserve_tmp
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    _allocate(fd, size)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.reserve_path)
            except OSError as err:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
                # Once per streak: a card the kernel remounted read-only, or a quota that
                # statvfs does not show, refuses it at every check (check_s) for as long as
                # it lasts.
                logger.log(logging.DEBUG if self._reserve_failing else logging.WARNING,
                           "space reserve %s not taken: %s", self.reserve_path, err)
                self._reserve_failing = True
            else:
                self._reserve_failing = False


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def _allocate(fd: int, size: int) -> None:
    """Real blocks, not a sparse file: the reserve must free space when it is deleted."""
    try:
        os.posix_fallocate(fd, 0, size)
    except (AttributeError, OSError) as err:
        if isinstance(err, OSError) and is_disk_full(err):
            raise
    if os.fstat(fd).st_blocks * 512 >= size:
        return
    # No fallocate, or glibc's stand-in for one (ZFS) writing zeros, which a compressing file
    # system keeps as holes: a reserve of nothing. Bytes that do not compress hold the room.
    block = os.urandom(MB)
    os.lseek(fd, 0, os.SEEK_SET)
    for _ in range(size // MB):
        os.write(fd, block)
