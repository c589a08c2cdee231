"""搬离's done notice counts the allow-list entries it removed, as it counts residents, cars and
passes: the confirmation page lists them under 一并删除, and the office reading only the notice
did not learn they were gone. A flat with none is told as before (no 白名单 0 条). So are the
block-list entries the office ticked to delete with the flat."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.console.security import LANG_COOKIE
from tests.api.test_console import cookie_login
from tests.api.test_console_household_move_out import EXPECTED, confirm, page
from tests.api.test_household_move_out_one_step import created, staff

PLATES = ("闽A12345", "闽AD54321")


def _flat_with_two_cars(client: Any, admin: dict[str, str], *, allowed: int) -> int:
    """5栋 302 with two cars, the first ``allowed`` of them on the allow list."""
    flat = created(client.post("/api/v1/households", headers=admin,
                               json={"building": "5栋", "unit": "302"}))
    for plate in PLATES:
        created(client.post("/api/v1/vehicles", headers=admin,
                            json={"plate": plate, "household_id": flat}))
    for plate in PLATES[:allowed]:
        created(client.post("/api/v1/lists", headers=admin, json={
            "plate": plate, "kind": "allow", "reason": "业主长期车"}))
    return flat


def _moved_out(client: Any, flat: int, csrf: str, **form: Any) -> str:
    shown = page(client, flat)
    expected = EXPECTED.search(shown.text)
    assert expected is not None, shown.text
    done = confirm(client, flat, csrf, expected.group(1), **form)
    assert done.status_code == 200, done.text
    notice = re.search(r'<p class="notice" role="status" id="move-out-done">(.*?)</p>',
                       done.text, re.S)
    assert notice is not None, done.text
    return notice.group(1)


def test_the_done_notice_counts_the_allow_list_entries_removed(client: Any) -> None:
    admin, _ = staff(client)
    flat = _flat_with_two_cars(client, admin, allowed=2)
    csrf = cookie_login(client, "admin", "admin")
    assert _moved_out(client, flat, csrf) == (
        "5栋 302 已搬离：删除了成员 0 人、车辆 2 辆、访客通行证 0 张、白名单 2 条和这户。")
    assert client.get("/api/v1/lists", headers=admin).json() == []


def test_the_english_done_notice_counts_them_too(client: Any) -> None:
    admin, _ = staff(client)
    flat = _flat_with_two_cars(client, admin, allowed=1)
    csrf = cookie_login(client, "admin", "admin")
    client.cookies.set(LANG_COOKIE, "en")
    assert _moved_out(client, flat, csrf) == (
        "5栋 302 has moved out: the household and its residents (0), vehicles (2), visitor "
        "passes (0) and allow-list entries (1) deleted.")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_flat_without_allow_list_entries_is_told_as_before(client: Any, lang: str) -> None:
    admin, _ = staff(client)
    flat = _flat_with_two_cars(client, admin, allowed=0)
    csrf = cookie_login(client, "admin", "admin")
    client.cookies.set(LANG_COOKIE, lang)
    notice = _moved_out(client, flat, csrf)
    assert notice == {
        "zh": "5栋 302 已搬离：删除了成员 0 人、车辆 2 辆、访客通行证 0 张和这户。",
        "en": "5栋 302 has moved out: the household and its residents (0), vehicles (2) "
              "and visitor passes (0) deleted.",
    }[lang]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_done_notice_counts_the_block_list_entries_ticked(client: Any, lang: str) -> None:
    """Both cars blocked (unpaid fees, say); the office ticks one entry to delete."""
    admin, _ = staff(client)
    flat = _flat_with_two_cars(client, admin, allowed=0)
    blocks = [created(client.post("/api/v1/lists", headers=admin, json={
        "plate": plate, "kind": "block", "reason": "欠费"})) for plate in PLATES]
    csrf = cookie_login(client, "admin", "admin")
    client.cookies.set(LANG_COOKIE, lang)
    notice = _moved_out(client, flat, csrf, remove_block=[blocks[0]])
    assert notice == {
        "zh": "5栋 302 已搬离：删除了成员 0 人、车辆 2 辆、访客通行证 0 张和这户。"
              " 黑名单删除了 1 条（没勾选的保留）。",
        "en": "5栋 302 has moved out: the household and its residents (0), vehicles (2) "
              "and visitor passes (0) deleted. Block-list entries deleted: 1 (those not "
              "ticked are kept).",
    }[lang]
    left = client.get("/api/v1/lists", headers=admin).json()
    assert [entry["id"] for entry in left] == [blocks[1]]
