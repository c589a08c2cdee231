"""Face templates written by another process reach the running controller's matcher without a
restart, and a reload never brings back a face deleted while it was reading (PIPL)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from errors import InvalidInputError
from models.db import create_db_engine, make_session_factory, transaction
from models.faces import FaceTemplate
from models.people import Resident
from services.enrol_folder import enrol_folder
from services.faces import FaceService, to_blob
from tests.conftest import add_user, wait_until
from vision.face_matcher import FaceMatcher

# Fast enough for a test to wait out; the bound is what is checked, not this value.
CHECK_S = 0.5
# The check interval plus a reload of a handful of templates, with room for a busy CI box.
BOUND_S = CHECK_S + 4.0


def embedding(seed: int) -> np.ndarray:
    """A synthetic face embedding: distinct seeds are far apart (distance ~1 at this scale)."""
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector) * np.float32(0.7)


@pytest.fixture
def other_process(client_fast: Any) -> Iterator[sessionmaker[Session]]:
    """Sessions on an engine of their own, as ``main.py enrol-faces`` opens beside the app."""
    engine = create_db_engine(client_fast.app.state.services.settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def client_fast(app_factory: Callable[..., Any]) -> Any:
    return app_factory(faces={"reload_check_s": CHECK_S})


def consenting_resident(client: Any, headers: dict[str, str], *, consent: bool = True) -> int:
    """A resident of a household of their own, with face consent recorded (unless not)."""
    unit = f"{100 + len(client.get('/api/v1/households', headers=headers).json())}"
    hid = client.post(
        "/api/v1/households", json={"building": "9栋", "unit": unit}, headers=headers
    ).json()["id"]
    rid = int(client.post(
        "/api/v1/residents", json={"household_id": hid, "name": f"住户{unit}"}, headers=headers
    ).json()["id"])
    if consent:
        given = client.put(f"/api/v1/residents/{rid}/consent", json={"note": "表格 7"},
                           headers=headers)
        assert given.status_code == 200, given.text
    return rid


def test_templates_added_by_another_process_are_recognised_within_the_bound(
    client_fast: Any, other_process: sessionmaker[Session]
) -> None:
    headers = {"Authorization": f"Bearer {add_user(client_fast, 'admin', 'admin')}"}
    matcher = client_fast.app.state.services.faces.matcher
    rid = consenting_resident(client_fast, headers)
    face = embedding(1)
    assert not matcher.match(face).accepted

    with transaction(other_process) as session:
        session.add(FaceTemplate(resident_id=rid, embedding=to_blob(face), created_by="import"))

    wait_until(lambda: rid in matcher, BOUND_S, "the imported face in the running matcher")
    match = matcher.match(face)
    assert match.accepted and match.identity_id == rid


def test_a_template_deleted_in_the_database_leaves_the_running_matcher(
    client_fast: Any, other_process: sessionmaker[Session]
) -> None:
    headers = {"Authorization": f"Bearer {add_user(client_fast, 'admin', 'admin')}"}
    faces = client_fast.app.state.services.faces
    kept, gone = (consenting_resident(client_fast, headers) for _ in range(2))
    faces.enrol(kept, [embedding(2)], "admin")
    faces.enrol(gone, [embedding(3)], "admin")

    with transaction(other_process) as session:
        session.execute(delete(FaceTemplate).where(FaceTemplate.resident_id == gone))

    wait_until(lambda: gone not in faces.matcher, BOUND_S, "the deleted face to leave")
    assert not faces.matcher.match(embedding(3)).accepted
    assert faces.matcher.match(embedding(2)).identity_id == kept


def delete_faces(client: Any, rid: int, headers: dict[str, str]) -> Any:
    return client.delete(f"/api/v1/residents/{rid}/faces", headers=headers)


def withdraw_consent(client: Any, rid: int, headers: dict[str, str]) -> Any:
    return client.delete(f"/api/v1/residents/{rid}/consent", headers=headers)


def delete_resident(client: Any, rid: int, headers: dict[str, str]) -> Any:
    return client.delete(f"/api/v1/residents/{rid}", headers=headers)


@pytest.mark.parametrize("deletion", [delete_faces, withdraw_consent, delete_resident])
def test_a_deletion_while_a_reload_reads_is_not_undone_by_it(
    app_factory: Callable[..., Any], deletion: Callable[[Any, int, dict[str, str]], Any]
) -> None:
    """The reload read the resident's template; the console deletes it before the reload is
    swapped in. Swapping it in anyway would let the gate open for a face erased on request."""
    # The periodic check never runs here: the read and the swap are the test's own steps.
    client = app_factory(faces={"reload_check_s": 300})
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    faces = client.app.state.services.faces
    rid = consenting_resident(client, headers)
    faces.enrol(rid, [embedding(4)], "admin")

    read = faces.read_templates()  # the reload has read the rows ...
    assert (read.templates, read.residents) == (1, 1)
    response = deletion(client, rid, headers)  # ... the deletion commits meanwhile ...
    assert response.status_code in (200, 204), response.text
    assert faces.apply(read) is False  # ... and the reload is set aside, not swapped in.

    assert rid not in faces.matcher
    assert not faces.matcher.match(embedding(4)).accepted
    # Read again after the deletion: applied, with nothing to bring back.
    assert faces.apply(faces.read_templates()) is True
    assert rid not in faces.matcher


def test_a_reload_read_after_the_deletion_is_swapped_in(
    app_factory: Callable[..., Any],
) -> None:
    """The guard sets aside only reads that began before a change: one that began after it is
    applied, so imports keep arriving while the console is in use."""
    client = app_factory(faces={"reload_check_s": 300})
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    faces = client.app.state.services.faces
    rid, other = (consenting_resident(client, headers) for _ in range(2))
    faces.enrol(rid, [embedding(5)], "admin")
    assert delete_faces(client, rid, headers).status_code == 200
    faces.enrol(other, [embedding(6)], "admin")

    read = faces.read_templates()
    assert (read.templates, read.residents) == (1, 1)
    assert faces.apply(read) is True
    assert rid not in faces.matcher and other in faces.matcher


def _after_first_transaction(
    monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]
) -> list[threading.Thread]:
    """Run ``then`` on a thread of its own (another admin's request) right after the first
    transaction of services.faces commits, and give it a second to finish: it does unless it
    waits for the one that committed. The thread is returned to be joined."""
    import services.faces as faces_module

    real = faces_module.transaction
    started: list[threading.Thread] = []

    @contextmanager
    def hooked(factory: Any, **kwargs: Any) -> Iterator[Session]:
        with real(factory, **kwargs) as session:
            yield session
        if not started:
            started.append(threading.Thread(target=then))
            started[0].start()
            started[0].join(1.0)

    monkeypatch.setattr(faces_module, "transaction", hooked)
    return started


def test_a_deletion_right_after_an_enrolment_commits_leaves_no_face_in_the_matcher(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The enrolment added the face to the matcher after its commit: a deletion committed
    and forgotten in between was undone in memory, and no reload noticed (the rows were as
    before the enrolment): the gate kept opening for an erased face until a restart."""
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    faces = client.app.state.services.faces
    rid = consenting_resident(client, headers)
    started = _after_first_transaction(
        monkeypatch, lambda: faces.delete(rid, "admin2", "deletion request")
    )
    faces.enrol(rid, [embedding(1)], "admin")
    started[0].join()
    assert faces.template_count(rid) == 0
    assert rid not in faces.matcher
    assert not faces.matcher.match(embedding(1)).accepted


def test_consent_withdrawn_while_an_enrolment_writes_leaves_no_template(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The enrolment read the consent, then wrote: a withdrawal committed in between was
    followed by templates stored without consent (PIPL)."""
    import services.faces as faces_module

    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    faces = client.app.state.services.faces
    rid = consenting_resident(client, headers)
    real = faces_module._require_consent
    started: list[threading.Thread] = []

    def checked_then_withdrawn(resident: Any) -> None:
        real(resident)
        if not started:
            started.append(
                threading.Thread(
                    target=faces.withdraw_consent, args=(rid, "admin2", "consent withdrawn")
                )
            )
            started[0].start()
            started[0].join(1.0)

    monkeypatch.setattr(faces_module, "_require_consent", checked_then_withdrawn)
    with suppress(InvalidInputError):  # refused: the withdrawal came first
        faces.enrol(rid, [embedding(1)], "admin")
    started[0].join()
    assert faces.template_count(rid) == 0
    assert rid not in faces.matcher


def _deleted_at_first_write(
    sessions: sessionmaker[Session], delete: Callable[[], object]
) -> list[threading.Thread]:
    """Run ``delete`` (the office, in the running server) on a thread of its own as the
    first transaction of ``sessions`` (the other process) is about to write, and give it a
    second: it finishes unless it waits for that transaction."""
    started: list[threading.Thread] = []

    def office_deletes(session: Session, *_: Any) -> None:
        if not started and any(isinstance(row, Resident) for row in session.dirty):
            started.append(threading.Thread(target=delete))
            started[0].start()
            started[0].join(1.0)

    event.listen(sessions, "before_flush", office_deletes)
    return started


def test_a_resident_deleted_as_enrol_faces_records_their_consent_ends_no_run_nor_keeps_a_face(
    client_fast: Any, other_process: sessionmaker[Session], tmp_path: Path
) -> None:
    """``enrol-faces --record-consent`` in another process read the resident, the office
    deleted them (PIPL) in the running server, the consent's write matched no row: a
    StaleDataError traceback ended the run, and the summary of who was enrolled was lost.
    Now the deletion goes first (the resident is one failure line) or after (its cascade
    takes the face just enrolled), and neither the database nor the running matcher keeps
    their face."""
    headers = {"Authorization": f"Bearer {add_user(client_fast, 'admin', 'admin')}"}
    server = client_fast.app.state.services
    # The paper form in the folder is their consent (one on file already is kept as it is).
    rid = consenting_resident(client_fast, headers, consent=False)
    # The command's own FaceService on its own engine; its photos read as one face each.
    command = FaceService(engine=server.faces.engine, matcher=FaceMatcher(0.6, 0.0),
                          sessions=other_process, max_pixels=10**6)
    command.embed_photos = lambda photos: [embedding(7) for _ in photos]  # type: ignore[method-assign]
    deleted: list[Any] = []
    started = _deleted_at_first_write(
        other_process, lambda: deleted.append(delete_resident(client_fast, rid, headers)))
    folder = tmp_path / "import"
    (folder / str(rid)).mkdir(parents=True)
    (folder / str(rid) / "a.jpg").write_bytes(b"photo")

    summary = enrol_folder(SimpleNamespace(sessions=other_process, faces=command), folder,
                           operator="admin", record_consent=True, note="表格 7",
                           show_progress=False)
    started[0].join()
    assert deleted[0].status_code == 204
    # Enrolled before the deletion (whose cascade took the face), or refused after it.
    assert summary.enrolled == {str(rid): 1} or "not found" in dict(summary.failures)[str(rid)]
    with other_process() as session:
        assert session.get(Resident, rid) is None
        assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0
    server.faces.reload_if_changed()
    assert rid not in server.faces.matcher
    assert not server.faces.matcher.match(embedding(7)).accepted


def test_a_face_deletion_while_enrol_faces_reads_the_photos_stores_none_of_them(
    client_fast: Any, other_process: sessionmaker[Session], tmp_path: Path
) -> None:
    """The office deleted the resident's face data on request (the consent stays) while
    ``enrol-faces`` in another process was reading that resident's photos: the command then
    stored them, and the running server's reload put the face back in its matcher a second
    after the deletion. Photos taken up before an erasure are now refused at the write."""
    headers = {"Authorization": f"Bearer {add_user(client_fast, 'admin', 'admin')}"}
    server = client_fast.app.state.services
    rid = consenting_resident(client_fast, headers)
    command = FaceService(engine=server.faces.engine, matcher=FaceMatcher(0.6, 0.0),
                          sessions=other_process, max_pixels=10**6)

    def read_as_the_office_deletes(photos: list[bytes]) -> list[np.ndarray]:
        assert delete_faces(client_fast, rid, headers).status_code == 200
        return [embedding(8) for _ in photos]

    command.embed_photos = read_as_the_office_deletes  # type: ignore[method-assign]
    folder = tmp_path / "import"
    (folder / str(rid)).mkdir(parents=True)
    (folder / str(rid) / "a.jpg").write_bytes(b"photo")

    summary = enrol_folder(SimpleNamespace(sessions=other_process, faces=command), folder,
                           operator="admin", record_consent=False, note="", show_progress=False)
    assert summary.enrolled == {}
    assert "erased while these photos were being read" in dict(summary.failures)[str(rid)]
    assert server.faces.template_count(rid) == 0
    server.faces.reload_if_changed()
    assert rid not in server.faces.matcher
    assert not server.faces.matcher.match(embedding(8)).accepted


def test_a_face_deletion_while_the_console_reads_the_photos_is_a_409(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins: one uploads a resident's photos, the other deletes that resident's face
    data on request while the photos are turned into features. The upload answers 409 and
    nothing of it is stored or matched; an upload after the deletion is stored as ever."""
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    faces = client.app.state.services.faces
    rid = consenting_resident(client, headers)
    deleted: list[int] = []

    def read_as_another_admin_deletes(photos: list[bytes]) -> list[np.ndarray]:
        if not deleted:
            deleted.append(faces.delete(rid, "admin2", "deletion request"))
        return [embedding(9) for _ in photos]

    monkeypatch.setattr(faces, "_embed_photos", read_as_another_admin_deletes)
    upload = {"files": [("image", ("a.jpg", b"photo", "image/jpeg"))], "headers": headers}
    refused = client.post(f"/api/v1/residents/{rid}/faces", **upload)
    assert refused.status_code == 409, refused.text
    assert "erased while these photos were being read" in refused.json()["detail"]
    assert faces.template_count(rid) == 0 and rid not in faces.matcher

    again = client.post(f"/api/v1/residents/{rid}/faces", **upload)
    assert again.status_code == 201, again.text
    assert faces.template_count(rid) == 1 and rid in faces.matcher


@pytest.mark.parametrize(
    ("erasure", "record_consent"),
    [(delete_faces, True), (withdraw_consent, True), (delete_faces, False)],
)
def test_an_erasure_while_enrol_faces_runs_skips_that_resident(
    client_fast: Any, other_process: sessionmaker[Session], tmp_path: Path,
    erasure: Callable[[Any, int, dict[str, str]], Any], record_consent: bool,
) -> None:
    """``enrol-faces`` was at an earlier resident's folder when the office erased a later
    one's face data on their request: reaching that folder the command (with
    ``--record-consent``, signed paper forms) recorded the paper consent again, read the
    photos and stored the face, after the withdrawal or the deletion. An erasure after the
    run began now skips the resident before any of their photos is read."""
    headers = {"Authorization": f"Bearer {add_user(client_fast, 'admin', 'admin')}"}
    server = client_fast.app.state.services
    first, later = consenting_resident(client_fast, headers), consenting_resident(
        client_fast, headers)
    command = FaceService(engine=server.faces.engine, matcher=FaceMatcher(0.6, 0.0),
                          sessions=other_process, max_pixels=10**6)
    erased: list[Any] = []

    def read_as_the_office_erases(photos: list[bytes]) -> list[np.ndarray]:
        assert not erased, "the later resident's photos were read after the erasure"
        erased.append(erasure(client_fast, later, headers))  # at the first resident's photos
        return [embedding(10) for _ in photos]

    command.embed_photos = read_as_the_office_erases  # type: ignore[method-assign]
    folder = tmp_path / "import"
    for rid in (first, later):
        (folder / str(rid)).mkdir(parents=True)
        (folder / str(rid) / "a.jpg").write_bytes(b"photo")

    summary = enrol_folder(SimpleNamespace(sessions=other_process, faces=command), folder,
                           operator="admin", record_consent=record_consent, note="表格 7",
                           show_progress=False)
    assert erased[0].status_code == 200
    assert summary.enrolled == {str(first): 1}
    assert "erased after this run began" in dict(summary.failures)[str(later)]
    assert server.faces.template_count(later) == 0
    consent = client_fast.get(f"/api/v1/residents/{later}", headers=headers).json()
    assert (consent["face_consent_at"] is None) == (erasure is withdraw_consent)
    server.faces.reload_if_changed()
    assert later not in server.faces.matcher
