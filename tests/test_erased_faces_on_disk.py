"""PIPL: a face erased on request leaves the disk's live files, not only the table. SQLite keeps
the page images written before a deletion in its write-ahead log (and, without secure_delete,
in the database file's free space) until they happen to be overwritten: a copy of the data
directory taken after the deletion would still hold the embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.db import transaction
from models.faces import FaceTemplate
from tests.api.test_console import cookie_login
from tests.api.test_console_household_move_out import EXPECTED
from tests.conftest import add_user

# 128 float32 values no real embedding has (they are unit-length, each well under 1).
EMBEDDING = (1000.0 + np.arange(128, dtype=np.float32) * 0.125).astype("<f4").tobytes()


@pytest.fixture
def sqlite_app(app_factory: Any, database_url: str) -> Any:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's files; PostgreSQL keeps deleted rows until VACUUM (README)")
    return app_factory(database_url=database_url)


def on_disk(database: Path) -> list[str]:
    """The live files of the database that still hold (a piece of) the embedding."""
    piece = EMBEDDING[40:72]
    return [
        path.name for path in (database, Path(f"{database}-wal"))
        if path.exists() and piece in path.read_bytes()
    ]


def resident_with_face(client: Any) -> tuple[dict[str, str], int, Path]:
    """An admin's headers, a resident with consent and one face template, and the database
    file (where the check sees the template before it is deleted)."""
    services = client.app.state.services
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    household = client.post("/api/v1/households", json={"building": "5栋", "unit": "302"},
                            headers=headers).json()
    resident = client.post("/api/v1/residents", headers=headers,
                           json={"household_id": household["id"], "name": "王芳"}).json()
    assert client.put(f"/api/v1/residents/{resident['id']}/consent", json={"note": "表 12"},
                      headers=headers).status_code == 200
    with transaction(services.sessions) as session:
        session.add(FaceTemplate(resident_id=resident["id"], embedding=EMBEDDING))
    database = Path(services.engine.url.database)
    assert on_disk(database)
    return headers, resident["id"], database


def test_a_face_deleted_on_request_is_gone_from_the_database_files(sqlite_app: Any) -> None:
    headers, resident_id, database = resident_with_face(sqlite_app)

    answer = sqlite_app.delete(f"/api/v1/residents/{resident_id}/faces", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["templates"] == 0
    assert on_disk(database) == []


def test_withdrawn_consent_takes_the_faces_off_the_disk_too(sqlite_app: Any) -> None:
    headers, resident_id, database = resident_with_face(sqlite_app)

    answer = sqlite_app.delete(f"/api/v1/residents/{resident_id}/consent", headers=headers)
    assert answer.status_code == 200, answer.text
    assert on_disk(database) == []


def test_a_deleted_resident_leaves_the_disk_at_once(sqlite_app: Any) -> None:
    """Deleting the member (搬走, or erasure on request) takes the faces with it: off the
    write-ahead log at once as a face deletion does, not an hour later by the retention run."""
    headers, resident_id, database = resident_with_face(sqlite_app)

    answer = sqlite_app.delete(f"/api/v1/residents/{resident_id}", headers=headers)
    assert answer.status_code == 204, answer.text
    assert on_disk(database) == []


def test_a_family_moved_out_leaves_the_disk_at_once(sqlite_app: Any) -> None:
    headers, resident_id, database = resident_with_face(sqlite_app)
    household = sqlite_app.get(f"/api/v1/residents/{resident_id}",
                               headers=headers).json()["household_id"]
    url = f"/api/v1/households/{household}/move-out"
    expected = sqlite_app.post(url, headers=headers).json()["expected"]

    answer = sqlite_app.post(url, params={"dry_run": "false"}, json={"expected": expected},
                             headers=headers)
    assert answer.status_code == 200, answer.text
    assert on_disk(database) == []


def test_a_family_moved_out_on_the_console_leaves_the_disk_at_once(sqlite_app: Any) -> None:
    headers, resident_id, database = resident_with_face(sqlite_app)
    household = sqlite_app.get(f"/api/v1/residents/{resident_id}",
                               headers=headers).json()["household_id"]
    csrf = cookie_login(sqlite_app, "admin", "admin")
    url = f"/console/admin/households/{household}/move-out"
    expected = EXPECTED.search(sqlite_app.get(url).text)
    assert expected is not None

    answer = sqlite_app.post(url, data={"csrf_token": csrf, "expected": expected.group(1)})
    assert answer.status_code == 200, answer.text
    assert on_disk(database) == []
