"""Every place a person types a plate, as the property office and the guards type them.

A plate typed in lower case, with a Chinese input method's full-width letters, with the dots
and spaces of the plate itself, with O/I for 0/1, pasted from WeChat with a zero-width space or
a newline, or on a traditional-Chinese input method (閩) is the same car: each entry point
stores the one canonical spelling the gates compare (闽A10345), refuses a second registration
of it, and finds it when searched. What is not a plate is a 4xx with the API's message and
nothing is stored. The folding is one function (``vision.plate_grammar.fold_typed_plate``);
these tests hold every entry point to it through the real app (SQLite, and PostgreSQL when
configured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from models.events import Passage
from models.vehicles import PlateListEntry, Vehicle, VisitorPass
from tests.api.conftest import running_app
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_parking import all_free
from tests.api.test_resident_import import csv_bytes
from tests.api.test_vehicle_entry import CAMERA, push
from tests.conftest import LabelledPhoto, database_params

PLATE = "闽A10345"

# (as typed, why a person types it so): each is PLATE.
SAME_PLATE: list[tuple[str, str]] = [
    ("闽a10345", "lower case"),
    ("闽Ａ１０３４５", "full-width letters and digits (Chinese input method)"),
    ("闽ａ１０３４５", "full-width lower case"),
    (" 闽A10345 ", "spaces around"),
    ("闽A 10345", "a space inside, as the plate shows it"),
    ("闽A·10345", "the plate's own dot"),
    ("闽A•10345", "a bullet for the dot"),
    ("闽A.10345", "a full stop for the dot"),
    ("闽A-10345", "a dash"),
    ("闽A。10345", "the full stop of a Chinese input method"),
    ("闽A－１０３４５", "full-width dash and digits"),
    ("闽AIO345", "I and O typed for 1 and 0 in the serial"),
    ("闽A10345\u200b", "a zero-width space pasted from WeChat"),
    ("\u200b闽A10345", "a zero-width space in front"),
    ("闽A\u200b10345", "a zero-width space inside"),
    ("\ufeff闽A10345", "a byte-order mark from a pasted file"),
    ("闽A10345\u2060", "a word joiner"),
    ("闽A10345\n", "a newline from WeChat"),
    ("闽A10345\r\n", "a Windows newline"),
    ("閩A10345", "the traditional form of the province (繁体输入法)"),
]

# Other plate families typed loosely, and the canonical plate each is.
OTHER_KINDS: list[tuple[str, str]] = [
    ("闽ad12345", "闽AD12345"),  # small new-energy
    ("闽Ａｄ１２３４５", "闽AD12345"),
    ("闽A12345d", "闽A12345D"),  # large new-energy
    ("闽a1034学", "闽A1034学"),
    ("閩A1034學", "闽A1034学"),
    ("闽A·1034挂", "闽A1034挂"),
    ("闽A1034掛", "闽A1034挂"),
    ("闽a1034警", "闽A1034警"),
    ("粵B·12345", "粤B12345"),
    ("滬A 12345", "沪A12345"),
]

# Not plates: refused with a 4xx, nothing stored.
NOT_PLATES: list[tuple[str, str]] = [
    ("13800138000", "a phone number"),
    ("", "empty"),
    ("   ", "blank"),
    ("\u200b", "only a zero-width space"),
    ("x" * 200, "200 characters"),
    ("闽A1034", "a character short"),
    ("闽A103456", "a character long"),
    ("车牌号码：闽A10345", "a caption around a plate"),
    ("闽A\x0010345", "a NUL inside"),
    ("闽A\u202e10345", "a right-to-left override (shows the serial backwards)"),
]
BLANK = {"", "   ", "\u200b"}


def household(client: Any, headers: dict[str, str], unit: str = "1201") -> int:
    response = client.post("/api/v1/households", json={"building": "3栋", "unit": unit},
                           headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def count(client: Any, model: Any) -> int:
    with client.app.state.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def review_passage(client: Any) -> int:
    """An unread car at main-in (a frame with no plate in it): the review queue's card. The
    frame is small: the recogniser's look at a 640x480 one cost 0.25 s of CPU, and the walk
    makes one card per spelling (~80 a run); at 64x48 it is 0.01 s and still unread."""
    ok, png = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    response = client.post("/api/v1/gates/main-in/frames", content=png.tobytes(),
                           headers={**CAMERA, "Content-Type": "image/png"})
    body = response.json()
    assert body["decision"] == "review", body
    return int(body["passage_id"])


# ---- the entry points ----------------------------------------------------------------------
# Each takes what was typed and answers (status, the plate stored or None, the answer's text);
# it undoes what it stored so that the next spelling starts from the same state.


@dataclass
class Walk:
    client: Any
    admin: dict[str, str]
    guard: dict[str, str]
    tmp_path: Path
    hid: int


Entry = Callable[[Walk, str], tuple[int, str | None, str]]


def vehicle_create(w: Walk, typed: str) -> tuple[int, str | None, str]:
    r = w.client.post("/api/v1/vehicles", json={"plate": typed, "household_id": w.hid},
                      headers=w.admin)
    if r.status_code != 201:
        return r.status_code, None, r.text
    assert w.client.delete(f"/api/v1/vehicles/{r.json()['id']}",
                           headers=w.admin).status_code == 204
    return r.status_code, r.json()["plate"], r.text


def vehicle_edit(w: Walk, typed: str) -> tuple[int, str | None, str]:
    made = w.client.post("/api/v1/vehicles", json={"plate": "粤B00001", "household_id": w.hid},
                         headers=w.admin)
    assert made.status_code == 201, made.text
    vid = made.json()["id"]
    r = w.client.patch(f"/api/v1/vehicles/{vid}", json={"plate": typed}, headers=w.admin)
    assert w.client.delete(f"/api/v1/vehicles/{vid}", headers=w.admin).status_code == 204
    return r.status_code, r.json()["plate"] if r.status_code == 200 else None, r.text


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"valid_from": now.isoformat(), "valid_to": (now + timedelta(hours=4)).isoformat()}


def pass_create(w: Walk, typed: str) -> tuple[int, str | None, str]:
    r = w.client.post("/api/v1/passes", json={"plate": typed, "walk_in": False,
                                              "host_household_id": w.hid, **_window()},
                      headers=w.admin)
    return r.status_code, r.json()["plate"] if r.status_code == 201 else None, r.text


def pass_edit(w: Walk, typed: str) -> tuple[int, str | None, str]:
    made = w.client.post("/api/v1/passes", json={"plate": "粤B00001",
                                                 "host_household_id": w.hid, **_window()},
                         headers=w.admin)
    assert made.status_code == 201, made.text
    r = w.client.patch(f"/api/v1/passes/{made.json()['id']}", json={"plate": typed},
                       headers=w.admin)
    if r.status_code == 200:
        return r.status_code, r.json()["plate"], r.text
    kept = w.client.get(f"/api/v1/passes/{made.json()['id']}", headers=w.admin).json()["plate"]
    return r.status_code, None if kept == "粤B00001" else kept, r.text


def list_entry(w: Walk, typed: str) -> tuple[int, str | None, str]:
    r = w.client.post("/api/v1/lists", json={"plate": typed, "kind": "block",
                                             "reason": "物业费欠费"}, headers=w.admin)
    if r.status_code != 201:
        return r.status_code, None, r.text
    assert w.client.delete(f"/api/v1/lists/{r.json()['id']}",
                           headers=w.admin).status_code == 204
    return r.status_code, r.json()["plate"], r.text


def typed_plate(w: Walk, typed: str) -> tuple[int, str | None, str]:
    """人工录入车牌 (the gate card): a stranger's plate, so nothing opens and no car is counted."""
    r = w.client.post("/api/v1/gates/main-in/typed-plate",
                      json={"plate": typed, "reason": "摄像头故障"}, headers=w.guard)
    return r.status_code, r.json()["plate"] if r.status_code == 200 else None, r.text


def review_correction(w: Walk, typed: str) -> tuple[int, str | None, str]:
    """The review card's corrected plate, with 拒绝 (deny) so that nothing opens."""
    pid = review_passage(w.client)
    r = w.client.post(f"/api/v1/passages/{pid}/resolve",
                      json={"resolution": "deny", "reason": "无人认领", "plate": typed},
                      headers=w.guard)
    plate = r.json()["passage"]["resolved_plate"] if r.status_code == 200 else None
    if r.status_code != 200:  # the card stays in the queue: resolve it for the next one
        w.client.post(f"/api/v1/passages/{pid}/resolve",
                      json={"resolution": "deny", "reason": "无人认领"}, headers=w.guard)
    return r.status_code, plate, r.text


def csv_import(w: Walk, typed: str) -> tuple[int, str | None, str]:
    """批量导入 (the console's upload and the API are the same call): a row with this plate."""
    quoted = '"' + typed.replace('"', '""') + '"'
    data = csv_bytes([f"8栋,801,,,{quoted},,"])
    r = w.client.post("/api/v1/households/import", params={"dry_run": "false"},
                      headers=w.admin, files={"file": ("住户.csv", data, "text/csv")})
    if r.status_code != 200:
        return r.status_code, None, r.text
    with w.client.app.state.services.sessions() as session:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.household_id != w.hid)).one()
        plate = vehicle.plate
    assert w.client.delete(f"/api/v1/vehicles/{vehicle.id}", headers=w.admin).status_code == 204
    return r.status_code, plate, r.text


def guidance_hold(w: Walk, typed: str) -> tuple[int, str | None, str]:
    r = w.client.post("/api/v1/guidance/hold", json={"holder": typed, "space_id": "A-001"},
                      headers=w.guard)
    if r.status_code != 201:
        return r.status_code, None, r.text
    holder = r.json()["hold"]["holder"]
    assert w.client.delete(f"/api/v1/guidance/hold/{holder}",
                           headers=w.guard).status_code == 204
    return r.status_code, holder, r.text


ENTRIES: dict[str, Entry] = {
    "vehicle": vehicle_create,
    "vehicle-edit": vehicle_edit,
    "pass": pass_create,
    "pass-edit": pass_edit,
    "list": list_entry,
    "typed-plate": typed_plate,
    "review-correction": review_correction,
    "csv-import": csv_import,
    "guidance-hold": guidance_hold,
}


# The car park's simulation off: a hold's space stays free between spellings.
NO_SIMULATION = {"parking": {"sensors": {"simulate": False}}}


def _walk_on(client: Any, tmp_path: Path) -> Walk:
    all_free(client)
    admin = add_staff(client.app.state.services, "admin", "admin")
    guard = add_staff(client.app.state.services, "guard", "guard")
    return Walk(client, admin, guard, tmp_path, household(client, admin))


@pytest.fixture
def walk(app_factory: Any, tmp_path: Path) -> Walk:
    return _walk_on(app_factory(**NO_SIMULATION), tmp_path)


@pytest.fixture(scope="module", params=database_params())
def shared_walk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    plate_recognizer: Any,
) -> Iterator[Walk]:
    """One app per database for the entries that refuse what is not a plate before they
    store anything (REFUSED_UNSTORED)."""
    with running_app(request.param, tmp_path_factory, plate_recognizer,
                     **NO_SIMULATION) as client:
        yield _walk_on(client, tmp_path_factory.mktemp("walk"))


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_every_spelling_of_a_plate_is_stored_as_the_one_plate(walk: Walk, entry: str) -> None:
    wrong = []
    for typed, why in [*[(t, w) for t, w in SAME_PLATE], *[(t, c) for t, c in OTHER_KINDS]]:
        expected = dict(OTHER_KINDS).get(typed, PLATE)
        status, stored, text = ENTRIES[entry](walk, typed)
        if stored != expected:
            wrong.append(f"{typed!r} ({why}): {status} {stored!r} {text[:160]}")
    assert not wrong, "\n" + "\n".join(wrong)


# The entries whose only request is the one refused: nothing is made before it, so (when
# right) nothing is stored, which each spelling checks by counting before and after. They
# share one app per database (``shared_walk``) instead of building one each (0.5 s of CPU);
# the edits and the review card make a car, a pass or a card first and keep their own.
REFUSED_UNSTORED = ["vehicle", "pass", "list", "typed-plate", "csv-import", "guidance-hold"]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e not in REFUSED_UNSTORED])
def test_what_is_not_a_plate_is_refused_and_nothing_is_stored(walk: Walk, entry: str) -> None:
    _refused_and_nothing_stored(walk, entry)


class TestRefusedOnOneApp:
    @pytest.mark.parametrize("entry", REFUSED_UNSTORED)
    def test_what_is_not_a_plate_is_refused_and_nothing_is_stored(
        self, shared_walk: Walk, entry: str
    ) -> None:
        _refused_and_nothing_stored(shared_walk, entry)


def _refused_and_nothing_stored(walk: Walk, entry: str) -> None:
    wrong = []
    for typed, why in NOT_PLATES:
        if entry == "review-correction" and typed in BLANK:
            continue  # a blank correction keeps the camera's read (tested in test_review)
        before = [count(walk.client, m) for m in (Vehicle, VisitorPass, PlateListEntry, Passage)]
        status, stored, text = ENTRIES[entry](walk, typed)
        after = [count(walk.client, m) for m in (Vehicle, VisitorPass, PlateListEntry, Passage)]
        if entry == "review-correction":
            after[3] = before[3]  # the card the correction was typed on
        if entry == "pass-edit":
            after[1] = before[1]  # the pass being edited (pass_edit checks it kept its plate)
        if not 400 <= status < 500 or stored is not None or after != before:
            wrong.append(f"{typed[:30]!r} ({why}): {status} {stored!r} {text[:160]}")
    assert not wrong, "\n" + "\n".join(wrong)


# ---- one car, every spelling ---------------------------------------------------------------


@pytest.mark.parametrize("registered_as", ["闽A10345", "闽ａ·１０３４５", "閩A10345\u200b"])
def test_a_registered_car_is_one_car_whichever_way_it_is_typed(
    walk: Walk, registered_as: str
) -> None:
    c, admin, guard = walk.client, walk.admin, walk.guard
    made = c.post("/api/v1/vehicles", json={"plate": registered_as, "household_id": walk.hid},
                  headers=admin)
    assert made.status_code == 201, made.text
    listed = c.post("/api/v1/lists", json={"plate": registered_as, "kind": "allow",
                                           "reason": "业主长期车辆"}, headers=admin)
    assert listed.status_code == 201, listed.text
    other = c.post("/api/v1/vehicles", json={"plate": "粤B00002", "household_id": walk.hid},
                   headers=admin).json()["id"]
    wrong = []
    for typed, why in SAME_PLATE:
        moved = c.patch(f"/api/v1/vehicles/{other}", json={"plate": typed}, headers=admin)
        if moved.status_code != 409:
            wrong.append(f"another car edited to {typed!r} ({why}): {moved.status_code}")
        again = c.post("/api/v1/vehicles", json={"plate": typed, "household_id": walk.hid},
                       headers=admin)
        if again.status_code != 409:
            wrong.append(f"second registration {typed!r} ({why}): {again.status_code}")
        twice = c.post("/api/v1/lists", json={"plate": typed, "kind": "block",
                                              "reason": "重复登记"}, headers=admin)
        if twice.status_code != 409:
            wrong.append(f"second list entry {typed!r} ({why}): {twice.status_code}")
        found = c.get("/api/v1/vehicles", params={"plate": typed}, headers=admin).json()
        if [v["plate"] for v in found] != [PLATE]:
            wrong.append(f"vehicle search {typed!r} ({why}): {found}")
        data = csv_bytes(['9栋,901,,,"' + typed + '",,'])
        preview = c.post("/api/v1/households/import", params={"dry_run": "true"},
                         headers=admin, files={"file": ("住户.csv", data, "text/csv")})
        if preview.status_code != 200 or "已登记" not in preview.text:
            wrong.append(f"import {typed!r} ({why}): {preview.status_code} {preview.text[:120]}")
    assert not wrong, "\n" + "\n".join(wrong)
    assert count(c, Vehicle) == 2 and count(c, PlateListEntry) == 1

    # At the gate: the guard types it any way, and it is the household's car.
    for typed, why in SAME_PLATE:
        at_gate = c.post("/api/v1/gates/main-in/typed-plate",
                         json={"plate": typed, "reason": "摄像头故障"}, headers=guard)
        body = at_gate.json()
        if (at_gate.status_code, body.get("plate"), body.get("household_id")) != (
                200, PLATE, walk.hid):
            wrong.append(f"typed at the gate {typed!r} ({why}): {at_gate.text[:160]}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_passages_are_found_whichever_way_the_plate_is_searched(walk: Walk) -> None:
    c, guard = walk.client, walk.guard
    typed = c.post("/api/v1/gates/main-in/typed-plate",
                   json={"plate": PLATE, "reason": "摄像头故障"}, headers=guard)
    assert typed.status_code == 200, typed.text
    c.post("/api/v1/passes", json={"plate": PLATE, "host_household_id": walk.hid,
                                   **_window()}, headers=walk.admin)
    parts = [("a10", "lower case part"), ("Ａ１０", "full-width part"), ("A·10", "dotted part"),
             ("AIO", "I and O for 1 and 0 in a part"), ("10345\u200b", "pasted part"),
             ("閩A", "traditional province part")]
    wrong = []
    for search, why in [*SAME_PLATE, *parts]:
        whole = (search, why) in SAME_PLATE
        for params in ([{"plate": search}, {"similar_to": search}] if whole else [])\
                + [{"plate_contains": search}]:
            r = c.get("/api/v1/passages", params=params, headers=guard)
            if r.status_code != 200 or r.json()["total"] != 1:
                wrong.append(f"/passages {params} ({why}): {r.status_code} {r.text[:120]}")
        if whole:
            passes = c.get("/api/v1/passes", params={"plate": search}, headers=walk.admin)
            if [p["plate"] for p in passes.json()] != [PLATE]:
                wrong.append(f"/passes?plate={search!r} ({why}): {passes.text[:120]}")
    # The console's 通行记录 search box (a guard's page, signed in by its cookie).
    cookie_login(c, "guard", "guard")
    for search, why in [*SAME_PLATE, *parts]:
        page = c.get("/console/history", params={"plate": search})
        if page.status_code != 200 or page.text.count('class="plate nowrap">闽A10345') != 1:
            wrong.append(f"/console/history {search!r} ({why}): {page.status_code}")
    assert not wrong, "\n" + "\n".join(wrong)


def test_a_car_registered_with_a_loose_spelling_opens_at_the_camera(
    walk: Walk, readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    # As the office types it: lower case, full-width, the dot, a zero-width space at the end.
    loose = photo.plate[0] + "·" + photo.plate[1:].lower().translate(
        {ord(ch): ord(ch) + 0xFEE0 for ch in "0123456789"}) + "\u200b"
    made = walk.client.post("/api/v1/vehicles", json={"plate": loose, "household_id": walk.hid},
                            headers=walk.admin)
    assert made.status_code == 201, made.text
    body = push(walk.client, "main-in", photo).json()
    assert (body["plate"], body["decision"], body["reason"]) == (photo.plate, "allow", "resident")
