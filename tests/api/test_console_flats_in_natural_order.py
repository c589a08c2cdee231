"""Flats are listed as the office counts them, 1栋, 2栋, … 10栋 and 101, 201, … 1201: building
then unit, digit runs as numbers. Found by the property office of a community of 20
buildings: the 住户 table and every picker of flats put 10栋 before 3栋 and 1201 before 201
(text order). Same order on SQLite and PostgreSQL, in the JSON API's pages too."""

from __future__ import annotations

import re
from typing import Any

import pytest

from models.db import transaction
from models.events import Passage
from models.people import flat_order, natural_key
from tests.api.test_console import add_staff, cookie_login

# As the office expects to read them.
IN_ORDER = [
    ("1栋", "101"), ("1栋", "201"), ("1栋", "1201"),
    ("2栋", "2单元301"), ("2栋", "10单元101"),
    ("3栋", "101"),
    ("10栋", "101"), ("10栋", "201"),
    ("20栋", "1201"),
    ("A座", "101"),
]
# Entered in another order than either text order or natural order.
ENTERED = [IN_ORDER[i] for i in (6, 2, 9, 4, 0, 8, 5, 1, 7, 3)]
LABELS = [f"{building} {unit}" for building, unit in IN_ORDER]


@pytest.mark.parametrize(("smaller", "larger"), [
    ("3栋", "10栋"), ("201", "1201"), ("2单元301", "10单元101"), ("9", "10"),
    ("3栋", "A座"),  # digits before letters, as in text order
    ("B1", "B1-2"), ("1单元", "1单元2"),  # a shorter label first where the other goes on
])
def test_natural_key_reads_digit_runs_as_numbers(smaller: str, larger: str) -> None:
    assert natural_key(smaller) < natural_key(larger)
    assert sorted([larger, smaller], key=natural_key) == [smaller, larger]


def test_two_spellings_of_a_number_stay_two_buildings_side_by_side() -> None:
    flats = [("3栋", "201"), ("03栋", "101"), ("3栋", "101")]
    assert sorted(flats, key=lambda f: flat_order(*f)) == [
        ("03栋", "101"), ("3栋", "101"), ("3栋", "201")]


def _enter(client: Any, headers: dict[str, str]) -> dict[str, int]:
    ids = {}
    for building, unit in ENTERED:
        made = client.post("/api/v1/households", json={"building": building, "unit": unit},
                           headers=headers)
        assert made.status_code == 201, made.text
        ids[f"{building} {unit}"] = made.json()["id"]
    return ids


def _options(html: str, name: str) -> list[str]:
    """The flats a <select name=…> offers, in the page's order (each such select alike)."""
    selects = re.findall(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert selects, name
    lists = [re.findall(r'<option value="\d+">([^<]+)</option>', s) for s in selects]
    assert all(found == lists[0] for found in lists), lists
    return lists[0]


def test_the_households_table_and_its_pickers_list_flats_in_natural_order(
    client: Any, admin_headers: dict[str, str]
) -> None:
    ids = _enter(client, admin_headers)
    add_staff(client.app.state.services, "office", "admin")
    cookie_login(client, "office", "admin")
    page = client.get("/console/admin/households").text
    table = [int(i) for i in re.findall(
        r'data-api="/api/v1/households/(\d+)" data-method="DELETE"', page)]
    assert table == [ids[label] for label in LABELS]
    # The pickers of the new resident's and the new car's forms.
    assert _options(page, "household_id") == LABELS
    assert _options(client.get("/console/admin/passes").text, "host_household_id") == LABELS


def test_the_booths_visitor_pass_picker_lists_flats_in_natural_order(
    client: Any, admin_headers: dict[str, str]
) -> None:
    _enter(client, admin_headers)
    with transaction(client.app.state.services.sessions) as session:
        session.add(Passage(gate_id="main-in", direction="in", decision="review",
                            reason="low_confidence", plate="粤B88888", confidence=0.6))
    add_staff(client.app.state.services, "booth", "guard")
    cookie_login(client, "booth", "guard")
    for url in ("/console", "/console/fragments/review"):
        assert _options(client.get(url).text, "host_household_id") == LABELS, url


def test_the_face_page_lists_residents_by_flat_in_natural_order_a_page_at_a_time(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _enter(client, admin_headers)
    for label in reversed(LABELS):  # residents' ids in the opposite order of their flats
        made = client.post("/api/v1/residents", json={"household_id": ids[label],
                                                      "name": f"住户{label}"},
                           headers=admin_headers)
        assert made.status_code == 201, made.text
    add_staff(client.app.state.services, "office", "admin")
    cookie_login(client, "office", "admin")
    flats = re.compile(r'data-label="住户[^"]*">([^<]+)</td>')
    assert flats.findall(client.get("/console/admin/faces").text) == LABELS
    assert flats.findall(client.get("/console/admin/faces", params={"q": "栋"}).text) \
        == LABELS[:-1]
    # A page holds the first flats in that order, not the first in text order (1栋 1201,
    # 10栋 …).
    monkeypatch.setattr("api.console.admin_faces.FACES_PAGE", 4)
    assert flats.findall(client.get("/console/admin/faces").text) == LABELS[:4]


def test_the_api_pages_flats_in_the_consoles_order(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    """Scripts paging through GET /api/v1/households get them as the console lists them,
    each flat once; the building filter keeps that order."""
    _enter(client, admin_headers)
    pages = [client.get("/api/v1/households", params={"limit": 3, "offset": offset},
                        headers=guard_headers).json() for offset in range(0, 12, 3)]
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [f"{h['building']} {h['unit']}" for p in pages for h in p] == LABELS
    two = client.get("/api/v1/households", params={"building": "2栋"}, headers=admin_headers)
    assert [h["unit"] for h in two.json()] == ["2单元301", "10单元101"]
