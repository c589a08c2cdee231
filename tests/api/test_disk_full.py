"""A full data disk (SD card, small SSD) loses no passage and lets residents in.

The disk is hardware here, like a relay: the SQLite database is made full for real with
``PRAGMA max_page_count`` (SQLite answers SQLITE_FULL, "database or disk is full", exactly as
on a full card), and the journal's and snapshots' own writes are refused with ENOSPC by the
files they open (the lowest level parkgate calls), while ``/healthz`` reads free space through
the same fake disk. What parkgate then does is its own code, unchanged: the snapshot is
skipped and said so, the database's refusal is an outage, the journal gives up the space
reserve, the guards get a ``disk_full`` alarm, and everything is written back when room
returns. A RLIMIT_FSIZE limit would answer EFBIG, which is not a full disk, and a tmpfs
needs root, so neither is used.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from services import audit_journal, passage_journal, snapshots, storage_watch
from services.camera_pipeline import CameraPipeline
from services.disk_space import MB
from tests.api.test_database_outage import FAST, RESIDENT, gate_frame, push, recorded, wait_for
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import add_user
from vision.images import decode_image
from vision.types import Frame
from vision.voting import PlateVoter

ROOMY = 50_000 * MB


class FullDisk:
    """data_dir's disk as the test's hardware. ``full``: the only room left on it is what the
    space reserve holds, so a write through the journal or snapshot files is refused with
    ENOSPC while the reserve is there, and takes its room once it was given up.
    ``snapshots_refused``: only snapshot writes fail (a card failing under the images)."""

    def __init__(self, services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.snapshots_refused = False
        self._reserve = services.disk.reserve_path
        self._reserve_size = services.settings.storage.reserve_mb * MB
        services.disk._usage = lambda _path: self.free()
        for module in (passage_journal, audit_journal):
            monkeypatch.setattr(module, "open", self._opener(snapshot=False), raising=False)
        monkeypatch.setattr(snapshots, "open", self._opener(snapshot=True), raising=False)

    def free(self) -> int:
        if self.snapshots_refused:
            return 0
        if not self.full:
            return ROOMY
        return 0 if self._reserve.exists() else self._reserve_size

    def _refuses(self, snapshot: bool) -> bool:
        return (snapshot and self.snapshots_refused) or (self.full and self._reserve.exists())

    def _opener(self, *, snapshot: bool) -> Any:
        disk = self

        class OnThisDisk:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                self._file = open(*args, **kwargs)  # noqa: SIM115 - closed by __exit__

            def __enter__(self) -> OnThisDisk:
                return self

            def __exit__(self, *exc: object) -> None:
                self._file.close()

            def _room(self) -> None:
                if disk._refuses(snapshot):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def write(self, data: Any) -> int:
                self._room()
                return int(self._file.write(data))

            def writelines(self, lines: Any) -> None:
                self._room()
                self._file.writelines(lines)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._file, name)

        return OnThisDisk


class FullDatabase:
    """SQLite's own page limit at the database's current size: every write that needs one
    more page gets SQLITE_FULL from the real engine."""

    def __init__(self, engine: Any) -> None:
        self.full = False
        event.listen(engine, "checkout", self._limit)

    def _limit(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if self.full:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count={int(pages)}")
        else:
            dbapi_connection.execute("PRAGMA max_page_count=4294967294")


@pytest.fixture
def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("max_page_count is SQLite's; PostgreSQL's full disk is its server's")


def _app(app_factory: Any, **storage: Any) -> tuple[Any, Any, dict[str, str]]:
    client = app_factory(**FAST, storage={"check_s": 0.2, "reserve_mb": 1, **storage})
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    return client, services, admin


def _alarm_kinds(client: Any, admin: dict[str, str]) -> set[str]:
    return {a["kind"] for a in client.get("/api/v1/alarms", headers=admin).json()["items"]}


def _cars_until_journalled(client: Any, limit: int = 40) -> Iterator[Any]:
    """The resident in and out until the database refuses a passage. Rows still fit in the
    pages' slack for a while, as on a real full card, so how many is not known in advance."""
    for n in range(limit):
        answer = push(client, "main-in" if n % 2 == 0 else "main-out", RESIDENT)
        yield answer
        if answer.status_code != 200 or answer.json()["journal_id"]:
            return
    raise AssertionError(f"the full database took {limit} passages")


def test_a_snapshot_the_disk_refuses_leaves_the_passage_recorded_and_the_office_told(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, services, admin = _app(app_factory, min_free_mb=0)
    disk = FullDisk(services, monkeypatch)
    disk.snapshots_refused = True

    answer = push(client, "main-in", RESIDENT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "allow"
    assert answer.json()["barrier"] in ("opening", "open")
    row = client.get(f"/api/v1/passages/{answer.json()['passage_id']}", headers=admin).json()
    assert row["has_snapshot"] is False
    assert row["details"]["snapshot"] == "not saved: No space left on device"

    # The camera workers' path: the voted passage is recorded without its snapshot too.
    pipeline = CameraPipeline.from_services(services, voter=PlateVoter(min_reads=1))
    image = decode_image(gate_frame(RESIDENT), max_pixels=50_000_000)
    at = datetime.now(UTC)

    async def one_car() -> Any:
        result = await pipeline.process_frame("main-out", Frame(image, "main-out", at))
        for quiet_s in range(1, 8):  # the voting window runs out in the quiet after it
            if result is not None:
                break
            result = await pipeline.tick("main-out", at + timedelta(seconds=quiet_s))
        return result

    left = client.portal.call(one_car)
    assert left is not None and left.passage_id is not None and left.barrier != "closed"
    assert left.details["snapshot"] == "not saved: No space left on device"

    wait_for(lambda: "disk_full" in _alarm_kinds(client, admin))
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["storage"]["full"] is True

    disk.snapshots_refused = False
    again = push(client, "main-in", RESIDENT)
    row = client.get(f"/api/v1/passages/{again.json()['passage_id']}", headers=admin).json()
    assert row["has_snapshot"] is True and "snapshot" not in row["details"]


def test_sqlite_full_is_an_outage_the_journal_keeps_until_the_database_has_room(
    app_factory: Any, sqlite_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, services, admin = _app(app_factory, min_free_mb=0)
    database = FullDatabase(services.engine)
    before = recorded(client, admin)
    assert before is not None

    database.full = True
    answers = list(_cars_until_journalled(client))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert all(a.json()["decision"] == "allow" for a in answers)
    assert all(a.json()["barrier"] in ("opening", "open") for a in answers)
    assert answers[-1].json()["passage_id"] is None
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["journal_waiting"] >= 1
    # An admin's writes meanwhile: stored while they fit the pages' slack, then told the
    # database is unavailable (503 with Retry-After), never a 500.
    for unit in range(100):
        answer = client.post("/api/v1/households", headers=admin, json={
            "building": "9栋", "unit": f"{unit}", "note": "备注" * 200})
        if answer.status_code != 201:
            break
    assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text

    database.full = False
    wait_for(lambda: recorded(client, admin) == before + len(answers), timeout_s=30)
    # The journal is emptied once the whole write-back pass has finished
    # (JournalWriteBack discards at its end), a moment after the passages can be read: a
    # loaded CI run checked in between and saw 1 entry left.
    wait_for(lambda: services.runtime.journal_backlog() == 0)
    journalled = answers[-1].json()["journal_id"]
    rows = client.get("/api/v1/passages", headers=admin).json()["items"]
    assert any("offline" in r["flags"] for r in rows), journalled
    wait_for(lambda: client.get("/healthz").json()["status"] == "ok")


def test_a_full_disk_gives_up_its_reserve_so_residents_still_pass_and_are_recorded(
    app_factory: Any, sqlite_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, services, admin = _app(app_factory, min_free_mb=100)
    reserve = services.disk.reserve_path
    wait_for(reserve.exists)  # taken by the storage watch at start
    disk = FullDisk(services, monkeypatch)
    database = FullDatabase(services.engine)
    before = recorded(client, admin)
    assert before is not None

    disk.full = database.full = True
    answers = list(_cars_until_journalled(client))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert all(a.json()["decision"] == "allow" for a in answers)
    assert all(a.json()["barrier"] in ("opening", "open") for a in answers)
    assert not reserve.exists()  # given up for the journal
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["storage"]["full"] is True and health["storage"]["low"] is True
    assert health["storage"]["reserve_held"] is False
    assert health["journal_waiting"] >= 1
    wait_for(lambda: "disk_full" in _alarm_kinds(client, admin))
    # The disk's last room is for records: no snapshot was written on a full disk.
    journalled = [a for a in answers if a.json()["journal_id"]]
    assert journalled and all(a.json()["passage_id"] is None for a in journalled)

    # Room again (an administrator deleted something): everything is written back, and the
    # reserve is taken again for the next time.
    disk.full = database.full = False
    wait_for(lambda: recorded(client, admin) == before + len(answers), timeout_s=30)
    wait_for(reserve.exists)
    wait_for(lambda: client.get("/healthz").json()["status"] == "ok")
    assert not (services.settings.data_dir / "journal" / "passages.jsonl").exists()


def test_with_no_room_at_all_the_car_waits_with_a_clear_answer(
    app_factory: Any, sqlite_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit that remains: without a reserve (reserve_mb: 0), or once it is used up,
    neither the database nor the journal can keep a passage and the barrier stays down (the
    guard lets the car in by hand). A 503 the camera can retry, never a 500; no empty journal
    is left to read as a backlog."""
    client, services, admin = _app(app_factory, min_free_mb=0, reserve_mb=0)
    disk = FullDisk(services, monkeypatch)
    database = FullDatabase(services.engine)
    disk.full = database.full = True
    # No reserve file exists, so FullDisk refuses only while one does: refuse outright.
    disk._refuses = lambda snapshot: True  # type: ignore[method-assign]

    before = recorded(client, admin)
    assert before is not None
    answers = list(_cars_until_journalled(client))
    last = answers[-1]
    assert all(a.status_code == 200 for a in answers[:-1])
    assert last.status_code == 503, last.text
    assert "journal" in last.json()["detail"] and "not writable" in last.json()["detail"]
    assert not (services.settings.data_dir / "journal" / "passages.jsonl").exists()
    assert services.runtime.journal_backlog() == 0
    database.full = False
    disk.full = False
    wait_for(lambda: recorded(client, admin) == before + len(answers) - 1)


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def test_low_space_warns_first_and_frees_room_from_the_oldest_snapshots(
    app_factory: Any,
) -> None:
    client, services, admin = _app(app_factory, min_free_mb=2, reserve_mb=0)
    store, disk = services.snapshots, services.disk

    # Below storage.min_free_mb with nothing to delete: the office is told, and the car's
    # passage is recorded without a snapshot so the room left stays for records.
    disk._usage = lambda _path: MB // 2
    wait_for(lambda: "disk_low" in _alarm_kinds(client, admin))
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["storage"]["low"] is True and health["storage"]["full"] is False
    low = push(client, "main-in", RESIDENT)
    assert low.status_code == 200 and low.json()["barrier"] in ("opening", "open")
    row = client.get(f"/api/v1/passages/{low.json()['passage_id']}", headers=admin).json()
    assert row["details"]["snapshot"] == "not saved: disk space low"
    metrics = client.get("/metrics", headers=admin).text
    assert f"parkgate_data_disk_free_bytes {float(MB // 2)}" in metrics
    assert "parkgate_data_disk_low 1.0" in metrics

    # Weeks of snapshots, then the disk runs low: the oldest go first, as much as needed.
    disk._usage = lambda _path: ROOMY
    old = [store.root / store.save("main-in", datetime(2026, 5, day, 8, tzinfo=UTC),
                                   b"\xff" * MB) for day in (4, 1, 3, 2)]
    for file in old:  # written weeks ago (the last hour's are never deleted for space)
        os.utime(file, (file.stat().st_mtime - 86400 * 20,) * 2)
    kept = push(client, "main-out", RESIDENT)
    assert kept.json()["passage_id"] is not None
    room = _bytes_under(store.root) + MB // 2
    disk._usage = lambda _path: room - _bytes_under(store.root)
    wait_for(lambda: not old[1].exists() and not old[3].exists())  # May 1 and 2
    wait_for(lambda: client.get("/healthz").json()["storage"]["low"] is False)
    assert old[0].exists() and old[2].exists()  # enough room: May 3 and 4 stay
    row = client.get(f"/api/v1/passages/{kept.json()['passage_id']}", headers=admin).json()
    assert row["has_snapshot"] is True  # the newest, and every passage's row, are kept
    assert recorded(client, admin) == 2


def test_an_offline_snapshot_the_full_disk_refuses_is_said_once_not_every_refresh(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, services, _admin = _app(app_factory, min_free_mb=0)
    offline_file = services.offline_file
    saved = offline_file.save

    def refused(snapshot: Any) -> bool:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with caplog.at_level(logging.DEBUG, logger="services.container"):
        monkeypatch.setattr(offline_file, "save", refused)
        for _ in range(5):
            client.portal.call(services.refresh_offline)
        monkeypatch.setattr(offline_file, "save", saved)
        client.portal.call(services.refresh_offline)

    said = [r for r in caplog.records if "offline snapshot" in r.getMessage()]
    assert [r.levelno for r in said if r.levelno >= logging.INFO] == [
        logging.WARNING, logging.INFO]
    assert "saved again" in said[-1].getMessage()


def test_the_review_queue_keeps_its_snapshots_when_space_runs_low(app_factory: Any) -> None:
    """The guard decides a car in the review queue from its photo: the cleanup asks the
    database which snapshots those are (and those of open alarms) and leaves them."""
    client, services, admin = _app(app_factory)
    waiting = push(client, "main-in", "粤B99999")  # not registered: the guard decides
    assert waiting.json()["decision"] == "review"
    row = client.get(f"/api/v1/passages/{waiting.json()['passage_id']}", headers=admin).json()
    assert row["has_snapshot"] is True
    kept = storage_watch.snapshots_in_use(services.sessions)
    assert len(kept) == 1
    path = services.snapshots.root / next(iter(kept))
    os.utime(path, (path.stat().st_mtime - 86400 * 3,) * 2)  # waiting for days
    removed, _ = services.snapshots.free_up(100 * MB, kept)
    assert removed == 0 and path.exists()


def test_a_snapshot_deleted_while_it_is_being_served_is_a_404_not_a_500(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The low-space cleanup (or retention) may delete a snapshot between the route finding
    it and the response reading it: the guard gets what a deleted snapshot gets."""
    client, services, admin = _app(app_factory)
    passage_id = push(client, "main-in", RESIDENT).json()["passage_id"]
    found = services.snapshots.path

    def found_then_deleted(relative: str) -> Path:
        path = found(relative)
        path.unlink()
        return path

    monkeypatch.setattr(services.snapshots, "path", found_then_deleted)
    answer = client.get(f"/api/v1/passages/{passage_id}/snapshot", headers=admin)
    assert answer.status_code == 404
