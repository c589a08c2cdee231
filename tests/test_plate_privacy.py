"""Plates in the log are masked unless the operator asks for them whole (plate_privacy.py).

The passage line named every car in full (``plate=闽A12345``) in a log journald keeps past
``retention.passage_days``. The log-volume walk of this session found it; the city feed masked
plates already."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import plate_privacy
from plate_privacy import mask_plate, plate_for_log
from tests.api.test_database_outage import RESIDENT, push
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import add_user


@pytest.fixture(autouse=True)
def _as_configured() -> Iterator[None]:
    yield
    plate_privacy.log_full_plates(False)


def test_masking() -> None:
    assert mask_plate("闽A12345") == "闽A1***5"
    assert mask_plate("闽AD12345") == "闽AD****5"
    assert mask_plate(None) is None
    assert plate_for_log("闽A12345") == "闽A1***5"
    plate_privacy.log_full_plates(True)
    assert plate_for_log("闽A12345") == "闽A12345"


@pytest.mark.parametrize("full", [False, True], ids=["default", "log_full_plates"])
def test_the_passage_and_typed_plate_lines_follow_the_setting(
    app_factory: Any, caplog: pytest.LogCaptureFixture, full: bool
) -> None:
    client = app_factory(log_full_plates=full)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    with caplog.at_level(logging.INFO):
        passage = push(client, "main-in", RESIDENT).json()
        typed = client.post("/api/v1/gates/main-out/typed-plate", headers=admin,
                            json={"plate": RESIDENT, "reason": "camera_dark"})
    assert typed.status_code == 200, typed.text
    lines = [r.getMessage() for r in caplog.records]
    start = f"passage {passage['passage_id']} "
    passage_line = next(line for line in lines if line.startswith(start))
    typed_line = next(line for line in lines if line.startswith("typed plate "))
    shown = RESIDENT if full else "闽A1***5"
    assert f"plate={shown} " in passage_line and typed_line.startswith(f"typed plate {shown} ")
    if not full:
        assert not [line for line in lines if RESIDENT in line], "a whole plate in the log"
