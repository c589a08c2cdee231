"""The 住户与车辆 page shows 50 flats a page with their residents and cars, and finds a flat
by its building and unit, a resident's name or a car's plate. Drawn whole, a 2,000-flat
community's page was 10 MB that the browser took minutes to lay out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.console.household_search import PAGE_FLATS
from models.db import transaction
from models.people import Household, Resident
from models.vehicles import Vehicle
from tests.api.test_console import add_staff, cookie_login
from tests.conftest import services_of

FLATS = PAGE_FLATS + 7  # two pages


@pytest.fixture
def community(client: Any) -> Any:
    """1栋 101 … 1栋 157, each with one resident 住户N and one car 闽A1NNNN."""
    with transaction(services_of(client).sessions) as session:
        for n in range(1, FLATS + 1):
            flat = Household(building="1栋", unit=str(100 + n))
            session.add(flat)
            session.flush()
            session.add_all([Resident(household_id=flat.id, name=f"住户{n}"),
                             Vehicle(plate=f"闽A1{n:04d}", household_id=flat.id)])
    add_staff(services_of(client), "admin", "admin")
    cookie_login(client, "admin", "admin")
    return client


def flats(page: str) -> list[str]:
    table = re.search(r'<table[^>]*id="household-rows".*?</table>', page, re.S)
    assert table is not None
    return [f"{b} {u}" for b, u in re.findall(
        r'<td data-label="楼栋[^"]*">([^<]*)</td><td data-label="房号[^"]*">([^<]*)</td>',
        table.group(0))]


def cells(page: str, table_id: str, css: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table is not None
    return re.findall(rf'<td{css} data-label="[^"]*">([^<]*)</td>', table.group(0))


def names(page: str) -> list[str]:
    table = re.search(r'<table[^>]*id="resident-rows".*?</table>', page, re.S)
    assert table is not None
    return re.findall(r'<td data-label="姓名[^"]*">([^<]*)</td>', table.group(0))


def pager(page: str) -> str:
    found = re.search(r'<p id="flat-pager"[^>]*>(.*?)</p>', page, re.S)
    assert found is not None
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_the_flats_come_a_page_at_a_time_with_their_residents_and_cars(community: Any) -> None:
    first = community.get("/console/admin/households").text
    assert flats(first) == [f"1栋 {100 + n}" for n in range(1, PAGE_FLATS + 1)]
    assert pager(first) == f"共 {FLATS} 户 · 第 1/2 页 下一页"
    assert 'href="/console/admin/households?page=2"' in first
    second = community.get("/console/admin/households", params={"page": 2}).text
    assert flats(second) == [f"1栋 {100 + n}" for n in range(PAGE_FLATS + 1, FLATS + 1)]
    assert cells(second, "vehicle-rows", ' class="plate"') == [
        f"闽A1{n:04d}" for n in range(PAGE_FLATS + 1, FLATS + 1)]
    assert pager(second) == f"共 {FLATS} 户 · 第 2/2 页 上一页"
    # Past the last page: the last one (a page kept open while flats were deleted).
    assert flats(community.get("/console/admin/households", params={"page": 9}).text) \
        == flats(second)
    # The forms that add a resident or a car still pick among every flat.
    assert first.count('<option value="') >= 2 * FLATS


@pytest.mark.parametrize(("typed", "found"), [
    ("1栋 157", ["1栋 157"]),
    ("1栋157", ["1栋 157"]),  # run together, as people type it
    ("１栋 １５７", ["1栋 157"]),  # full width, from a Chinese input method
    ("住户56", ["1栋 156"]),
    ("闽a1·0055", ["1栋 155"]),  # a plate as the lane screen shows it, lower case
    ("10015", ["1栋 115"]),  # part of a plate
])
def test_a_flat_is_found_by_its_label_a_residents_name_or_a_cars_plate(
    community: Any, typed: str, found: list[str]
) -> None:
    page = community.get("/console/admin/households", params={"q": typed}).text
    assert flats(page) == found
    number = int(found[0].split()[1]) - 100
    assert names(page) == [f"住户{number}"]
    assert cells(page, "vehicle-rows", ' class="plate"') == [f"闽A1{number:04d}"]
    assert pager(page) == "找到 1 户 · 第 1/1 页"
    assert 'href="/console/admin/households">显示全部</a>' in page


def test_a_search_that_finds_nothing_says_so(community: Any) -> None:
    page = community.get("/console/admin/households", params={"q": "王芳"}).text
    assert flats(page) == []
    assert pager(page) == "没有找到与「王芳」有关的住户、成员或车辆"


def test_a_search_keeps_its_words_across_pages(community: Any) -> None:
    page = community.get("/console/admin/households", params={"q": "1栋"}).text
    assert 'href="/console/admin/households?q=1%E6%A0%8B&amp;page=2"' in page
    assert pager(page) == f"找到 {FLATS} 户 · 第 1/2 页 下一页"
