"""Bulk face enrolment from a folder (issue 4): progress, a summary of every failure."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from main import main
from models.db import transaction
from models.events import AuditEntry
from models.people import Resident, User
from services.enrol_folder import enrol_folder
from tests.api.test_faces import new_resident
from tests.conftest import SHARED_DATA, add_user, wait_until

FACES = SHARED_DATA / "faces"


def test_folder_import_enrols_by_id_and_name_and_reports_failures(
    client: Any, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    obama = FACES / "ag_barack_obama"
    if not obama.is_dir():
        pytest.skip(f"real face photos not found at {FACES}")
    by_id = new_resident(client, admin_headers)
    hid = client.get(f"/api/v1/residents/{by_id}", headers=admin_headers).json()["household_id"]
    client.post(
        "/api/v1/residents", json={"household_id": hid, "name": "Joe"}, headers=admin_headers
    )
    folder = tmp_path / "import"
    (folder / str(by_id)).mkdir(parents=True)
    shutil.copy(obama / "examples__knn_examples__train__obama__obama.jpg", folder / str(by_id))
    (folder / "Joe").mkdir()
    alex = FACES / "ag_alex_lacamoire" / "examples__knn_examples__train__alex_lacamoire__img1.jpg"
    shutil.copy(alex, folder / "Joe")
    (folder / "Joe" / "notes.jpg").write_bytes(b"not a photo")
    (folder / "Nobody").mkdir()
    (folder / "Nobody" / "a.jpg").write_bytes(b"x")

    summary = enrol_folder(
        client.app.state.services,
        folder,
        operator="admin",
        record_consent=True,
        note="paper forms, box 3",
        show_progress=False,
    )
    assert summary.enrolled == {str(by_id): 1, "Joe": 1}
    failed = dict(summary.failures)
    assert "not a JPEG" in failed["Joe/notes.jpg"]
    assert "no resident named 'Nobody'" in failed["Nobody"]


def test_folder_import_without_consent_reads_no_photo(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --record-consent, a resident whose consent is not recorded is refused before
    any of their photos is decoded or turned into features."""
    services = client.app.state.services

    def never(_: Any) -> Any:
        raise AssertionError("a photo was read into features without recorded consent")

    monkeypatch.setattr(services.faces.engine, "embed_single_face", never)
    rid = new_resident(client, admin_headers)
    (tmp_path / str(rid)).mkdir()
    assert cv2.imwrite(str(tmp_path / str(rid) / "a.jpg"), np.full((200, 200, 3), 128, np.uint8))
    summary = enrol_folder(
        services, tmp_path, operator="admin", record_consent=False, note="", show_progress=False
    )
    assert summary.enrolled == {}
    assert "no recorded face consent" in dict(summary.failures)[str(rid)]


def _run_against(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """main() beside the app: the app's database and data directory."""
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setenv("PARKGATE_DATABASE_URL", services.settings.resolved_database_url)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(services.settings.data_dir))


@pytest.mark.parametrize(
    ("operator", "said"),
    [
        ("office", "'office' is no staff account"),
        ("guard1", "'guard1' is a guard account, not an admin"),
        ("retired", "'retired' is a deactivated account"),
    ],
)
def test_cli_refuses_an_operator_who_is_not_an_active_admin_and_writes_nothing(
    client: Any,
    admin_headers: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operator: str,
    said: str,
) -> None:
    """The audit log names who enrolled a face: a made-up name, a guard or a former admin
    is refused before any consent or template is written."""
    services = client.app.state.services
    add_user(client, "guard1", "guard")
    add_user(client, "retired", "admin")
    with transaction(services.sessions) as session:
        session.scalars(select(User).where(User.username == "retired")).one().active = False
    resident = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(resident)).mkdir(parents=True)
    (folder / str(resident) / "a.jpg").write_bytes(b"not a photo")
    _run_against(services, monkeypatch)
    capsys.readouterr()

    code = main(
        [
            "enrol-faces",
            str(folder),
            "--operator",
            operator,
            "--record-consent",
            "--note",
            "paper forms, box 3",
        ]
    )

    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and said in errors[0] and "Nothing enrolled" in errors[0]
    with services.sessions() as session:
        assert session.get(Resident, resident).face_consent_at is None
        assert not list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("face.%")))
        )


def test_the_operator_is_recorded_as_the_account_spells_it(
    client: Any, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """The login form's folding holds: ADMIN is the admin account, recorded as "admin"."""
    services = client.app.state.services
    resident = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(resident)).mkdir(parents=True)
    (folder / str(resident) / "a.jpg").write_bytes(b"not a photo")

    enrol_folder(
        services,
        folder,
        operator="ADMIN",
        record_consent=True,
        note="paper forms, box 3",
        show_progress=False,
    )

    with services.sessions() as session:
        assert session.get(Resident, resident).face_consent_by == "admin"
        assert list(
            session.scalars(select(AuditEntry.username).where(AuditEntry.action == "face.consent"))
        ) == ["admin"]


def test_cli_refuses_a_missing_folder_with_exit_code_2(tmp_path: Path) -> None:
    code = main(["enrol-faces", str(tmp_path / "missing"), "--operator", "office"])
    assert code == 2


def test_cli_refuses_a_folder_without_resident_sub_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One person's photos given as the import folder (one level too deep) is a mistake to
    name, not "enrolled 0 residents; 0 failures" with success."""
    folder = tmp_path / "王秀英"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    (folder / "b.JPG").write_bytes(b"x")
    code = main(["enrol-faces", str(folder), "--operator", "office"])
    assert code == 2
    said = capsys.readouterr().err  # main() logs to stderr
    assert "has no sub-folders (2 photos lie in it directly)" in said
    assert "<resident id or name>" in said


def test_faces_imported_beside_a_running_controller_work_at_its_gates_without_a_restart(
    app_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The import writes the database from a process of its own; the controller running
    beside it recognises the face within its check interval, and the command says so."""
    obama = FACES / "ag_barack_obama" / "examples__knn_examples__train__obama__obama.jpg"
    if not obama.is_file():
        pytest.skip(f"real face photos not found at {FACES}")
    client = app_factory(faces={"reload_check_s": 0.5})
    admin_headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    services = client.app.state.services
    resident = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(resident)).mkdir(parents=True)
    shutil.copy(obama, folder / str(resident))
    _run_against(services, monkeypatch)

    code = main(
        [
            "enrol-faces",
            str(folder),
            "--operator",
            "admin",
            "--record-consent",
            "--note",
            "paper forms, box 3",
        ]
    )

    assert code == 0
    said = capsys.readouterr().err
    assert "no restart needed" in said and "restart parkgate" not in said
    # The command's own settings (defaults): the bound it promises.
    assert "within about 5 s" in said
    wait_until(
        lambda: resident in services.faces.matcher,
        0.5 + 4.0,
        "the imported face in the running controller's matcher",
    )
    probe = services.faces.engine.detect(cv2.imread(str(obama)), max_faces=1)[0]
    match = services.faces.matcher.match(probe.embedding)
    assert match.accepted and match.identity_id == resident


def test_ctrl_c_midway_says_who_was_enrolled_and_exits_130(
    client: Any,
    admin_headers: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C after the first of three residents: the run stops between residents and says
    which were enrolled (a re-run adds their photos again), not a silent exit."""
    from services.faces import EMBEDDING_SIZE, FaceService

    services = client.app.state.services
    residents = [new_resident(client, admin_headers)]
    hid = client.get(f"/api/v1/residents/{residents[0]}", headers=admin_headers).json()[
        "household_id"]
    for name in ("Joe", "Ann"):
        residents.append(client.post("/api/v1/residents", json={"household_id": hid, "name": name},
                                     headers=admin_headers).json()["id"])
    folder = tmp_path / "import"
    for rid in residents:
        (folder / str(rid)).mkdir(parents=True)
        (folder / str(rid) / "a.jpg").write_bytes(b"read by the fake below")
    calls: list[int] = []

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        vector = np.ones(EMBEDDING_SIZE, np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    _run_against(services, monkeypatch)
    capsys.readouterr()

    code = main(["enrol-faces", str(folder), "--operator", "admin", "--record-consent",
                 "--note", "paper forms, box 3"])

    assert code == 130
    said = capsys.readouterr().err
    first, second, _ = sorted(str(rid) for rid in residents)
    assert f"interrupted (Ctrl-C) at {second}" in said
    assert f"enrolled before it: {first};" in said
    assert said.rstrip().endswith("photos already enrolled are not stored twice")
    assert len(calls) == 2  # the third resident was not started


def test_a_folder_named_like_a_photo_does_not_end_the_run(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-folder called ``old.jpg`` in a resident's folder was read as a photo: an
    IsADirectoryError stopped the whole run ("cannot start"), everyone after it not enrolled."""
    from services.faces import EMBEDDING_SIZE, FaceService

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        vector = np.ones(EMBEDDING_SIZE, np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    rid = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(rid) / "old.jpg").mkdir(parents=True)
    (folder / str(rid) / "a.jpg").write_bytes(b"read by the fake above")
    summary = enrol_folder(client.app.state.services, folder, operator="admin",
                           record_consent=True, note="box 3", show_progress=False)
    assert summary.enrolled == {str(rid): 1}
    assert summary.failures == []


def test_an_operator_or_note_typed_at_a_gbk_terminal_is_one_line(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that are not UTF-8 arrive as surrogates: the account query (enrol-faces and
    import-residents) raised UnicodeEncodeError, a traceback with exit 1."""
    from errors import InvalidInputError
    from services.enrol_folder import admin_operator

    with client.app.state.services.sessions() as session, \
            pytest.raises(InvalidInputError, match="--operator is not UTF-8 text"):
        admin_operator(session, "\udcd5\udcc5\udcce\udcb0")  # 张伟 in GBK
    (tmp_path / "import" / "17").mkdir(parents=True)
    code = main(["enrol-faces", str(tmp_path / "import"), "--operator", "admin",
                 "--record-consent", "--note", "\udcb9\udcf1A"])
    assert code == 2
    assert "--note is not UTF-8 text" in capsys.readouterr().err


def test_a_folder_named_in_gbk_is_one_failure_not_the_end_of_the_run(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip made on a Chinese Windows unzips with its folder names in GBK: the name query
    raised UnicodeEncodeError, a traceback that ended the run without its summary."""
    import os

    from services.faces import EMBEDDING_SIZE, FaceService

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        vector = np.ones(EMBEDDING_SIZE, np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    rid = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(rid)).mkdir(parents=True)
    (folder / str(rid) / "a.jpg").write_bytes(b"read by the fake above")
    gbk = os.path.join(os.fsencode(folder), "林阿姨".encode("gbk"))
    os.mkdir(gbk)
    Path(os.fsdecode(gbk), "a.jpg").write_bytes(b"read by the fake above")

    summary = enrol_folder(
        client.app.state.services,
        folder,
        operator="admin",
        record_consent=True,
        note="box 3",
        show_progress=False,
    )
    assert summary.enrolled == {str(rid): 1}
    [(where, why)] = summary.failures
    assert where == os.fsdecode("林阿姨".encode("gbk"))
    assert "not UTF-8" in why and "林阿姨" in why


def test_paper_consent_from_the_folder_does_not_give_back_a_withdrawn_consent(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder's paper forms were collected once for everybody; run again later with
    --record-consent, they recorded consent for a resident who had withdrawn it since, read
    their photos and stored their face, with nobody deciding it for that resident."""
    services = client.app.state.services
    rid = new_resident(client, admin_headers)
    base = f"/api/v1/residents/{rid}/consent"
    assert client.put(base, json={"note": "form 7"}, headers=admin_headers).status_code == 200
    assert client.delete(base, headers=admin_headers).status_code == 200  # withdrawn
    (tmp_path / str(rid)).mkdir()
    assert cv2.imwrite(str(tmp_path / str(rid) / "a.jpg"), np.full((200, 200, 3), 128, np.uint8))

    def never(_: Any) -> Any:
        raise AssertionError("a photo was read into features after consent was withdrawn")

    with monkeypatch.context() as patched:
        patched.setattr(services.faces.engine, "embed_single_face", never)
        summary = enrol_folder(services, tmp_path, operator="admin", record_consent=True,
                               note="paper forms, box 3", show_progress=False)
    assert summary.enrolled == {}
    assert "has withdrawn face consent" in dict(summary.failures)[str(rid)]
    with services.sessions() as session:
        assert session.get(Resident, rid).face_consent_at is None
        consents = session.scalars(select(AuditEntry.id).where(
            AuditEntry.action == "face.consent", AuditEntry.target == f"resident:{rid}"))
        assert len(list(consents)) == 1  # the console's, not the folder's

    # The office records the resident's new consent on the console: the folder goes ahead.
    assert client.put(base, json={"note": "form 7b"}, headers=admin_headers).status_code == 200
    again = enrol_folder(services, tmp_path, operator="admin", record_consent=True,
                         note="paper forms, box 3", show_progress=False)
    assert "has withdrawn" not in dict(again.failures).get(str(rid), "")


def test_photos_in_formats_not_read_are_named_not_passed_over(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An iPhone's HEIC or a chat app's WebP in a resident's folder was skipped without a
    word: a folder of only such photos failed as 'no photos', and beside a JPEG they were
    never mentioned, so the office took every photo for enrolled. A Windows download saved as
    .jfif (a JPEG) was skipped the same way."""
    from services.faces import EMBEDDING_SIZE, FaceService

    read: list[bytes] = []

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        read.extend(photos)
        # One face per photo, each its own (the same one twice would be stored once).
        vector = np.random.default_rng(len(read)).random(EMBEDDING_SIZE).astype(np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    services = client.app.state.services
    mixed = new_resident(client, admin_headers)
    hid = client.get(f"/api/v1/residents/{mixed}", headers=admin_headers).json()["household_id"]
    only_heic = client.post("/api/v1/residents", json={"household_id": hid, "name": "赵丽"},
                            headers=admin_headers).json()["id"]
    folder = tmp_path / "import"
    (folder / str(mixed)).mkdir(parents=True)
    (folder / str(mixed) / "a.jpg").write_bytes(b"jpeg")
    (folder / str(mixed) / "b.jfif").write_bytes(b"jfif")
    (folder / str(mixed) / "IMG_0001.HEIC").write_bytes(b"heic")
    (folder / str(mixed) / "chat.webp").write_bytes(b"webp")
    (folder / str(mixed) / "Thumbs.db").write_bytes(b"not a photo at all")
    (folder / "赵丽").mkdir()
    (folder / "赵丽" / "IMG_0002.heic").write_bytes(b"heic")

    summary = enrol_folder(services, folder, operator="admin", record_consent=True,
                           note="box 3", show_progress=False)

    assert sorted(read) == [b"jfif", b"jpeg"]
    assert summary.enrolled == {str(mixed): 2}
    failed = dict(summary.failures)
    assert set(failed) == {f"{mixed}/IMG_0001.HEIC", f"{mixed}/chat.webp",
                           "赵丽/IMG_0002.heic", "赵丽"}
    assert failed[f"{mixed}/IMG_0001.HEIC"].startswith("HEIC photos are not read")
    assert failed[f"{mixed}/chat.webp"].startswith("WEBP photos are not read")
    assert "save it as JPEG" in failed["赵丽/IMG_0002.heic"]
    assert failed["赵丽"] == "no JPEG, PNG or BMP photo"
    assert client.get(f"/api/v1/residents/{only_heic}/faces",
                      headers=admin_headers).json()["templates"] == 0


def test_a_failed_photo_is_named_by_its_file_alone(
    client: Any, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """Each photo of a folder is embedded on its own, so every failure read 'photo 1: …'
    after its file name: 'b.jpg: photo 1: …' named another photo than the one that failed."""
    rid = new_resident(client, admin_headers)
    person = tmp_path / "import" / str(rid)
    person.mkdir(parents=True)
    assert cv2.imwrite(str(person / "a.jpg"), np.full((200, 200, 3), 128, np.uint8))
    (person / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    summary = enrol_folder(client.app.state.services, tmp_path / "import", operator="admin",
                           record_consent=True, note="box 3", show_progress=False)
    failed = dict(summary.failures)
    assert failed[f"{rid}/a.jpg"].startswith("no face found in the photo")
    assert failed[f"{rid}/b.jpg"] == "the jpeg image is corrupt and could not be decoded"


def test_a_resident_folder_that_cannot_be_read_is_its_failure_not_the_end_of_the_run(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resident's folder that could not be listed (gone from a USB stick pulled out midway,
    no read permission for the account the command runs as) ended the run with 'cannot
    start: [Errno 2] …', exit 2, after residents had been enrolled, and without the summary
    saying which."""
    from services.faces import EMBEDDING_SIZE, FaceService

    folder = tmp_path / "import"
    first = new_resident(client, admin_headers)
    hid = client.get(f"/api/v1/residents/{first}", headers=admin_headers).json()["household_id"]
    second = client.post("/api/v1/residents", json={"household_id": hid, "name": "Joe"},
                         headers=admin_headers).json()["id"]
    for rid in (first, second):
        (folder / str(rid)).mkdir(parents=True)
        (folder / str(rid) / "a.jpg").write_bytes(b"read by the fake below")

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        shutil.rmtree(folder / str(second))  # gone once the run has listed it
        vector = np.ones(EMBEDDING_SIZE, np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    summary = enrol_folder(client.app.state.services, folder, operator="admin",
                           record_consent=True, note="box 3", show_progress=False)
    assert summary.enrolled == {str(first): 1}
    assert summary.failures == [(str(second), "cannot read the folder: No such file or directory")]
    assert summary.interrupted_at is None


@pytest.mark.parametrize("record_consent", [True, False])
def test_the_folder_does_not_give_back_a_face_deleted_on_request(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    record_consent: bool,
) -> None:
    """A resident asked the office to delete their face data (the consent stays, 删除人脸数据).
    The folder they were first enrolled from, run again later for the others (the guide says
    a re-run enrols everyone in it again), read their old photos and stored their face: the
    gate opened for them again, with nobody deciding it for that resident (a face deleted is
    no photo on file: it would be stored again). Now the folder
    skips them until the office decides for them on the console."""
    from services.faces import EMBEDDING_SIZE, FaceService

    read: list[bytes] = []

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        read.extend(photos)
        vector = np.ones(EMBEDDING_SIZE, np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    services = client.app.state.services
    rid = new_resident(client, admin_headers)
    consent = f"/api/v1/residents/{rid}/consent"
    faces = f"/api/v1/residents/{rid}/faces"
    assert client.put(consent, json={"note": "form 7"}, headers=admin_headers).status_code == 200
    (tmp_path / str(rid)).mkdir()
    (tmp_path / str(rid) / "a.jpg").write_bytes(b"old photo")

    def run() -> Any:
        return enrol_folder(services, tmp_path, operator="admin", record_consent=record_consent,
                            note="paper forms, box 3", show_progress=False)

    assert run().enrolled == {str(rid): 1}
    assert client.delete(faces, headers=admin_headers).status_code == 200  # on request
    read.clear()

    again = run()
    assert again.enrolled == {}
    assert "was deleted at their request" in dict(again.failures)[str(rid)]
    assert read == []  # not one of their photos was turned into features
    assert client.get(faces, headers=admin_headers).json()["templates"] == 0
    with services.sessions() as session:
        consents = session.scalars(select(AuditEntry.id).where(
            AuditEntry.action == "face.consent", AuditEntry.target == f"resident:{rid}"))
        # The console's, alone: the folder's paper form neither re-dates a consent on file
        # nor gives one after the deletion.
        assert len(list(consents)) == 1

    # The office decides for this resident on the console (their new form): the folder goes.
    assert client.put(consent, json={"note": "form 7b"}, headers=admin_headers).status_code == 200
    assert run().enrolled == {str(rid): 1}


def test_a_photo_beside_the_resident_folders_is_named_not_passed_over(
    client: Any, admin_headers: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo put straight into the folder, beside the residents' sub-folders (李四.jpg,
    meant for 李四), was passed over without a word: the run ended with no failure and 李四
    not enrolled. It is now a failure that says where the photo belongs."""
    from services.faces import EMBEDDING_SIZE, FaceService

    def embed(self: Any, photos: list[bytes]) -> list[np.ndarray]:
        vector = np.ones(EMBEDDING_SIZE, np.float32)
        return [vector / np.linalg.norm(vector)]

    monkeypatch.setattr(FaceService, "embed_photos", embed)
    rid = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(rid)).mkdir(parents=True)
    (folder / str(rid) / "a.jpg").write_bytes(b"read by the fake above")
    (folder / "李四.jpg").write_bytes(b"a photo")
    (folder / "IMG_0003.HEIC").write_bytes(b"a photo")
    (folder / "名单.xlsx").write_bytes(b"not a photo")
    summary = enrol_folder(client.app.state.services, folder, operator="admin",
                           record_consent=True, note="box 3", show_progress=False)
    assert summary.enrolled == {str(rid): 1}
    assert summary.failures == [
        (name, "a photo outside the residents' folders is not read: put it in "
               f"{folder}/<resident id or name>/")
        for name in ("IMG_0003.HEIC", "李四.jpg")
    ]


def test_running_the_folder_again_stores_no_photo_twice_and_keeps_the_consent(
    client: Any, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """The office fixes a few failed photos and runs the whole folder again, as anyone
    would: everybody enrolled the first time had every template stored a second time (the
    faces page counted them double) and their paper consent re-dated to the second run."""
    obama = FACES / "ag_barack_obama"
    if not obama.is_dir():
        pytest.skip(f"real face photos not found at {FACES}")
    rid = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(rid)).mkdir(parents=True)
    first_photo = obama / "examples__knn_examples__train__obama__obama.jpg"
    shutil.copy(first_photo, folder / str(rid) / "a.jpg")
    services = client.app.state.services

    def run() -> Any:
        return enrol_folder(services, folder, operator="admin", record_consent=True,
                            note="paper forms, box 3", show_progress=False)

    def on_file() -> tuple[int, Any, int, int]:
        with services.sessions() as session:
            resident = session.get(Resident, rid)
            entries = session.scalars(select(AuditEntry.action).where(
                AuditEntry.target == f"resident:{rid}")).all()
        templates = client.get(f"/api/v1/residents/{rid}/faces", headers=admin_headers)
        return (templates.json()["templates"], resident.face_consent_at,
                entries.count("face.enrol"), entries.count("face.consent"))

    assert run().enrolled == {str(rid): 1}
    first = on_file()
    assert (first[0], first[2], first[3]) == (1, 1, 1)

    again = run()
    assert again.enrolled == {} and again.already == [str(rid)] and again.failures == []
    assert on_file() == first  # same template count, consent time, audit entries

    # A new photo beside the old one: only the new one is stored.
    other = sorted(p for p in obama.iterdir() if p != first_photo)[0]
    shutil.copy(other, folder / str(rid) / "b.jpg")
    # The same photo re-saved (a phone's "save a copy", JPEG quality 80).
    resaved = cv2.imencode(".jpg", cv2.imread(str(first_photo)), [cv2.IMWRITE_JPEG_QUALITY, 80])
    (folder / str(rid) / "a copy.jpg").write_bytes(resaved[1].tobytes())
    assert run().enrolled == {str(rid): 1}
    assert on_file()[0] == 2

    # The console's upload of a photo on file changes nothing either.
    with first_photo.open("rb") as handle:
        uploaded = client.post(f"/api/v1/residents/{rid}/faces", headers=admin_headers,
                               files=[("image", ("again.jpg", handle.read(), "image/jpeg"))])
    assert uploaded.status_code == 201, uploaded.text
    assert {k: uploaded.json()[k] for k in ("templates", "added", "already_on_file")} == {
        "templates": 2, "added": 0, "already_on_file": 1}
