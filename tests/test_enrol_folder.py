"""Bulk face enrolment from a folder (issue 4): progress, a summary of every failure."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from main import main
from services.enrol_folder import enrol_folder
from tests.api.test_faces import new_resident
from tests.conftest import SHARED_DATA

FACES = SHARED_DATA / "faces"


def test_folder_import_enrols_by_id_and_name_and_reports_failures(
    client: Any, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    obama = FACES / "ag_barack_obama"
    if not obama.is_dir():
        pytest.skip(f"real face photos not found at {FACES}")
    by_id = new_resident(client, admin_headers)
    hid = client.get(f"/api/v1/residents/{by_id}", headers=admin_headers).json()["household_id"]
    client.post("/api/v1/residents", json={"household_id": hid, "name": "Joe"},
                headers=admin_headers)
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
        client.app.state.services, folder, operator="office", record_consent=True,
        note="paper forms, box 3", show_progress=False,
    )
    assert summary.enrolled == {str(by_id): 1, "Joe": 1}
    failed = dict(summary.failures)
    assert "not a JPEG" in failed["Joe/notes.jpg"]
    assert "no resident named 'Nobody'" in failed["Nobody"]


def test_cli_refuses_a_missing_folder_with_exit_code_2(tmp_path: Path) -> None:
    code = main(["enrol-faces", str(tmp_path / "missing"), "--operator", "office"])
    assert code == 2
