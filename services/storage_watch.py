"""Watches the data directory's free space: deletes the oldest snapshots when it runs low,
keeps the space reserve, and tells the guards (``disk_low``, ``disk_full`` alarms).

Every ``storage.check_s``, and at once when a write finds the disk full. An alarm is raised
when its state begins, not once per check: a full disk must not fill the alarm list or the
log. Both are site alarms (no gate), stored, or journalled and published at once while the
database itself cannot take them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from controllers.runtime import GateRuntime
from errors import StoreUnavailableError
from models.events import Alarm, Passage
from services.disk_space import MB, DiskSpace
from services.snapshots import SnapshotStore
from task_cancel import cancel_and_wait

logger = logging.getLogger(__name__)

DISK_LOW = "disk_low"
DISK_FULL = "disk_full"
# A cleanup frees this share of min_free_mb beyond the line: freed to the line exactly, the
# next car's snapshot put the disk below it again, so every check deleted (and logged) a
# file or two and the cars between two checks lost their snapshots.
HEADROOM = 0.1


def same_disk(path: Path, other: Path) -> bool:
    """Whether two paths are on one file system (a path not made yet counts as data_dir's:
    the snapshot folder is created under it)."""
    try:
        return path.stat().st_dev == other.stat().st_dev
    except OSError:
        return True


def snapshots_in_use(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return snapshot_paths_in_use(session)


def snapshot_paths_in_use(session: Session) -> set[str]:
    """The snapshots a guard still needs: of passages waiting in the review queue and of
    passages whose alarm is not acknowledged (the alarm list's 抓拍). Kept by the low-space
    cleanup and by a resident's request to delete their gate photos."""
    waiting = select(Passage.snapshot_path).where(
        Passage.decision == "review", Passage.resolution.is_(None),
        Passage.snapshot_path.is_not(None),
    )
    alarmed = (
        select(Passage.snapshot_path).join(Alarm, Alarm.passage_id == Passage.id)
        .where(Alarm.acknowledged_at.is_(None), Passage.snapshot_path.is_not(None))
    )
    return {p for p in session.scalars(waiting.union(alarmed)) if p is not None}


class StorageWatch:
    def __init__(
        self, space: DiskSpace, snapshots: SnapshotStore, runtime: GateRuntime,
        in_use: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self._space = space
        self._snapshots = snapshots
        self._runtime = runtime
        # Which snapshots must stay (snapshots_in_use); None: no database to ask.
        self._in_use = in_use
        self._in_use_unknown = False
        self._elsewhere_said = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._low = False
        self._full = False
        space.add_listener(self._poke)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="storage-watch")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _poke(self) -> None:
        """From any thread: a write found the disk full; check now, not at the next tick."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self.check()
            except Exception:  # a bug here must not end the watch
                logger.exception("free-space check failed; trying again")
            # Not asyncio.wait_for: on Python 3.11 it returns when the wake comes as this task
            # is cancelled and drops the cancel, so the watch checked on and stop() never
            # returned. asyncio.timeout raises the cancel at the next await.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._space.config.check_s):
                    await self._wake.wait()
            self._wake.clear()

    async def check(self) -> None:
        """Free space for the records if it is low, take the reserve back if there is room,
        and raise or clear the alarms."""
        space = self._space
        removed = 0
        full = space.status().full
        if space.low() or full:
            keep = await asyncio.to_thread(self._kept)
            # Not knowing which snapshots a guard still needs, only a write already refused
            # (records before evidence) deletes any; a disk merely low waits for the database.
            # Snapshots on a disk of their own free nothing on data_dir's; a refused write may
            # have been theirs, on their disk, which deleting does help.
            if (keep is not None or full) and (full or await asyncio.to_thread(self._helps)):
                headroom = int(space.config.min_free_mb * MB * HEADROOM)
                removed, _ = await asyncio.to_thread(
                    self._snapshots.free_up,
                    max(space.needed_bytes() + headroom, space.config.reserve_mb * MB),
                    keep or frozenset(),
                )
        await asyncio.to_thread(space.keep_reserve)
        status = space.status()
        # Said even when the room is back by now: a refused write is worth the office's
        # attention however briefly it lasted.
        if status.full and not self._full:
            await self._runtime.raise_alarm(
                DISK_FULL,
                f"data disk full ({status.free_mb:.0f} MB free): a write was refused"
                + ("; the space reserve was given up so passages are still recorded"
                   if space.config.reserve_mb and not status.reserve_held else "")
                + (f"; {removed} oldest snapshots deleted" if removed else "")
                + ". Free space on the controller's disk.",
                once_per_gate=True,
            )
        full = status.full and not space.space_back()
        low = status.low
        if low and not self._low and not full:
            await self._runtime.raise_alarm(
                DISK_LOW,
                f"data disk low: {status.free_mb:.0f} MB free, below storage.min_free_mb "
                f"({status.min_free_mb} MB); new snapshots are not saved"
                + (f" and the {removed} oldest were deleted" if removed else "")
                + "; passages are still recorded.",
                once_per_gate=True,
            )
        if (self._low and not low) or (self._full and not full):
            logger.info("data disk has room again: %.0f MB free", status.free_mb)
        elif low and not self._low:
            logger.warning("data disk low: %.0f MB free (storage.min_free_mb %d)",
                           status.free_mb, status.min_free_mb)
        self._low, self._full = low, full

    def _helps(self) -> bool:
        """Whether deleting snapshots frees room on data_dir's disk (logged once if not)."""
        helps = same_disk(self._snapshots.root, self._space.data_dir)
        if not helps and not self._elsewhere_said:
            logger.warning("data disk low, but the snapshots in %s are on another disk: none "
                           "is deleted for data_dir's space", self._snapshots.root)
        self._elsewhere_said = not helps
        return helps

    def _kept(self) -> Collection[str] | None:
        """The snapshots the cleanup must leave, or None when the database cannot say."""
        if self._in_use is None:
            return frozenset()
        try:
            keep = self._in_use()
        except (SQLAlchemyError, StoreUnavailableError) as err:
            if not self._in_use_unknown:
                logger.warning("disk low and the database cannot say which snapshots the "
                               "review queue and open alarms need (%s): none is deleted for "
                               "space unless a write is refused", err)
            self._in_use_unknown = True
            return None
        self._in_use_unknown = False
        return keep
