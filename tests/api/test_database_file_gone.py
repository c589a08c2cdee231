"""A database that disappears or is swapped is an outage, never a silent new database.

The SQLite file is really deleted (``rm``, the unlinked inode still open in the pool) or
replaced by another file; the PostgreSQL schema is really dropped. Passages must go to the
journal, /healthz must say so, and a restart must refuse to begin an empty database over a
data directory that shows one was used, unless the operator asks for it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from errors import DatabaseStartError
from services.container import build_services
from tests.api.test_database_outage import FAST, RESIDENT, push, recorded, wait_for
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import ROOT, add_user, reset_postgres


def stop(client: Any) -> None:
    client.__exit__(None, None, None)
    client.app.state.services.engine.dispose()


def sqlite_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "parkgate.db"
    return path, f"sqlite:///{path}"


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_a_deleted_sqlite_file_is_an_outage_and_a_restart_refuses_an_empty_one(
    app_factory: Any, tmp_path: Path, plate_recognizer: Any, make_settings: Any
) -> None:
    path, url = sqlite_file(tmp_path)
    client = app_factory(database_url=url, **FAST)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(client.app.state.services.refresh_offline)
    assert client.get("/healthz").json()["database"] is True  # a pooled connection is open

    remove_database(path)  # as `rm data/parkgate.db*` does
    entered = push(client, "main-in", RESIDENT)
    health = client.get("/healthz").json()

    assert entered.status_code == 200, entered.text
    assert entered.json()["decision"] == "allow"
    assert entered.json()["passage_id"] is None and entered.json()["journal_id"]
    assert health["database"] is False and health["status"] == "degraded"
    assert health["journal_waiting"] == 1
    assert not path.exists()  # no empty database was created in its place
    stop(client)

    with pytest.raises(DatabaseStartError, match=r"missing.*--allow-new-database"):
        build_services(make_settings(database_url=url, **FAST), recognizer=plate_recognizer)
    assert not path.exists()

    # The operator chooses to begin again. The journalled passage names the old database's
    # household: it is kept aside for a person, not written into the new one.
    client = app_factory(database_url=url, allow_new_database=True, **FAST)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    assert path.is_file() and recorded(client, admin) == 0
    journal = client.app.state.services.settings.data_dir / "journal"
    (kept,) = journal.glob("passages.previous-database-*.jsonl")
    assert RESIDENT in kept.read_text(encoding="utf-8")
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_replaced_sqlite_file_is_an_outage_until_the_original_is_back(
    app_factory: Any, tmp_path: Path
) -> None:
    path, url = sqlite_file(tmp_path)
    client = app_factory(database_url=url, **FAST)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(client.app.state.services.refresh_offline)
    assert client.get("/healthz").json()["database"] is True

    aside = tmp_path / "original.db"
    shutil.move(path, aside)
    sqlite3.connect(path).close()  # someone else's (empty) file where ours was
    entered = push(client, "main-in", RESIDENT)
    assert entered.json()["journal_id"] and entered.json()["passage_id"] is None
    assert client.get("/healthz").json()["database"] is False

    os.replace(aside, path)  # the original is back (same inode)
    wait_for(lambda: recorded(client, admin) == 1)
    assert client.get("/healthz").json()["database"] is True


def test_an_empty_database_over_history_is_refused(
    app_factory: Any, database_url: str, plate_recognizer: Any, make_settings: Any
) -> None:
    client = app_factory(**FAST)
    settings = client.app.state.services.settings
    assert (settings.data_dir / "database.marker").is_file()
    stop(client)
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        remove_database(path)
        sqlite3.connect(path).close()  # an empty file: not missing, but nothing in it
    else:
        reset_postgres(database_url)

    with pytest.raises(DatabaseStartError, match=r"empty.*--allow-new-database"):
        build_services(make_settings(**FAST), recognizer=plate_recognizer)

    client = app_factory(allow_new_database=True, **FAST)
    assert client.get("/healthz").json()["database"] is True


def test_serve_refuses_a_missing_database_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "database.marker").write_text("used before\n")
    env = {**os.environ, "PARKGATE_DATA_DIR": str(data)}
    env.pop("PARKGATE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve", "--port", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )

    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "refusing to start" in lines[0] and "--allow-new-database" in lines[0]
    assert not (data / "parkgate.db").exists()
