"""A plate filter that folds to nothing a plate holds is a 422, on 场内车辆 and passage search
alike (api/schemas.py plate_filter). ``?plate=%00`` listed every car inside on SQLite (the NUL
ended the LIKE pattern early), and a zero-width space or a BOM folded to "" and filtered
nothing, so a guard's search answered with every car and every passage. An empty or blank box
is still no filter: a form sends ``plate=`` for one.

Every test here only reads (each filter of nothing is refused before any query), so the module
shares one app and its three parked cars per database (tests/api/conftest.py
``shared_client``): building them per case cost 0.7 s of CPU for a 10 ms request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_cars_inside import park
from tests.api.test_console import cookie_login

NOTHING = [
    ("\x00", "must not contain control characters (found U+0000)"),
    ("A\x00", "must not contain control characters (found U+0000)"),
    ("闽\u202eA1", "must not contain control characters (found U+202E)"),
    ("\u200b", "holds no letter or digit of a plate"),  # a zero-width space
    ("\ufeff", "holds no letter or digit of a plate"),  # a BOM
    ("·", "holds no letter or digit of a plate"),
    ("-", "holds no letter or digit of a plate"),
]
ALL_INSIDE = ["闽A12345", "粤B88888", "京A11111"]


@pytest.fixture(scope="module")
def parked(shared_client: Any) -> Any:
    return park(shared_client)


@pytest.fixture
def client(fresh_shared_client: Any, parked: Any) -> Any:
    """The shared app (no cookie of an earlier test), its cars parked."""
    return fresh_shared_client


@pytest.mark.parametrize(("text", "said"), NOTHING)
def test_cars_inside_refuse_a_plate_filter_of_nothing(
    client: Any, parked: Any, text: str, said: str
) -> None:
    answer = client.get("/api/v1/presence", headers=parked.guard, params={"plate": text})
    assert answer.status_code == 422, answer.text
    assert said in answer.json()["detail"]


@pytest.mark.parametrize("field", ["plate", "plate_contains", "similar_to"])
@pytest.mark.parametrize(("text", "said"), NOTHING)
def test_passage_search_refuses_a_plate_filter_of_nothing(
    client: Any, parked: Any, field: str, text: str, said: str
) -> None:
    answer = client.get("/api/v1/passages", headers=parked.guard, params={field: text})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(field) and said in answer.json()["detail"]


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_plate_box_is_no_filter(client: Any, parked: Any, blank: str) -> None:
    inside = client.get("/api/v1/presence", headers=parked.guard, params={"plate": blank})
    assert sorted(c["plate"] for c in inside.json()["items"]) == sorted(ALL_INSIDE)
    for field in ("plate", "plate_contains"):
        found = client.get("/api/v1/passages", headers=parked.guard, params={field: blank})
        assert found.json()["total"] == len(ALL_INSIDE), (field, found.text)


def test_a_part_of_a_plate_still_filters(client: Any, parked: Any) -> None:
    inside = client.get("/api/v1/presence", headers=parked.guard, params={"plate": "ａ·12"})
    assert [c["plate"] for c in inside.json()["items"]] == ["闽A12345"]
    found = client.get("/api/v1/passages", headers=parked.guard,
                       params={"plate_contains": "b88"})
    assert [p["plate"] for p in found.json()["items"]] == ["粤B88888"]


@pytest.mark.parametrize("page", ["/console/presence", "/console/history"])
@pytest.mark.parametrize("text", ["\x00", "\u200b", "·"])
def test_the_console_pages_say_so_instead_of_listing_everything(
    client: Any, parked: Any, page: str, text: str
) -> None:
    cookie_login(client, "guard1", "guard")
    answer = client.get(page, params={"plate": text})
    assert answer.status_code == 422
    assert "车牌栏里没有可查找的字母或数字" in answer.text
    assert not [plate for plate in ALL_INSIDE if plate in answer.text]
