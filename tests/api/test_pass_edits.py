"""Editing a visitor pass (extend, shorten or end, correct the plate or the note, change its
days and hours): ``PATCH /api/v1/passes/{id}``, checked by creation's rules, audited old ->
new, seen by the gates at their next decision and by the offline snapshot soon after, and
the passes page's 编辑/延长 form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api.console.error_texts import explain_detail
from models.db import transaction
from models.events import AuditEntry
from models.vehicles import VisitorPass
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_credentials import present
from tests.api.test_database_outage import push as push_rendered
from tests.api.test_database_outage import wait_for
from tests.api.test_pass_hours import household, later_today
from tests.conftest import add_user
from tests.db_outage import DatabaseOutage

HOUR = timedelta(hours=1)


def make_pass(client: Any, headers: dict[str, str], host: int, plate: str | None = "粤B88888",
              start: timedelta = -HOUR, length: timedelta = 2 * HOUR,
              **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {"plate": plate, "host_household_id": host, "max_uses": None,
            "valid_from": (now + start).isoformat(),
            "valid_to": (now + start + length).isoformat(), **fields}
    created = client.post("/api/v1/passes", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


def ended_pass(client: Any, headers: dict[str, str], host: int) -> dict[str, Any]:
    """A pass that ended an hour ago (the API makes none: a new pass must be to come)."""
    now = datetime.now(UTC)
    with transaction(client.app.state.services.sessions) as session:
        row = VisitorPass(plate="粤B88888", host_household_id=host, valid_from=now - 3 * HOUR,
                          valid_to=now - HOUR, max_uses=None, created_by="admin")
        session.add(row)
        session.flush()
        pass_id = row.id
    return dict(client.get(f"/api/v1/passes/{pass_id}", headers=headers).json())


def patch(client: Any, headers: dict[str, str], pass_id: int, **body: Any) -> Any:
    return client.patch(f"/api/v1/passes/{pass_id}", json=body, headers=headers)


def edits(client: Any) -> list[AuditEntry]:
    with client.app.state.services.sessions() as session:
        return list(session.scalars(
            select(AuditEntry).where(AuditEntry.action == "pass.update").order_by(AuditEntry.id)
        ))


def test_a_guard_extends_a_pass_and_the_log_says_old_and_new(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    host = household(client, admin_headers)
    made = make_pass(client, admin_headers, host, note="亲戚")
    new_to = datetime.fromisoformat(made["valid_to"]) + timedelta(days=1)
    edited = patch(client, guard_headers, made["id"], valid_to=new_to.isoformat(),
                   note=" 亲戚 多住一晚 ", plate="粤b·88889", max_uses=3)
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert datetime.fromisoformat(body["valid_to"]) == new_to
    assert (body["note"], body["plate"], body["max_uses"]) == ("亲戚 多住一晚", "粤B88889", 3)
    # The rest stays as it was, the pass keeps its id.
    shown = client.get(f"/api/v1/passes/{made['id']}", headers=admin_headers).json()
    assert shown == body
    assert (shown["valid_from"], shown["host_household_id"], shown["created_by"]) == (
        made["valid_from"], host, "admin")
    [entry] = edits(client)
    assert (entry.username, entry.target) == ("guard", f"pass:{made['id']}")
    assert entry.details["fields"] == ["plate", "valid_to", "max_uses", "note"]
    changes = entry.details["changes"]
    assert changes["plate"] == ["粤B88888", "粤B88889"]
    assert changes["max_uses"] == [None, 3]
    assert [datetime.fromisoformat(v) for v in changes["valid_to"]] == [
        datetime.fromisoformat(made["valid_to"]), new_to]
    assert "note" not in changes  # said changed, its words stay out as at creation


def test_an_edit_that_changes_nothing_is_not_logged(
    client: Any, admin_headers: dict[str, str]
) -> None:
    host = household(client, admin_headers)
    made = make_pass(client, admin_headers, host, weekdays=["mon", "tue"])
    same = patch(client, admin_headers, made["id"], plate=made["plate"], weekdays=["tue", "mon"],
                 host_household_id=host, walk_in=False)
    assert same.status_code == 200, same.text
    assert same.json() == made
    assert edits(client) == []


@pytest.fixture(scope="module")
def refusing(shared_client: Any) -> tuple[Any, dict[str, str], int]:
    """One app per database, its admin and a host household, for the refused edits: each
    case makes a pass of its own and checks that pass unchanged and that no edit at all was
    logged (none of them may log one), so they share the app (tests/api/conftest.py
    ``shared_client``) instead of building one each (0.15 s of CPU for a few requests)."""
    admin = add_staff(shared_client.app.state.services, "admin", "admin")
    return shared_client, admin, household(shared_client, admin)


@pytest.mark.parametrize(
    ("body", "status", "words", "chinese"),
    [
        ({"valid_to": "PAST"}, 422, "valid_to is in the past", None),
        ({"valid_from": "LATE"}, 422, "valid_to must be after valid_from",
         "结束时间必须晚于开始时间"),
        ({"valid_to": "FAR"}, 422, "a visitor pass lasts at most 366 days", None),
        ({"plate": "粤B1234"}, 422, "is not a valid Chinese plate", None),
        ({"plate": None}, 422, "its plate can be corrected but not removed",
         "是有车访客的：车牌可以改正，但不能去掉"),
        ({"walk_in": True}, 422, "its plate can be corrected but not removed", None),
        ({"host_household_id": 999}, 422, "cannot be changed", "被访住户不能修改"),
        ({"uses": 0}, 422, "uses is counted by the gates", "已用次数由道闸计数"),
        ({"weekdays": []}, 422, "weekdays must name at least one day", "请至少勾选一天"),
        ({"weekdays": ["mon", "xyz"]}, 422, "unknown weekday(s) xyz", None),
        ({"hours_from": "08:00"}, 422, "give hours_from and hours_to together",
         "时段的开始和结束要一起填写"),
        ({"hours_from": "25:00", "hours_to": "26:00"}, 422, "hours_from must be a time", None),
        ({"hours_from": "08:00", "hours_to": "08:00"}, 422, "the range has no length", None),
        ({"note": "装" * 501}, 422, "at most 500 characters", "备注：最多 500 个字符"),
        ({"valid_to": None}, 422, "valid_to may not be null", None),
        ({"max_uses": 0}, 422, "greater than or equal to 1", None),
        ({"max_uses": True}, 422, "valid integer", None),
        ({"colour": "red"}, 422, "Extra inputs are not permitted", None),
    ],
)
def test_bad_edits_are_refused_with_a_message_and_change_nothing(
    refusing: tuple[Any, dict[str, str], int], body: dict[str, Any], status: int, words: str,
    chinese: str | None,
) -> None:
    client, admin_headers, host = refusing
    now = datetime.now(UTC)
    # PAST: a later end than the stored one (an hour ago) that is still past: an extension
    # must reach into the future.
    times = {"PAST": now - HOUR / 2, "LATE": now + 3 * HOUR, "FAR": now + timedelta(days=400)}
    made = (ended_pass(client, admin_headers, host) if body.get("valid_to") == "PAST"
            else make_pass(client, admin_headers, host))
    sent = {k: times[v].isoformat() if isinstance(v, str) and v in times else v
            for k, v in body.items()}
    refused = patch(client, admin_headers, made["id"], **sent)
    assert refused.status_code == status and words in refused.text, refused.text
    if chinese is not None:
        assert chinese in explain_detail("zh", refused.json()["detail"])
    assert client.get(f"/api/v1/passes/{made['id']}", headers=admin_headers).json() == made
    assert edits(client) == []


def test_a_walk_in_pass_stays_walk_in(client: Any, admin_headers: dict[str, str]) -> None:
    host = household(client, admin_headers)
    walker = make_pass(client, admin_headers, host, plate=None)
    for body in ({"plate": "粤B88888"}, {"walk_in": False}):
        refused = patch(client, admin_headers, walker["id"], **body)
        assert refused.status_code == 422 and "stays without a plate" in refused.text
        assert "是步行访客的，不能加车牌" in explain_detail("zh", refused.json()["detail"])
    kept = patch(client, admin_headers, walker["id"], walk_in=True, note="家教")
    assert kept.status_code == 200 and (kept.json()["plate"], kept.json()["note"]) == (None, "家教")


def test_unknown_pass_is_404_and_anonymous_is_401(
    client: Any, admin_headers: dict[str, str]
) -> None:
    missing = patch(client, admin_headers, 4242, note="x")
    assert missing.status_code == 404 and "pass 4242 not found" in missing.text
    assert patch(client, {}, 1, note="x").status_code == 401
    assert patch(client, admin_headers, 0, note="x").status_code == 422


def test_max_uses_not_below_the_uses_made_and_hours_and_days_change(
    client: Any, admin_headers: dict[str, str]
) -> None:
    host = household(client, admin_headers)
    made = make_pass(client, admin_headers, host, plate=None, max_uses=3)
    code = client.get(f"/api/v1/passes/{made['id']}/qr", headers=admin_headers).json()["code"]
    for _ in range(2):
        assert present(client, {"kind": "qr", "code": code}).json()["reason"] == "qr_pass"
    below = patch(client, admin_headers, made["id"], max_uses=1)
    assert below.status_code == 422
    assert explain_detail("zh", below.json()["detail"]) == "可用次数 1 少于已用的 2 次"
    assert patch(client, admin_headers, made["id"], max_uses=2).json()["max_uses"] == 2
    assert present(client, {"kind": "qr", "code": code}).json()["reason"] == "pass_used_up"
    more = patch(client, admin_headers, made["id"], max_uses=None)
    assert more.json()["max_uses"] is None
    assert present(client, {"kind": "qr", "code": code}).json()["reason"] == "qr_pass"
    # Days and hours: set, one end moved on its own, then cleared back to any time.
    start, end = later_today()
    timed = patch(client, admin_headers, made["id"], hours_from=start, hours_to=end,
                  weekdays=["fri", "mon"]).json()
    assert (timed["weekdays"], timed["hours_from"]) == (["mon", "fri"], start)
    assert patch(client, admin_headers, made["id"], hours_to="00:00").json()["hours_to"] == "24:00"
    cleared = patch(client, admin_headers, made["id"], hours_from=None, hours_to=None,
                    weekdays=None).json()
    assert (cleared["weekdays"], cleared["hours_from"], cleared["hours_to"]) == (None, None, None)
    fields = [e.details["fields"] for e in edits(client)]
    assert fields == [["max_uses"], ["max_uses"], ["weekdays", "hours_from", "hours_to"],
                      ["hours_to"], ["weekdays", "hours_from", "hours_to"]]
    assert edits(client)[-1].details["changes"]["hours_to"] == ["24:00", None]


def test_the_gate_opens_after_the_old_end_once_extended_and_stops_once_ended(
    client: Any, admin_headers: dict[str, str]
) -> None:
    host = household(client, admin_headers)
    ended = ended_pass(client, admin_headers, host)
    before = push_rendered(client, "main-in", "粤B88888").json()
    assert (before["decision"], before["reason"]) == ("review", "pass_expired")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert patch(client, admin_headers, ended["id"], valid_to=tomorrow).status_code == 200
    after = push_rendered(client, "main-in", "粤B88888").json()
    assert (after["decision"], after["reason"]) == ("allow", "visitor_pass")
    passage = client.get(f"/api/v1/passages/{after['passage_id']}", headers=admin_headers)
    assert passage.json()["pass_id"] == ended["id"]
    # And the QR code the visitor already holds follows the same window.
    code = client.get(f"/api/v1/passes/{ended['id']}/qr", headers=admin_headers).json()["code"]
    assert present(client, {"kind": "qr", "code": code}).json()["reason"] == "qr_pass"
    # Ended now by a guard (a time already past, earlier than the stored end).
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    now = datetime.now(UTC).isoformat()
    assert patch(client, guard, ended["id"], valid_to=now).status_code == 200
    assert present(client, {"kind": "qr", "code": code}).json()["reason"] == "pass_expired"
    out = push_rendered(client, "main-in", "粤B88888").json()
    assert (out["decision"], out["reason"]) == ("review", "pass_expired")


def test_during_an_outage_right_after_an_edit_the_snapshot_has_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The snapshot is retaken at the offline loop's next wake (0.2 s here), not after
    offline_refresh_s (an hour here): an outage that starts just after a pass was ended must
    not let its old window open the gate."""
    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    host = household(client, admin)
    made = make_pass(client, admin, host, length=24 * HOUR)
    start, end = later_today()
    saved = services.settings.data_dir / "journal" / "offline_snapshot.json"
    wait_for(saved.is_file, 10.0)  # taken at start, and next after an hour but for edits
    wait_for(lambda: "粤B88888" in saved.read_text(), 10.0)  # the pass's registration
    assert f'"hours_from":"{start}"' not in saved.read_text()
    assert patch(client, admin, made["id"], hours_from=start, hours_to=end).status_code == 200
    wait_for(lambda: f'"hours_from":"{start}"' in saved.read_text(), 10.0)

    outage.cut(services.engine)
    held = push_rendered(client, "main-in", "粤B88888").json()
    outage.restore()
    assert held["passage_id"] is None and held["journal_id"]  # decided offline
    assert (held["decision"], held["reason"]) == ("review", "outside_schedule")


def test_the_console_edit_form_sends_a_patch_guards_too(client: Any) -> None:
    services = client.app.state.services
    headers = add_staff(services, "admin", "admin")
    host = household(client, headers)
    made = make_pass(client, headers, host, weekdays=["mon", "tue", "wed", "thu", "fri"],
                     hours_from="08:00", hours_to="24:00", note="保洁")
    walker = make_pass(client, headers, host, plate=None)
    add_staff(services, "guard", "guard")
    csrf = cookie_login(client, "guard", "guard")
    page = client.get("/console/admin/passes").text
    form = re.search(rf'<form class="form-row api-form pass-edit" data-api="/api/v1/passes/'
                     rf'{made["id"]}" data-method="PATCH".*?</form>', page, re.S)
    assert form is not None, page
    html = form.group(0)
    assert '<summary class="btn small"' in page and "编辑/延长" in page
    assert 'value="粤B88888"' in html and 'value="保洁"' in html
    assert 'name="hours_to" type="time" data-type="optional" value="00:00"' in html
    assert 'value="sat" data-type="weekdays">' in html  # not ticked
    assert 'value="mon" data-type="weekdays" checked>' in html
    assert "data-tz=\"+08:00\"" in html and "已修改访客通行证" in html
    walk_form = re.search(rf'data-api="/api/v1/passes/{walker["id"]}" data-method="PATCH".*?'
                          r"</form>", page, re.S)
    assert walk_form is not None and 'name="plate"' not in walk_form.group(0)
    # What admin.js sends for a changed end time: the typed minute in Beijing time.
    new_to = (datetime.now(UTC) + timedelta(days=2)).astimezone(
        datetime.fromisoformat("2026-01-01T00:00+08:00").tzinfo)
    sent = client.patch(f"/api/v1/passes/{made['id']}", headers={"X-CSRF-Token": csrf},
                        json={"valid_to": f"{new_to:%Y-%m-%dT%H:%M}:00+08:00"})
    assert sent.status_code == 200, sent.text
    assert client.patch(f"/api/v1/passes/{made['id']}", json={"note": "x"}).status_code == 403
    # Refused in the page's words.
    bad = client.patch(f"/api/v1/passes/{made['id']}", headers={"X-CSRF-Token": csrf},
                       json={"hours_from": "09:00", "hours_to": "09:00"})
    assert bad.status_code == 422
    assert explain_detail("zh", bad.json()["detail"]).startswith("时段开始和结束都是 09:00")
    # The audit page names the change in Chinese.
    client.cookies.clear()  # the guard's renewed cookie would otherwise still be sent
    cookie_login(client, "admin", "admin")
    audit = client.get("/console/admin/audit", params={"action": "pass.update"}).text
    assert "修改访客通行证" in audit and "修改项" in audit and "结束时间" in audit
    assert re.search(r"结束时间：\d{4}-\d\d-\d\d \d\d:\d\d → \d{4}-\d\d-\d\d \d\d:\d\d", audit)
