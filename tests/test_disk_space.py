"""The data disk's free space: the reserve is real blocks and is given up only for a full
disk; the oldest snapshots are the ones deleted when space is low; a snapshot that cannot be
written does not leave half of itself behind."""

from __future__ import annotations

import asyncio
import errno
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from errors import StoreUnavailableError
from services import disk_space as disk_space_module
from services import snapshots as snapshots_module
from services import storage_watch as storage_watch_module
from services.disk_space import MB, DiskSpace, StorageConfig, is_disk_full
from services.snapshots import SnapshotStore
from services.storage_watch import StorageWatch


def test_the_reserve_holds_real_blocks_and_a_full_disk_gives_it_up(tmp_path: Path) -> None:
    space = DiskSpace(tmp_path, StorageConfig(reserve_mb=2, min_free_mb=0))
    space.keep_reserve()
    held = space.reserve_path.stat()
    assert held.st_size == 2 * MB and held.st_blocks * 512 >= 2 * MB  # not a sparse file
    assert space.status().reserve_held

    # A file-size limit (RLIMIT_FSIZE answers EFBIG) is not a full disk: nothing to give up.
    assert not space.refused(OSError(errno.EFBIG, os.strerror(errno.EFBIG)))
    assert space.reserve_path.exists() and not space.status().full

    told: list[bool] = []
    space.add_listener(lambda: told.append(True))
    assert space.refused(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert not space.reserve_path.exists() and told == [True]
    assert space.status().full and not space.status().reserve_held
    # Nothing left to give up: the caller's write has failed for good.
    assert not space.refused(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    assert not space.space_back()  # still full until the reserve is held again
    space.keep_reserve()
    assert space.space_back() and not space.status().full


def test_no_reserve_is_taken_where_it_would_eat_the_room_it_protects(tmp_path: Path) -> None:
    space = DiskSpace(tmp_path, StorageConfig(reserve_mb=8), usage=lambda _: 10 * MB)
    space.keep_reserve()
    assert not space.reserve_path.exists()


@pytest.mark.parametrize(("err", "full"), [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EFBIG, "File too large"), False),
    (OSError(errno.EIO, "Input/output error"), False),
    (ValueError("not an OSError"), False),
])
def test_what_counts_as_a_full_disk(err: BaseException, full: bool) -> None:
    assert is_disk_full(err) is full


def _snapshot(store: SnapshotStore, day: int, size: int) -> Path:
    relative = store.save("main-in", datetime(2026, 5, day, 8, 0, tzinfo=UTC), b"\xff" * size)
    return store.root / relative


def test_low_space_deletes_the_oldest_snapshots_first(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    # Written a day ago: the last hour's are never deleted for space.
    files = [_aged(_snapshot(store, day, 64 * 1024), 24) for day in (3, 1, 4, 2)]
    removed, freed = store.free_up(100 * 1024)
    assert (removed, freed >= 100 * 1024) == (2, True)
    assert [f.exists() for f in files] == [True, False, True, False]  # May 1 and 2 went
    assert store.free_up(0) == (0, 0)


def test_a_snapshot_the_disk_refuses_leaves_nothing_and_the_passage_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = DiskSpace(tmp_path, StorageConfig(min_free_mb=0, reserve_mb=0))
    store = SnapshotStore(tmp_path / "snapshots", space)
    real_open = open

    class Refusing:
        """A file on a disk with no room: the open works, the write does not."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            self._file = real_open(*args, **kwargs)  # type: ignore[call-overload]

        def __enter__(self) -> Refusing:
            return self

        def __exit__(self, *exc: object) -> None:
            self._file.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(snapshots_module, "open", Refusing, raising=False)
    path, why = store.save_for_passage("main-in", datetime.now(UTC), b"\xff" * 1000)
    assert path is None and why == "not saved: No space left on device"
    assert list((tmp_path / "snapshots").rglob("*.*")) == []  # no half-written .tmp
    assert space.status().full

    monkeypatch.undo()
    path, why = store.save_for_passage("main-in", datetime.now(UTC), b"\xff" * 1000)
    assert why is None and path is not None and store.path(path).stat().st_size == 1000


def test_below_the_threshold_no_new_snapshot_is_written(tmp_path: Path) -> None:
    space = DiskSpace(tmp_path, StorageConfig(min_free_mb=100), usage=lambda _: 50 * MB)
    store = SnapshotStore(tmp_path / "snapshots", space)
    path, why = store.save_for_passage("main-in", datetime.now(UTC), b"\xff" * 1000)
    assert (path, why) == (None, "not saved: disk space low")
    assert space.status().low and not space.status().full


def test_a_reserve_half_taken_before_a_crash_is_given_up_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Power lost while the reserve was being written leaves its temporary file and no
    space.reserve; the disk is then full at the restart (no room to take it again). That file
    is room the journal can have: without it the car's passage could not be recorded."""
    space = DiskSpace(tmp_path, StorageConfig(reserve_mb=2, min_free_mb=0))

    def power_cut(fd: int, size: int) -> None:
        os.write(fd, b"\0" * MB)
        raise SystemExit("power cut")  # nothing after this line of keep_reserve runs

    monkeypatch.setattr(disk_space_module, "_allocate", power_cut)
    with pytest.raises(SystemExit):
        space.keep_reserve()
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["space.reserve.tmp"]

    space = DiskSpace(tmp_path, StorageConfig(reserve_mb=2, min_free_mb=0))  # the restart
    assert not space.status().reserve_held
    assert space.refused(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert list(tmp_path.iterdir()) == [] and space.status().full


def _aged(path: Path, hours: float) -> Path:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))
    return path


def test_low_space_never_deletes_what_a_guard_still_needs(tmp_path: Path) -> None:
    """Even when every snapshot would not be enough (logs filled the card): the review
    queue's and open alarms' snapshots, the last hour's, and a save in progress stay."""
    store = SnapshotStore(tmp_path / "snapshots")
    old = _aged(_snapshot(store, 1, 64 * 1024), 48)
    reviewed = _aged(_snapshot(store, 2, 64 * 1024), 40)
    alarmed = _aged(_snapshot(store, 3, 64 * 1024), 30)
    # A snapshot is dated by its passage (SnapshotStore.save): this one's car came just now.
    just_now = store.root / store.save("main-in", datetime.now(UTC), b"\xff" * 64 * 1024)
    saving = store.root / "2026/05/04/080001-main-in-0000.tmp"
    saving.parent.mkdir(parents=True, exist_ok=True)
    saving.write_bytes(b"\xff" * 1000)
    crashed = store.root / "2026/05/01/070000-main-in-0000.tmp"
    crashed.write_bytes(b"\xff" * 1000)
    _aged(crashed, 2)
    keep = {p.relative_to(store.root).as_posix() for p in (reviewed, alarmed)}

    removed, _ = store.free_up(10 * MB, keep)

    assert removed == 1 and not old.exists() and not crashed.exists()
    assert reviewed.exists() and alarmed.exists() and just_now.exists() and saving.exists()


def test_retention_also_removes_half_written_snapshots(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    crashed = store.root / "2026/05/01/070000-main-in-0000.tmp"
    crashed.parent.mkdir(parents=True)
    crashed.write_bytes(b"\xff" * 1000)
    _aged(crashed, 24 * 40)
    store.purge_older_than(30)
    assert not crashed.exists()


class _Alarms:
    def __init__(self) -> None:
        self.raised: list[str] = []

    async def raise_alarm(self, kind: str, message: str, *, once_per_gate: bool) -> None:
        self.raised.append(kind)


def _on_a_small_disk(tmp_path: Path, files: int, free_mb: float) -> tuple[DiskSpace, SnapshotStore]:
    """A disk whose free space is what the snapshots leave of it, ``free_mb`` now."""
    root = tmp_path / "snapshots"
    store_for_setup = SnapshotStore(root)
    for day in range(1, files + 1):
        _aged(_snapshot(store_for_setup, day, 64 * 1024), 24 * (40 - day))

    def used() -> int:
        return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())

    total = int(free_mb * MB) + used()
    space = DiskSpace(tmp_path, StorageConfig(min_free_mb=1, reserve_mb=0),
                      usage=lambda _: total - used())
    return space, SnapshotStore(root, space)


def test_a_cleanup_leaves_room_for_the_next_cars_snapshots(tmp_path: Path) -> None:
    space, store = _on_a_small_disk(tmp_path, files=20, free_mb=0.99)
    watch = StorageWatch(space, store, _Alarms(), in_use=lambda: set())  # type: ignore[arg-type]
    asyncio.run(watch.check())
    assert not space.low()
    path, why = store.save_for_passage("main-in", datetime.now(UTC), b"\xff" * 64 * 1024)
    assert why is None and path is not None
    assert not space.low()  # the next car's is saved too, without a cleanup between


def test_without_the_database_a_disk_merely_low_deletes_nothing(tmp_path: Path) -> None:
    space, store = _on_a_small_disk(tmp_path, files=5, free_mb=0.5)

    def database_down() -> set[str]:
        raise StoreUnavailableError("the database is unavailable")

    alarms = _Alarms()
    watch = StorageWatch(space, store, alarms, in_use=database_down)  # type: ignore[arg-type]
    asyncio.run(watch.check())
    assert len(list(store.root.rglob("*.jpg"))) == 5 and alarms.raised == ["disk_low"]

    space.note_full(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))  # a write refused
    asyncio.run(watch.check())
    assert len(list(store.root.rglob("*.jpg"))) < 5


def test_a_reserve_the_disk_keeps_refusing_is_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A card the kernel remounted read-only refuses the reserve at every check (60 s):
    one line for the streak, not 1440 a day."""
    space = DiskSpace(tmp_path, StorageConfig(reserve_mb=1, min_free_mb=0))

    def read_only(fd: int, size: int) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(disk_space_module, "_allocate", read_only)
    for _ in range(3):
        space.keep_reserve()
    assert [r.levelname for r in caplog.records if "not taken" in r.message] == ["WARNING"]
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    space.keep_reserve()
    assert space.status().reserve_held


def test_snapshots_on_a_disk_of_their_own_are_not_deleted_for_data_dirs_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An office that mounted a bigger disk on data_dir/snapshots: data_dir's card running
    low (the database grew) is not helped by deleting them, so none goes for it. A refused
    write may be a snapshot's on its own full disk: then deleting does help."""
    space, store = _on_a_small_disk(tmp_path, files=5, free_mb=0.5)
    monkeypatch.setattr(storage_watch_module, "same_disk", lambda _a, _b: False)
    alarms = _Alarms()
    watch = StorageWatch(space, store, alarms, in_use=lambda: set())  # type: ignore[arg-type]
    asyncio.run(watch.check())
    assert len(list(store.root.rglob("*.jpg"))) == 5 and alarms.raised == ["disk_low"]

    space.note_full(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    asyncio.run(watch.check())
    assert len(list(store.root.rglob("*.jpg"))) < 5


def test_a_reserve_left_with_holes_is_written_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where fallocate is missing or stood in for by writing zeros that the file system keeps
    as holes (ZFS with compression), the reserve must still hold real blocks."""
    def holes(fd: int, offset: int, size: int) -> None:
        os.ftruncate(fd, offset + size)  # the right size, and nothing allocated

    monkeypatch.setattr(os, "posix_fallocate", holes)
    space = DiskSpace(tmp_path, StorageConfig(reserve_mb=2, min_free_mb=0))
    space.keep_reserve()
    held = space.reserve_path.stat()
    assert held.st_size == 2 * MB and held.st_blocks * 512 >= 2 * MB


def test_a_watch_stopped_as_a_refused_write_wakes_it_stops(tmp_path: Path) -> None:
    """The stop comes 0 to 5 loop turns after a refused write woke the watch. It waited for
    the wake with asyncio.wait_for, which on Python 3.11 returns a wake that comes as its
    task is cancelled and drops the cancel: the watch checked on and stop() never returned."""

    async def main() -> None:
        for turns in range(6):
            space = DiskSpace(tmp_path, StorageConfig(min_free_mb=1, reserve_mb=0),
                              usage=lambda _: MB // 2)  # low: the first check raises disk_low
            alarms = _Alarms()
            store = SnapshotStore(tmp_path / "snapshots", space)
            watch = StorageWatch(
                space, store, alarms, in_use=lambda: set()  # type: ignore[arg-type]
            )
            await watch.start()
            async with asyncio.timeout(10):
                while not alarms.raised:
                    await asyncio.sleep(0.01)
            # The rest of that check runs without a pause: the watch waits for its wake now.
            assert alarms.raised == ["disk_low"]
            space.note_full(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))  # wakes it
            for _ in range(turns):
                await asyncio.sleep(0)
            stopping = asyncio.create_task(watch.stop())
            done, _ = await asyncio.wait({stopping}, timeout=10)
            assert stopping in done, f"{turns} turns: stop() did not return"

    asyncio.run(main())


def test_a_snapshot_whose_date_cannot_be_set_is_still_saved_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dating the file by its passage comes after it is in place: a failure there (a file
    system that refuses utime) must not leave a file no passage points to."""
    store = SnapshotStore(tmp_path / "snapshots")

    def refuse(*_: object) -> None:
        raise PermissionError("utime refused")

    monkeypatch.setattr(snapshots_module.os, "utime", refuse)
    relative = store.save("main-in", datetime(2026, 5, 1, 8, 0, tzinfo=UTC), b"\xff" * 10)
    assert (store.root / relative).read_bytes() == b"\xff" * 10


def test_retention_goes_on_past_a_snapshot_the_low_space_cleanup_deleted_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The low-space cleanup (free_up, every storage.check_s while low) and the hourly
    retention both start with the oldest snapshots: one deleted between retention's listing
    and its look at the file raised FileNotFoundError, and the expired snapshots after it
    were kept until the next hour's pass (PIPL)."""
    store = SnapshotStore(tmp_path / "snapshots")
    expired = [_aged(_snapshot(store, day, 1000), 24 * 40) for day in (1, 2, 3)]
    listed = Path.rglob

    def listed_then_one_deleted(self: Path, pattern: str) -> Any:
        found = sorted(listed(self, pattern))
        if pattern == "*.jpg":
            found[0].unlink()  # the cleanup's, after the listing
        return iter(found)

    monkeypatch.setattr(Path, "rglob", listed_then_one_deleted)
    assert store.purge_older_than(30) == 2
    assert not any(path.exists() for path in expired)
