"""Retention removes the day folders it empties, never a folder still holding a file, and a
snapshot saved into a day folder retention removes meanwhile is still saved."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services import snapshots as snapshots_module
from services.snapshots import SnapshotStore

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _folders(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def test_retention_removes_the_folders_of_the_days_it_emptied(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    # A snapshot a day from mid-October of last year to today; 30 days kept.
    days = [NOW - timedelta(days=n, hours=1) for n in range(0, 420)]
    for at in days:
        store.save("main-in", at, b"\xff" * 10)
    # A file retention does not delete (a guard's note, say) keeps its folder.
    kept_note = store.root / "2025/11/03/notes.txt"
    kept_note.write_text("keep")

    removed = store.purge_older_than(30, now=NOW.timestamp())

    assert removed == 390
    folders = _folders(store.root)
    kept_days = {f for f in folders if f.count("/") == 2}
    # The 30 days kept, plus the day the cutoff falls in and the one before it (a
    # passage's own time zone), plus the folder with the note.
    assert "2025/11/03" in kept_days
    assert min(kept_days - {"2025/11/03"}) == "2026/11/01"
    assert len(kept_days - {"2025/11/03"}) == 30 + 2
    assert "2025" in folders and "2025/11" in folders and "2025/10" not in folders
    assert "2025/12" not in folders
    assert kept_note.read_text() == "keep"
    assert sorted(p.name for p in store.root.rglob("*.jpg"))  # today's are there


def test_an_old_years_folders_go_when_nothing_is_left_in_them(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    store.save("main-in", datetime(2024, 3, 1, 8, 0, tzinfo=UTC), b"\xff")
    (store.root / "2024" / "13").mkdir()  # not a month: not the store's, left alone
    store.purge_older_than(30, now=NOW.timestamp())
    assert _folders(store.root) == {"2024", "2024/13"}
    (store.root / "2024" / "13").rmdir()
    store.purge_older_than(30, now=NOW.timestamp())
    assert _folders(store.root) == set()


def test_a_snapshot_saved_as_retention_removes_its_folder_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passage written back late (the offline journal) into an old day: retention removes
    the empty folder between the save's mkdir and its open."""
    store = SnapshotStore(tmp_path / "snapshots")
    at = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    day = store.root / "2026/09/01"
    day.mkdir(parents=True)  # an earlier snapshot's, deleted since
    made = Path.mkdir
    removed: list[bool] = []

    def made_then_removed(self: Path, *args: object, **kwargs: object) -> None:
        made(self, *args, **kwargs)  # type: ignore[arg-type]
        if not removed:
            store.purge_older_than(30, now=NOW.timestamp())  # the folder is empty: removed
            removed.append(not day.exists())

    monkeypatch.setattr(Path, "mkdir", made_then_removed)
    relative = store.save("main-in", at, b"\xff" * 10)
    assert removed == [True]
    assert (store.root / relative).read_bytes() == b"\xff" * 10


def test_a_save_in_progress_is_not_taken_for_a_crashed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention deletes the .tmp of a save a crash interrupted, by its time. A clock stepped
    forward while a snapshot was being written (NTP after a board booted with the wrong time)
    made the file being written look a year old: it was deleted mid-save, and the save failed
    (seen with the suite run as on a day 400 days later)."""
    store = SnapshotStore(tmp_path / "snapshots")
    synced = os.fsync
    year_later = time.time() + 400 * 86400

    def retention_meanwhile(fd: int) -> None:
        synced(fd)
        store.purge_older_than(30, now=year_later)

    monkeypatch.setattr(snapshots_module.os, "fsync", retention_meanwhile)
    relative = store.save("main-in", NOW, b"\xff" * 10)
    assert (store.root / relative).read_bytes() == b"\xff" * 10
