"""The controller starts while its database is down, and its gates work.

The outage is real (PostgreSQL behind a proxy that is cut; the SQLite file moved away). A
restart during an outage must not leave the gates dead: the residents known before the
restart still get in (the offline snapshot is kept on disk next to the journal), the others
go to a guard, everything is journalled, and once the database answers the controller
migrates it, writes the journal and carries on, without being restarted again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api.test_database_outage import (
    FAST,
    RESIDENT,
    STRANGER,
    push,
    recorded,
    wait_for,
)
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import ROOT, add_user
from tests.db_outage import DatabaseOutage


def stop(client: Any) -> None:
    client.__exit__(None, None, None)
    client.app.state.services.engine.dispose()


def test_a_restart_during_an_outage_still_knows_the_residents(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    first = app_factory(database_url=outage.url, **FAST)
    admin = {"Authorization": f"Bearer {add_user(first, 'admin', 'admin')}"}
    register_resident_car(first, admin, RESIDENT)
    first.portal.call(first.app.state.services.refresh_offline)
    snapshot_file = first.app.state.services.settings.data_dir / "journal" / (
        "offline_snapshot.json")
    saved = snapshot_file.read_text(encoding="utf-8")
    # PIPL: no names; the flat (3栋 1201) is kept for the booth's rows from the journal.
    assert RESIDENT in saved and "林阿姨" not in saved and "3栋 1201" in saved
    outage.cut(first.app.state.services.engine)
    stop(first)

    client = app_factory(database_url=outage.url, **FAST)  # must not raise
    resident = push(client, "main-in", RESIDENT)
    stranger = push(client, "main-in", STRANGER)
    health = client.get("/healthz").json()

    assert resident.status_code == 200, resident.text
    assert resident.json()["decision"] == "allow" and resident.json()["journal_id"]
    assert stranger.status_code == 200, stranger.text
    assert stranger.json()["decision"] == "review" and stranger.json()["journal_id"]
    assert health["status"] == "degraded" and health["database"] is False
    assert health["journal_waiting"] == 2

    outage.restore()
    admin = {"Authorization": f"Bearer {add_user(client, 'admin2', 'admin')}"}
    wait_for(lambda: recorded(client, admin) == 2)
    items = client.get("/api/v1/passages", headers=admin).json()["items"]
    assert {(p["plate"], p["decision"]) for p in items} == {
        (RESIDENT, "allow"), (STRANGER, "review")
    }
    assert all("offline" in p["flags"] for p in items)
    wait_for(lambda: client.get("/healthz").json()["status"] == "ok")
    # Back online: the resident leaves through a decision made from the database.
    left = push(client, "main-out", RESIDENT)
    assert left.json()["passage_id"] is not None
    assert left.json()["reason"] == "exit_known_inside"


def test_a_first_start_during_an_outage_sends_cars_to_a_guard_and_migrates_later(
    app_factory: Any, outage: DatabaseOutage, make_settings: Any
) -> None:
    # The database has never been migrated: nothing but an empty database (or file).
    from models.db import create_db_engine

    engine = create_db_engine(outage.url)
    with engine.connect():
        pass
    outage.cut(engine)
    engine.dispose()

    client = app_factory(database_url=outage.url, **FAST)
    response = push(client, "main-in", RESIDENT)
    assert response.status_code == 200, response.text
    assert (response.json()["decision"], response.json()["reason"]) == (
        "review", "database_unavailable"
    )
    assert response.json()["journal_id"]

    outage.restore()
    wait_for(lambda: client.app.state.services.database_ready)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    wait_for(lambda: recorded(client, admin) == 1)
    (row,) = client.get("/api/v1/passages", headers=admin).json()["items"]
    assert (row["decision"], row["reason"]) == ("review", "database_unavailable")
    zones = client.get("/api/v1/availability").json()["zones"]
    assert {z["id"] for z in zones} == {"A", "B"}  # the site was synced once it answered


def test_a_command_that_needs_the_database_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PARKGATE_DATA_DIR": str(tmp_path / "data"),
        # Nothing listens on port 1: connection refused at once.
        "PARKGATE_DATABASE_URL": "postgresql+psycopg://pk@127.0.0.1:1/parkgate",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "create-user", "--username", "guard1",
         "--role", "guard", "--password-stdin"],
        input="s3cret-pass-123\n", capture_output=True, text=True, env=env, timeout=60,
    )

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "ERROR parkgate: database unavailable: " in lines[0]


def test_the_snapshot_file_is_plates_ids_and_flats_only(app_factory: Any) -> None:
    client = app_factory(**FAST)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    household_id = register_resident_car(client, admin, RESIDENT)
    client.post("/api/v1/lists", headers=admin,
                json={"plate": STRANGER, "kind": "block", "reason": "欠费 王先生"})
    client.portal.call(client.app.state.services.refresh_offline)
    path = client.app.state.services.settings.data_dir / "journal" / "offline_snapshot.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["permits"][STRANGER] == {"inside": False, "list": "block"}
    assert set(data["permits"][RESIDENT]["vehicle"]) == {
        "vehicle_id", "household_id", "household_spaces", "household_cars_inside",
        "resident_id",
    }
    assert data["households"] == {str(household_id): "3栋 1201"}  # building and unit only
    assert path.stat().st_mode & 0o077 == 0


def test_a_start_the_machine_refuses_is_one_line_and_code_2(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    env = {**os.environ, "PARKGATE_DATA_DIR": str(not_a_directory / "data")}
    env.pop("PARKGATE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )

    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start: " in lines[0], done.stderr


def test_free_space_boards_catch_up_after_a_start_during_an_outage(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    from models.db import create_db_engine

    engine = create_db_engine(outage.url)
    with engine.connect():
        pass
    outage.cut(engine)  # down from the start: no counts to show yet
    engine.dispose()
    client = app_factory(
        database_url=outage.url,
        parking={"displays": [{"id": "east", "zones": ["A", "B"], "display": {"driver": "sim"}}]},
        **FAST,
    )
    board = client.app.state.services.parking.boards["east"]

    outage.restore()
    wait_for(lambda: board.shown == {"A": 40, "B": 20})
