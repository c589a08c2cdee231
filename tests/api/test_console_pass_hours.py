"""The 访客通行证 page and a pass's QR page with recurring passes: the form's weekday boxes
and hours (every day, all day unless set), the list and the QR page saying the days and hours
in Chinese, the API's refusals worded for the office, and the audit page's details."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.console.audit_texts import audit_details
from api.console.error_texts import explain_message
from api.console.pass_schedule import schedule_text
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_pass_hours import household, make_pass


@pytest.mark.parametrize(
    ("weekdays", "start", "end", "zh", "en"),
    [
        (None, None, None, "不限", "Any day, any time"),
        ("mon,tue,wed,thu,fri", "08:00", "12:00", "周一至周五 08:00–12:00", "Mon–Fri 08:00–12:00"),
        ("sat,sun", None, None, "周六、周日 全天", "Sat, Sun all day"),
        (
            "mon,wed,fri",
            "09:00",
            "11:30",
            "周一、周三、周五 09:00–11:30",
            "Mon, Wed, Fri 09:00–11:30",
        ),
        (
            "mon,tue,wed,thu,fri,sat,sun",
            "18:00",
            "24:00",
            "每天 18:00–24:00",
            "Every day 18:00–24:00",
        ),
        (None, "22:00", "02:00", "每天 22:00–次日02:00", "Every day 22:00–next day 02:00"),
        (
            "mon,tue,wed,sat",
            "07:00",
            "09:00",
            "周一至周三、周六 07:00–09:00",
            "Mon–Wed, Sat 07:00–09:00",
        ),
    ],
)
def test_schedule_in_words(
    weekdays: str | None, start: str | None, end: str | None, zh: str, en: str
) -> None:
    assert schedule_text("zh", weekdays, start, end) == zh
    assert schedule_text("en", weekdays, start, end) == en


def test_the_form_offers_weekdays_and_hours_defaulting_to_every_day_all_day(client: Any) -> None:
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    html = client.get("/console/admin/passes").text
    form = re.search(r'<form[^>]*id="pass-form".*?</form>', html, re.S)
    assert form is not None
    boxes = re.findall(
        r'<input type="checkbox" name="weekdays" value="(\w+)"[^>]*>\s*(\S+)</label>', form.group(0)
    )
    assert boxes == [
        ("mon", "周一"),
        ("tue", "周二"),
        ("wed", "周三"),
        ("thu", "周四"),
        ("fri", "周五"),
        ("sat", "周六"),
        ("sun", "周日"),
    ]
    assert form.group(0).count('data-type="weekdays" checked') == 7
    for name in ("hours_from", "hours_to"):
        field = re.search(rf'<input name="{name}"[^>]*>', form.group(0))
        assert field is not None and 'type="time"' in field.group(0)
        assert "value=" not in field.group(0)  # empty: all day
    assert "默认每天全天" in form.group(0)


def test_the_list_and_the_qr_page_say_the_days_and_hours(client: Any) -> None:
    headers = add_staff(client.app.state.services, "admin", "admin")
    host = household(client, headers)
    cleaner = make_pass(
        client,
        headers,
        "粤B88888",
        host,
        weekdays=["mon", "tue", "wed", "thu", "fri"],
        hours_from="08:00",
        hours_to="12:00",
    )
    plain = make_pass(client, headers, "粤B77777", host)
    cookie_login(client, "admin", "admin")
    html = client.get("/console/admin/passes").text
    shown = dict(
        re.findall(
            r'<tr data-pass="(\d+)".*?<td class="pass-schedule"[^>]*>([^<]*)</td>', html, re.S
        )
    )
    assert shown == {str(cleaner["id"]): "周一至周五 08:00–12:00", str(plain["id"]): "不限"}
    assert "<th>通行日与时段</th>" in html

    qr = client.get(f"/console/admin/passes/{cleaner['id']}/qr").text
    assert '<td class="pass-schedule">周一至周五 08:00–12:00</td>' in qr


@pytest.mark.parametrize(
    ("body", "zh"),
    [
        ({"weekdays": []}, "请至少勾选一天（每天都可来则全选）"),
        ({"hours_from": "08:00"}, "时段的开始和结束要一起填写（全天则都不填）"),
        (
            {"hours_from": "08:00", "hours_to": "08:00"},
            "时段开始和结束都是 08:00，没有时长（全天则都不填）",
        ),
    ],
)
def test_the_api_s_refusals_are_worded_for_the_office(
    client: Any, body: dict[str, Any], zh: str
) -> None:
    headers = add_staff(client.app.state.services, "guard", "guard")
    now = datetime.now(UTC)
    admin = add_staff(client.app.state.services, "admin", "admin")
    host = household(client, admin)
    response = client.post(
        "/api/v1/passes",
        headers=headers,
        json={
            "plate": "粤B88888",
            "host_household_id": host,
            "valid_from": now.isoformat(),
            "valid_to": (now + timedelta(days=30)).isoformat(),
            **body,
        },
    )
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert explain_message("zh", message) == zh


def test_the_audit_page_words_a_pass_s_days() -> None:
    from zoneinfo import ZoneInfo

    pairs = dict(
        audit_details(
            "zh",
            {
                "plate": "粤B88888",
                "weekdays": "mon,tue,wed,thu,fri",
                "hours_from": "08:00",
                "hours_to": "12:00",
            },
            {},
            ZoneInfo("Asia/Shanghai"),
        )
    )
    assert pairs["通行日"] == "周一至周五"
    assert (pairs["时段 从"], pairs["时段 至"]) == ("08:00", "12:00")
