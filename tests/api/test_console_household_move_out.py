"""搬离 on the console (住户与车辆 → 搬离): the confirmation page lists what goes, 确认搬离 removes
it and tells the gates; a flat changed meanwhile is shown again with nothing removed; guards
get the 403 page. Through the test client, as a browser's form would post."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.console.security import LANG_COOKIE
from tests.api.test_console import cookie_login
from tests.api.test_household_move_out_one_step import created, move_in, pin_opens, staff

EXPECTED = re.compile(r'name="expected" value="([0-9a-f]+)"')


def gate(client: Any) -> TestClient:
    """The pedestrian gate's own client: its camera key, not the admin's console cookie."""
    return TestClient(client.app)


def page(client: Any, household: int) -> Any:
    return client.get(f"/console/admin/households/{household}/move-out")


def confirm(client: Any, household: int, csrf: str, expected: str, **form: Any) -> Any:
    return client.post(f"/console/admin/households/{household}/move-out",
                       data={"csrf_token": csrf, "expected": expected, **form})


def cells(html: str, section: str) -> list[str]:
    """The text of each cell of one of the page's sections, tags and spaces dropped."""
    found = re.search(rf'<section class="card" id="{section}">(.*?)</section>', html, re.S)
    assert found is not None, section
    return [re.sub(r"<[^>]+>|\s+", " ", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)]


def test_the_page_lists_what_goes_and_confirm_removes_it(client: Any) -> None:
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    csrf = cookie_login(client, "admin", "admin")
    households = client.get("/console/admin/households").text
    assert f'href="/console/admin/households/{family.household}/move-out"' in households

    shown = page(client, family.household)

    assert shown.status_code == 200, shown.text
    assert "住户 #" in shown.text and "3栋 1201（车位数 2）搬离" in shown.text
    assert cells(shown.text, "move-out-residents") == [
        str(family.zhang), "张伟", "1 条", "已设置", str(family.li), "李娜", "0 条", "已设置"]
    assert cells(shown.text, "move-out-vehicles") == [
        str(family.inside), "闽A12345", "在场内", str(family.outside), "闽AD54321", "不在场内"]
    passes = cells(shown.text, "move-out-passes")
    assert [passes[0], passes[1], passes[5], passes[6]] == [
        str(family.passes[0]), "粤B88888", str(family.passes[1]), "步行"]
    assert cells(shown.text, "move-out-lists") == [
        "闽A12345", "白名单", "业主长期车", "一并删除",
        "闽AD54321", "黑名单", "欠物业费", "勾选则一并删除，不勾选保留"]
    box = re.search(r'<input type="checkbox" name="remove_block" value="(\d+)"[^>]*>', shown.text)
    assert box is not None and box.group(1) == str(family.block) and "checked" not in box.group(0)
    expected = EXPECTED.search(shown.text)
    assert expected is not None

    services = client.app.state.services
    told: list[bool] = []
    real = services.access_changed

    def access_changed() -> None:  # the offline snapshot, retaken at once
        told.append(True)
        real()

    services.access_changed = access_changed
    done = confirm(client, family.household, csrf, expected.group(1))

    assert done.status_code == 200 and told == [True], done.text
    assert ("3栋 1201 已搬离：删除了成员 2 人、车辆 2 辆、访客通行证 2 张、白名单 1 条和这户。"
            in done.text)
    assert cells(done.text, "move-out-lists")[3::4] == ["已删除", "保留"]
    assert client.get(f"/api/v1/households/{family.household}",
                      headers=admin).status_code == 404
    assert [e["plate"] for e in client.get("/api/v1/lists", headers=admin).json()] == [
        "闽AD54321", "京A11111"]
    assert not pin_opens(gate(client), family.li)
    # 操作日志 says who moved out, with what, and why each item went.
    audit = client.get("/console/admin/audit", params={"action": "household.move_out"}).text
    assert "整户搬离" in audit and "1201" in audit and "当时在场内的车" in audit
    items = client.get("/console/admin/audit", params={"action": "vehicle.delete"}).text
    assert "搬离记录" in items and 'title="move out">搬离</td>' in items
    # A second click (or the back button): the flat is gone, said on a page.
    again = confirm(client, family.household, csrf, expected.group(1))
    assert again.status_code == 404 and "不存在（可能已经搬离）" in again.text


def test_a_ticked_block_entry_goes_too(client: Any) -> None:
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    csrf = cookie_login(client, "admin", "admin")
    expected = EXPECTED.search(page(client, family.household).text)
    assert expected is not None
    done = confirm(client, family.household, csrf, expected.group(1),
                   remove_block=[str(family.block)])
    assert done.status_code == 200, done.text
    assert cells(done.text, "move-out-lists")[3::4] == ["已删除", "已删除"]
    assert [e["plate"] for e in client.get("/api/v1/lists", headers=admin).json()] == [
        "京A11111"]


def test_a_forged_tick_is_refused_in_the_pages_language(client: Any) -> None:
    """A ticked block-list entry that is not the family's (a forged form) was refused with
    the service's English, "block-list entries [1] are not entries of household 6's plates
    …", on the Chinese page; it is worded in the page's language, naming the entry."""
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    strangers = created(client.post("/api/v1/lists", headers=admin, json={
        "plate": "粤C12345", "kind": "block", "reason": "乱停车"}))
    csrf = cookie_login(client, "admin", "admin")
    expected = EXPECTED.search(page(client, family.household).text)
    assert expected is not None

    forged = confirm(client, family.household, csrf, expected.group(1),
                     remove_block=[str(family.block), str(strangers)])

    assert forged.status_code == 422, forged.text
    assert (f"勾选的黑名单条目 #{strangers} 不是这户车牌的条目，什么都没有删除。"
            in forged.text)
    assert "block-list entries" not in forged.text
    assert pin_opens(gate(client), family.li)  # nothing went
    client.cookies.set(LANG_COOKIE, "en")
    english = confirm(client, family.household, csrf, expected.group(1),
                      remove_block=[str(strangers)])
    assert english.status_code == 422
    assert (f"Ticked but not on this household's block list: #{strangers}. Nothing was "
            "deleted" in english.text.replace("&#39;", "'"))


def test_a_flat_changed_meanwhile_is_shown_again_and_nothing_goes(client: Any) -> None:
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    csrf = cookie_login(client, "admin", "admin")
    expected = EXPECTED.search(page(client, family.household).text)
    assert expected is not None
    created(client.post("/api/v1/vehicles", headers=admin,
                        json={"plate": "闽A99999", "household_id": family.household}))

    refused = confirm(client, family.household, csrf, expected.group(1))

    assert refused.status_code == 409, refused.text
    assert "这户的信息刚被修改过" in refused.text and "闽A99999" in refused.text
    fresh = EXPECTED.search(refused.text)
    assert fresh is not None and fresh.group(1) != expected.group(1)
    assert pin_opens(gate(client), family.li)
    assert confirm(client, family.household, csrf, fresh.group(1)).status_code == 200


def test_guards_get_the_403_page_and_unknown_flats_a_404(client: Any) -> None:
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    cookie_login(client, "admin", "admin")
    missing = page(client, 999)
    assert missing.status_code == 404 and "住户 #999 不存在" in missing.text

    client.cookies.clear()
    csrf = cookie_login(client, "guard1", "guard")
    assert page(client, family.household).status_code == 403
    assert confirm(client, family.household, csrf, "0" * 32).status_code == 403
    assert 'class="btn small move-out"' not in client.get("/console/admin/households").text
    client.get(f"/api/v1/households/{family.household}", headers=admin).raise_for_status()
