"""Passage snapshots on disk, written atomically, deleted after the retention period (PIPL).

A snapshot is evidence, the passage is the record: a snapshot that cannot be written (a full
disk, a broken card) never stops its passage being decided, recorded and let through. The
passage is stored without one and its details say why (``snapshot``). When the disk runs low
(services/disk_space.py) the oldest snapshots go first, before their retention period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from errors import NotFoundError
from services.disk_space import DiskSpace
from wall_clock import utcnow

logger = logging.getLogger(__name__)

SNAPSHOT_NOT_SAVED = "not saved"
# Never deleted for space, however low it runs: the car may still be at the gate or waiting
# in the review queue, its passage may not be committed yet (the snapshot is written first),
# and "the car just now" is what a guard is asked about. Deleting today's evidence to make
# room for more of today's gains nothing; passages are recorded without snapshots meanwhile.
KEEP_NEWEST_S = 3600.0
# A .tmp older than this is a write a crash or a power cut interrupted: half an image, still
# personal information, which no reader will ever use.
STALE_TMP_S = 600.0


class SnapshotStore:
    def __init__(self, root: Path, space: DiskSpace | None = None) -> None:
        self.root = root.resolve()
        self._space = space
        # Set while saving fails: the cause is logged once, not for every car.
        self._failing = False
        # The .tmp files of saves in progress: never stale, whatever their time says. A
        # clock stepped forward (NTP after a board booted with the wrong time) made a file
        # being written look older than STALE_TMP_S, and retention deleted it mid-save.
        self._writing: set[Path] = set()

    def save_for_passage(
        self, gate_id: str, at: datetime, jpeg: bytes
    ) -> tuple[str | None, str | None]:
        """:meth:`save`, for a passage that goes on without its snapshot if need be: the
        path, or None and why it was not saved (for the passage's details)."""
        if self._space is not None and self._space.low():
            # The room left is for the passages' records (database, journal).
            self._not_saved("disk space low", None)
            return None, f"{SNAPSHOT_NOT_SAVED}: disk space low"
        try:
            path = self.save(gate_id, at, jpeg)
        except OSError as err:
            if self._space is not None:
                self._space.note_full(err)
            self._not_saved(str(err), err)
            return None, f"{SNAPSHOT_NOT_SAVED}: {err.strerror or err}"
        if self._failing:
            self._failing = False
            logger.info("snapshots are saved again in %s", self.root)
        return path, None

    def _not_saved(self, why: str, err: OSError | None) -> None:
        if not self._failing:
            self._failing = True
            logger.error("snapshots not saved in %s (%s): passages are recorded without "
                         "them until this is fixed", self.root, why, exc_info=err)

    def save(self, gate_id: str, at: datetime, jpeg: bytes) -> str:
        """Write the snapshot and return its path relative to the store's root."""
        relative = Path(at.strftime("%Y/%m/%d")) / (
            f"{at.strftime('%H%M%S')}-{gate_id}-{secrets.token_hex(4)}.jpg"
        )
        target = self.root / relative
        tmp = target.with_suffix(".tmp")
        self._writing.add(tmp)
        try:
            with self._created(tmp) as f:
                f.write(jpeg)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            # Half a JPEG left behind on a full disk would hold the very space it lacked.
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        finally:
            self._writing.discard(tmp)
        # Dated by the passage, not by the system clock: retention and free_up go by a file's
        # time, and a system clock running behind (wall_clock.py) stamped it years early, so
        # it was deleted as soon as the clock was right again. After the rename: the file is
        # saved whatever happens here, and its passage must point to it.
        stamp = at.timestamp()
        try:
            os.utime(target, (stamp, stamp))
        except OSError as err:
            logger.warning("snapshot %s keeps the system clock's time (%s)", relative, err)
        return relative.as_posix()

    @staticmethod
    def _created(tmp: Path) -> BinaryIO:
        """``tmp`` opened for writing, its day folder made first. Retention removes a day
        folder once it is empty and past the retention period; a passage of that day written
        back late (the offline journal) may have made it just before: made again, once."""
        for attempt in (1, 2):
            tmp.parent.mkdir(parents=True, exist_ok=True)
            try:
                return open(tmp, "wb")
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def path(self, relative: str) -> Path:
        candidate = (self.root / relative).resolve()
        # A stored path can never point outside the snapshot folder.
        if self.root not in candidate.parents or not candidate.is_file():
            raise NotFoundError("snapshot not found (deleted by retention or never taken)")
        return candidate

    def purge_older_than(self, days: int, *, now: float | None = None) -> int:
        # Images carry their passage's time (save); a half-written .tmp the system clock's.
        system = now if now is not None else time.time()
        now = now if now is not None else utcnow().timestamp()
        cutoff = now - days * 86400
        removed = 0
        for file in self.root.rglob("*.jpg"):
            try:
                if file.stat().st_mtime >= cutoff:
                    continue
                file.unlink()
            except FileNotFoundError:
                # Deleted since it was listed, by the low-space cleanup (free_up) that runs
                # beside this, oldest first as well: the one missing file ended the whole
                # pass, and every expired snapshot after it was kept another hour.
                continue
            removed += 1
        if removed:
            logger.info("retention removed %d snapshots older than %d days", removed, days)
        self._remove_stale_tmp(system - max(days * 86400, STALE_TMP_S))
        self._remove_empty_folders(datetime.fromtimestamp(cutoff, UTC).date())
        return removed

    def _remove_empty_folders(self, cutoff: date) -> None:
        """Remove the day, month and year folders emptied by retention, those wholly before
        ``cutoff``'s day (less a day for a passage's own time zone): a year of them is 365
        folders every retention pass and every low-space cleanup walks again. A folder that
        is not empty is left (``rmdir`` refuses it), so a file is never lost here."""
        last = cutoff - timedelta(days=2)
        for year in self._numbered(self.root, 4):
            for month in self._numbered(year, 2):
                for day in self._numbered(month, 2):
                    if _folder_date(year, month, day) <= last:
                        _remove_if_empty(day)
                if _folder_date(year, month, None) < last.replace(day=1):
                    _remove_if_empty(month)
            if int(year.name) < last.year:
                _remove_if_empty(year)

    @staticmethod
    def _numbered(folder: Path, digits: int) -> list[Path]:
        try:
            entries = list(folder.iterdir())
        except OSError:
            return []
        return [entry for entry in entries if len(entry.name) == digits
                and entry.name.isdigit() and entry.is_dir()]

    def _remove_stale_tmp(self, before: float) -> int:
        """Delete the half-written files of interrupted saves older than ``before``; returns
        the bytes freed."""
        freed = 0
        for file in self.root.rglob("*.tmp"):
            if file in self._writing:
                continue
            try:
                stat = file.stat()
                if stat.st_mtime >= before:
                    continue  # possibly a save in progress
                file.unlink()
            except FileNotFoundError:
                continue
            freed += stat.st_blocks * 512 or stat.st_size
        return freed

    def free_up(
        self, needed: int, keep: Collection[str] = frozenset(), *, now: float | None = None
    ) -> tuple[int, int]:
        """Delete the oldest snapshots until ``needed`` bytes are freed (or none is left):
        for the passages' records when the disk runs low. Only images: the passages keep
        their rows. Never ``keep`` (paths relative to the root: a passage waiting for review,
        an open alarm's 抓拍) nor one written in the last ``KEEP_NEWEST_S``. Returns (files
        removed, bytes freed)."""
        if needed <= 0 or not self.root.is_dir():
            return 0, 0
        system = now if now is not None else time.time()
        now = now if now is not None else utcnow().timestamp()
        freed = self._remove_stale_tmp(system - STALE_TMP_S)
        removed = 0
        newest_kept = now - KEEP_NEWEST_S
        # Their paths sort by time: YYYY/MM/DD/HHMMSS-gate-….jpg
        for file in sorted(self.root.rglob("*.jpg")):
            if freed >= needed:
                break
            if file.relative_to(self.root).as_posix() in keep:
                continue
            try:
                stat = file.stat()
                if stat.st_mtime >= newest_kept:
                    continue
                file.unlink()
            except FileNotFoundError:
                continue
            removed += 1
            freed += stat.st_blocks * 512 or stat.st_size
        if removed:
            logger.warning("disk space low: removed the %d oldest snapshots (%.1f MB) before "
                           "their retention period; passages are kept", removed, freed / 2**20)
        return removed, freed


def _folder_date(year: Path, month: Path, day: Path | None) -> date:
    try:
        return date(int(year.name), int(month.name), int(day.name) if day else 1)
    except ValueError:
        return date.max  # not a folder save() makes: never removed


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty, or already gone
        folder.rmdir()
