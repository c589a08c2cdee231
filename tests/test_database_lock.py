"""One controller per database: a second controller with a data directory of its own (a
spare box, the old box after a restore onto a new one, a test box with a copied config) on
the database another live controller serves is refused with one line naming that one; the
first keeps serving; once the first stops, or is killed, the second starts.

On real SQLite and PostgreSQL: the controllers in-process (the tests' apps) and as processes
of their own (``main.py serve``, killed with SIGKILL)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from services.database_lock import LOCK_KEY, DatabaseInUseError, holder_description
from tests.api.test_database_outage import gate_frame
from tests.conftest import ROOT
from tests.live_server import free_port
from tests.test_crash_recovery import CAMERA, controller, write_config

REFUSAL = re.compile(
    r"refusing to serve .*: another parkgate controller serves it \(host (?P<host>\S+), "
    r"data_dir (?P<data_dir>\S+), pid (?P<pid>\d+), started (?P<started>\S+?)[;)]"
)


def test_a_second_app_on_the_database_is_refused_until_the_first_stops(
    app_factory: Any, tmp_path: Path
) -> None:
    first = app_factory()
    with pytest.raises(DatabaseInUseError) as refused:
        app_factory(data_dir=tmp_path / "other-box")
    found = REFUSAL.search(str(refused.value))
    assert found, str(refused.value)
    assert found["host"] == socket.gethostname()
    assert found["data_dir"] == str((tmp_path / "data").resolve())
    assert int(found["pid"]) == os.getpid()
    assert "Stop that one first" in str(refused.value)

    # The first never noticed: it still decides and records.
    pushed = first.post("/api/v1/gates/main-in/frames", content=gate_frame("闽A12345"),
                        headers={"X-API-Key": "test-camera-key",
                                 "Content-Type": "image/jpeg"})
    assert pushed.status_code == 200 and pushed.json()["passage_id"], pushed.text

    first.__exit__(None, None, None)  # stopped: the database is free
    second = app_factory(data_dir=tmp_path / "other-box")
    assert second.get("/healthz").json()["database"] is True


@pytest.mark.postgres
def test_a_session_left_by_this_controller_s_previous_run_is_taken_over(
    app_factory: Any, database_url: str, tmp_path: Path
) -> None:
    """The server keeps a session whose client vanished without a word (a network cut, a
    power cut) until TCP tells it, maybe hours: the controller restarted on the same data
    directory, whose instance lock it holds, ends that session instead of being refused.
    Another data directory's session is not touched."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's lock is the kernel's: it goes with the process")
    data_dir = tmp_path / "data"
    stale = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        for who, taken_over in ((tmp_path / "elsewhere", False), (data_dir, True)):
            holder = holder_description(who)
            holder["pid"] = 1  # not this process
            comment = json.dumps(holder).replace("/", "\\/")
            with stale.connect() as connection:
                assert connection.exec_driver_sql(
                    f"SELECT pg_try_advisory_lock({LOCK_KEY}) /* parkgate-controller "
                    f"{comment} */").scalar()
                if not taken_over:
                    with pytest.raises(DatabaseInUseError, match=f"data_dir {who.resolve()}"):
                        app_factory()
                    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_KEY})")
                    continue
                app = app_factory()
                assert app.get("/healthz").json()["database"] is True
    finally:
        stale.dispose()


@pytest.mark.timeout(300)
def test_a_second_serve_exits_2_naming_the_first_and_starts_once_it_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    boxes = []
    for name in ("box-a", "box-b"):
        (tmp_path / name).mkdir()
        boxes.append(write_config(tmp_path / name, database_url))
    port = free_port()
    with controller(boxes[0], port) as first:
        second = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "--config", str(boxes[1]), "serve",
             "--port", str(free_port())],
            capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 2, second.stderr[-3000:]
        lines = [line for line in second.stderr.splitlines() if "refusing to serve" in line]
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr[-3000:]
        found = REFUSAL.search(lines[0])
        assert found, lines[0]
        assert found["data_dir"] == str((tmp_path / "box-a" / "data").resolve())
        assert int(found["pid"]) == first.pid and found["host"] == socket.gethostname()
        # It was refused before touching anything: no migration, no data of its own.
        assert "database schema" not in second.stderr

        # The first keeps serving.
        pushed = httpx.post(f"http://127.0.0.1:{port}/api/v1/gates/main-in/frames",
                            content=gate_frame("闽A12345"), headers=CAMERA, timeout=30)
        assert pushed.status_code == 200 and pushed.json()["passage_id"], pushed.text

        first.send_signal(signal.SIGKILL)  # a crash: no clean stop, the lock goes with it
        first.wait(30)
        with controller(boxes[1], free_port()) as replacement:
            assert replacement.poll() is None


@pytest.mark.postgres
def test_a_lock_lost_with_its_session_is_taken_again_by_the_running_controller(
    app_factory: Any, database_url: str, tmp_path: Path
) -> None:
    """PostgreSQL restarted, or a network cut it noticed: the session holding the lock ends
    and the lock with it. The running controller takes it again at its next refresh, so a
    second box started after that is still refused."""
    from services.database_lock import DatabaseLock
    from tests.conftest import wait_until

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's lock is the kernel's: it cannot be lost while the process runs")
    client = app_factory(access={"offline_refresh_s": 0.3, "offline_retry_s": 0.1})
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    holders = ("SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
               f"AND l.classid = {LOCK_KEY >> 32} AND l.objid = {LOCK_KEY & 0xFFFFFFFF} "
               # Advisory locks are per database: other databases' controllers are not ours.
               "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    try:
        with admin.connect() as connection:
            lost = connection.exec_driver_sql(holders).scalar()
            assert lost is not None
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({lost})")

            def held_again() -> bool:
                now = connection.exec_driver_sql(holders).scalar()
                return now is not None and now != lost

            wait_until(held_again, 10.0, "the controller holding its database again")
        other = DatabaseLock(database_url, tmp_path / "other-box")
        with pytest.raises(DatabaseInUseError):
            other.acquire()
        assert client.get("/healthz").json()["database"] is True
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_two_migrating_at_once_both_end_with_the_schema_up_to_date(database_url: str) -> None:
    """An upgraded controller starting while create-user or import-residents migrates beside
    it: the second waits for the first's transaction and finds nothing left to do, instead
    of failing on a table the first created."""
    import threading

    from models.db import create_db_engine, migrate

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite lets one writer at a time; PostgreSQL migrates in a transaction")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        engine = create_db_engine(database_url)
        try:
            start.wait()
            migrate(engine)
        except BaseException as err:  # reported by the assertion below
            errors.append(err)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
