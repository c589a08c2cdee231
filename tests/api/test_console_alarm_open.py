"""The barrier-fault alarm of a car let through whose barrier did not open carries the same
人工开闸放行 as that car's passage row.

The guard sees the alarm first (it beeps, at the top of the page); the open there names the
passage, so the car is counted once through. Only while the passage is still uncounted
(``admission_undone``) and its gate has a barrier: otherwise there is nothing to open for.
Through the real app, the simulated barrier's relay unreachable for that one car.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api.test_console import add_staff, cookie_login
from tests.api.test_guard_open_gives_admission_back import (
    failed_entry,
    guard_opens,
    visitor_pass,
)
from tests.conftest import LabelledPhoto

ALARMS = "/console/fragments/alarms"


def fault_alarm_of(html: str, passage_id: int) -> str:
    """The hardware_fault alarm tied to the passage, as the banner shows it."""
    match = re.search(rf'<div class="alarm" data-alarm-id="\d+" data-kind="hardware_fault" '
                      rf'data-passage="{passage_id}">.*?</div>', html, re.S)
    assert match is not None, f"no hardware_fault alarm for passage {passage_id} in the banner"
    return match.group(0)


def open_button(row: str) -> str | None:
    match = re.search(r'<button type="button" class="btn small open passage-open"[^>]*>', row)
    return match.group(0) if match else None


@pytest.fixture
def guard(client: Any) -> dict[str, str]:
    return add_staff(client.app.state.services, "guard", "guard")


def failed_visitor_entry(client: Any, photo: LabelledPhoto) -> int:
    """A visitor with a pass is allowed; the barrier fails for that car: its passage."""
    admin = add_staff(client.app.state.services, "admin", "admin")
    visitor_pass(client, admin, photo.plate)
    return failed_entry(client, photo)


def test_the_fault_alarm_opens_for_the_uncounted_car_until_it_is_counted(
    client: Any, guard: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    passage_id = failed_visitor_entry(client, photo)
    cookie_login(client, "guard", "guard")

    for html in (client.get(ALARMS).text, client.get("/console").text):
        button = open_button(fault_alarm_of(html, passage_id))
        assert button is not None
        assert f'data-passage="{passage_id}"' in button and 'data-gate="main-in"' in button
        assert photo.plate in button  # the dialog's title names the car

    opened = guard_opens(client, guard, "main-in", passage_id)
    assert opened.status_code == 200 and opened.json()["admission"] == "redone", opened.text

    # The alarm stays until acknowledged; the car is counted, so nothing is left to open for.
    assert open_button(fault_alarm_of(client.get(ALARMS).text, passage_id)) is None


def test_no_open_on_the_alarm_at_a_gate_without_a_barrier(
    client: Any, guard: dict[str, str], readable_photos: list[LabelledPhoto],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passage_id = failed_visitor_entry(client, readable_photos[0])
    cookie_login(client, "guard", "guard")
    assert open_button(fault_alarm_of(client.get(ALARMS).text, passage_id)) is not None

    # The gate is configured without a barrier (a camera-only lane): an open would be refused.
    monkeypatch.delitem(client.app.state.services.barriers, "main-in")
    assert open_button(fault_alarm_of(client.get(ALARMS).text, passage_id)) is None
