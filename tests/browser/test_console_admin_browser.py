"""The admin pages in a real browser (Debian chromium via Playwright): one record per click,
the API's errors in Chinese, Beijing times from any computer, guards on the passes page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.console.error_texts import explain_detail
from tests.api.test_console_admin_texts import _api_details
from tests.browser.conftest import LiveServer, browser_context, enter_as, screenshot

pytestmark = pytest.mark.browser

FORM = "#pass-form"


def admin_api(server: LiveServer) -> httpx.Client:
    token = server.services.signer.issue("admin", "admin")
    # 30 s, as a page load (conftest): once, at the loaded end of a CI run, the first request
    # to a just-started server took over 10 s; alone it takes milliseconds.
    return httpx.Client(base_url=server.base_url, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def add_household(server: LiveServer, building: str = "3栋", unit: str = "1201") -> None:
    with admin_api(server) as api:
        response = api.post("/api/v1/households", json={"building": building, "unit": unit})
        assert response.status_code == 201, response.text


def passes_for(server: LiveServer, plate: str) -> list[dict[str, Any]]:
    with admin_api(server) as api:
        return list(api.get("/api/v1/passes", params={"plate": plate}).json())


def fill_pass(page: Any, plate: str, start: str | None = None, end: str | None = None) -> None:
    page.fill(f'{FORM} input[name="plate"]', plate)
    page.select_option(f'{FORM} select[name="host_household_id"]', label="3栋 1201")
    if start is not None:
        page.fill(f'{FORM} input[name="valid_from"]', start)
    if end is not None:
        page.fill(f'{FORM} input[name="valid_to"]', end)


@pytest.fixture
def new_york_page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A browser on a computer set to New York time: the form must still mean Beijing."""
    context = browser_context(chromium, live_server.base_url, timezone_id="America/New_York")
    try:
        yield context.new_page()
    finally:
        context.close()


def test_double_clicking_add_creates_one_pass(live_server: LiveServer, new_page: Any) -> None:
    add_household(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/passes")

    fill_pass(page, "粤B88888")
    page.dblclick(f'{FORM} button[type="submit"]')
    page.wait_for_selector('#pass-rows td.plate:text-is("粤B88888")')
    page.wait_for_timeout(500)  # a second request, had one been sent, lands by now
    assert len(passes_for(live_server, "粤B88888")) == 1

    # Two clicks in one task: the second comes before the first request could even start.
    fill_pass(page, "粤B66666")
    page.evaluate("""() => {
        const button = document.querySelector('#pass-form button[type="submit"]');
        button.click();
        button.click();
    }""")
    page.wait_for_selector('#pass-rows td.plate:text-is("粤B66666")')
    page.wait_for_timeout(500)
    assert len(passes_for(live_server, "粤B66666")) == 1
    assert page.locator("#pass-rows tbody tr").count() == 2


def test_pass_form_errors_are_chinese_and_times_are_beijing_time(
    live_server: LiveServer, new_york_page: Any
) -> None:
    add_household(live_server)
    page = new_york_page
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/passes")
    submit = page.locator(f'{FORM} button[type="submit"]')
    error = page.locator(f"{FORM} .error")

    fill_pass(page, "粤B88888", "2020-01-01T09:00", "2020-01-01T18:00")
    with page.expect_request(lambda r: r.method == "POST" and "/api/v1/passes" in r.url) as sent:
        submit.click()
    body = sent.value.post_data_json
    assert (body["valid_from"], body["valid_to"]) == ("2020-01-01T09:00:00+08:00",
                                                      "2020-01-01T18:00:00+08:00")
    error.wait_for()
    assert error.inner_text() == "结束时间已过，通行证一开始就会失效"
    assert "would already be over" in (error.get_attribute("title") or "")
    assert submit.is_enabled()  # re-enabled after the refusal
    screenshot(page, "11-admin-pass-error")

    fill_pass(page, "ABC", "2030-01-01T09:00", "2030-01-01T18:00")
    submit.click()
    page.wait_for_function(
        "el => el.textContent.startsWith('车牌：“ABC”')", arg=error.element_handle()
    )
    assert error.inner_text() == "车牌：“ABC”不是有效的车牌号，例如 闽A12345"

    fill_pass(page, "粤B88888", "2030-01-01T09:00", "2032-01-01T09:00")
    submit.click()
    page.wait_for_function("el => el.textContent.includes('366')", arg=error.element_handle())
    assert error.inner_text().startswith("访客通行证最长 366 天")

    fill_pass(page, "粤B88888", "2030-01-01T09:00", "2030-01-01T18:00")
    submit.click()
    row = page.locator("#pass-rows tr", has_text="粤B88888")
    row.wait_for()
    # What was typed is what the page shows back, though this computer is in New York.
    assert "2030-01-01 09:00" in row.inner_text() and "2030-01-01 18:00" in row.inner_text()
    assert "未生效" in row.inner_text()
    stored = passes_for(live_server, "粤B88888")[0]
    assert stored["valid_from"].startswith("2030-01-01T01:00:00")  # 09:00 Beijing in UTC


def test_the_page_script_says_what_the_server_says(
    live_server: LiveServer, new_page: Any
) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        token = live_server.services.signer.issue("admin", "admin")
        details = _api_details(client, {"Authorization": f"Bearer {token}"})
    samples = [*details.values(),
               "household 1 still has 1 visitor passes; remove them first",
               "user \"o'hara\" already exists", "a message nobody has translated yet",
               [{"loc": ["body", "mystery"], "msg": "Field required"}], None, []]
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    for lang in ("zh", "en"):
        page.goto("/console/admin/passes")
        if page.get_attribute("html", "lang") != ("zh-CN" if lang == "zh" else "en"):
            page.click("#lang-switch")
            page.wait_for_load_state()
        shown = page.evaluate("details => details.map(d => window.parkgateErrors.explainDetail(d))",
                              samples)
        assert shown == [explain_detail(lang, d) for d in samples], lang


def test_a_guard_registers_a_visitor_on_the_passes_page(
    live_server: LiveServer, new_page: Any
) -> None:
    add_household(live_server, "5栋", "302")
    add_household(live_server)
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    response = page.goto("/console/admin/passes")
    assert response is not None and response.status == 200
    assert page.locator("button[data-method='DELETE']").count() == 0
    select = page.locator(f'{FORM} select[name="host_household_id"]')
    assert select.input_value() == ""  # "请选择", not the first household
    page.fill(f'{FORM} input[name="plate"]', "粤B88888")
    page.fill(f"{FORM} input.household-search", "1201")  # one match: chosen
    assert select.locator("option:checked").inner_text() == "3栋 1201"
    # Typed as a sheet or a parcel writes it, without the list's space (found by the
    # onboarding walk: 5栋302 found nothing).
    page.fill(f"{FORM} input.household-search", "5栋302")
    assert select.locator("option:checked").inner_text() == "5栋 302"
    page.fill(f"{FORM} input.household-search", "3栋1201")
    assert select.locator("option:checked").inner_text() == "3栋 1201"
    page.click(f'{FORM} button[type="submit"]')
    row = page.locator("#pass-rows tr", has_text="粤B88888")
    row.wait_for()
    assert "有效" in row.inner_text() and "guard" in row.inner_text()
    screenshot(page, "12-guard-passes")

    # The visitor stays one more night: the guard extends the pass in its 编辑/延长 panel.
    made = passes_for(live_server, "粤B88888")[0]
    edit = row.locator("details[data-edit] form")
    row.locator("details[data-edit] > summary", has_text="编辑/延长").click()
    # Only one end of the hours: refused in the page's words, nothing saved.
    edit.locator('input[name="hours_from"]').fill("08:00")
    edit.locator('button[type="submit"]').click()
    refusal = edit.locator(".error")
    refusal.wait_for()
    assert refusal.inner_text() == "时段的开始和结束要一起填写（全天则都不填）"
    edit.locator('input[name="hours_from"]').fill("")
    later = edit.locator('input[name="valid_to"]').input_value().replace("T", " ")
    day, clock = later.split(" ")
    next_day = f"{date.fromisoformat(day) + timedelta(days=1)}T{clock}"
    edit.locator('input[name="valid_to"]').fill(next_day)
    edit.locator('input[name="note"]').fill("亲戚 多住一晚")
    edit.locator('button[type="submit"]').click()
    page.locator("#pass-rows tr", has_text="亲戚 多住一晚").wait_for()
    [extended] = passes_for(live_server, "粤B88888")
    assert extended["id"] == made["id"] and extended["note"] == "亲戚 多住一晚"
    assert datetime.fromisoformat(extended["valid_to"]) - datetime.fromisoformat(
        made["valid_to"]) < timedelta(days=1, minutes=1)
    assert datetime.fromisoformat(extended["valid_to"]) > datetime.fromisoformat(
        made["valid_to"]) + timedelta(hours=23)

    # Deleting stays with admins: a delete the page does not offer is refused, in Chinese.
    pass_id = passes_for(live_server, "粤B88888")[0]["id"]
    page.evaluate("""id => {
        const button = document.createElement("button");
        button.dataset.api = "/api/v1/passes/" + id;
        button.dataset.method = "DELETE";
        button.id = "forged-delete";
        document.querySelector("main").append(button);
    }""", pass_id)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#forged-delete")
    # The toast may still say the pass was added: wait for the refusal itself.
    page.wait_for_function(
        "() => document.getElementById('toast').textContent === '此操作仅限管理员'")
    assert len(passes_for(live_server, "粤B88888")) == 1


def test_the_delete_question_names_the_pass(live_server: LiveServer, new_page: Any) -> None:
    add_household(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/passes")
    fill_pass(page, "粤B88888")
    page.click(f'{FORM} button[type="submit"]')
    row = page.locator("#pass-rows tr", has_text="粤B88888")
    row.wait_for()
    pass_id = passes_for(live_server, "粤B88888")[0]["id"]
    questions: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    row.locator("button[data-method='DELETE']").click()
    page.wait_for_timeout(300)
    assert row.count() == 1
    page.once("dialog", lambda dialog: answer(dialog, True))
    row.locator("button[data-method='DELETE']").click()
    row.wait_for(state="detached")
    assert questions == [f"删除通行证 #{pass_id} 粤B88888？"] * 2
    assert passes_for(live_server, "粤B88888") == []


def test_an_admin_sees_who_logged_in_and_who_failed(
    live_server: LiveServer, new_page: Any
) -> None:
    from tests.api.test_console import add_staff
    from tests.browser.conftest import login

    add_staff(live_server.services, "guard1", "guard")  # "admin" is the server's own
    guard = new_page()
    guard.goto("/console/login")
    guard.fill('input[name="username"]', "GUARD1")
    guard.fill('input[name="password"]', "not-the-password")
    guard.click('#login-form button[type="submit"]')
    guard.wait_for_selector(".error")
    login(guard, "guard1")

    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/users")
    last = page.locator('tr[data-user="guard1"] td.last-login a')
    assert last.count() == 1
    assert page.locator('tr[data-user="admin"] td.last-login').inner_text() == "从未登录"
    last.click()
    page.wait_for_url("**/console/admin/audit?**")
    rows = page.locator("table.grid tbody tr")
    text = rows.all_inner_texts()
    assert len(text) == 2 and "登录" in text[0] and "登录失败" in text[1]
    assert "GUARD1" in text[1] and "值班控制台" in text[1]  # filed under the account
    screenshot(page, "audit-logins")


def test_deactivating_a_guard_asks_first_naming_the_account(
    live_server: LiveServer, new_page: Any
) -> None:
    """停用 logged a guard out at once on one misclick: it now asks, and says so."""
    from models.people import User

    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/users")
    row = page.locator('tr[data-user="guard"]')
    questions: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    def active() -> bool:
        with live_server.services.sessions() as session:
            return bool(session.query(User.active).filter(User.username == "guard").scalar())

    page.once("dialog", lambda dialog: answer(dialog, False))
    row.locator("button", has_text="停用").click()
    page.wait_for_timeout(300)
    assert active() and row.inner_text().count("启用中") == 1
    page.once("dialog", lambda dialog: answer(dialog, True))
    with page.expect_navigation():
        row.locator("button", has_text="停用").click()
    assert not active() and "已停用" in row.inner_text()
    assert questions == ["停用后 guard 会立即退出登录，不能再登录。确定停用 guard？"] * 2
    # 启用 brings nobody's session to an end: it does not ask.
    with page.expect_navigation():
        row.locator("button", has_text="启用").click()
    assert active() and len(questions) == 2
