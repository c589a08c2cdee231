"""Guards read residents' phones masked (138****8000); the whole number is one audited reveal
away (POST /api/v1/residents/{id}/phone-reveal), for the host a guard must call about a
visitor. Admins (the office, who manage residents) read numbers whole. The audit entry says
who looked up whose number and when, never the number (PIPL: the log outlives the resident)."""

from __future__ import annotations

from typing import Any

import pytest

from api.console.error_texts import explain_detail
from api.routes import resident_phone
from models.events import AuditEntry
from tests.api.test_console import cookie_login
from tests.api.test_database_outage import FAST
from tests.conftest import add_user
from tests.db_outage import DatabaseOutage

PHONE, MASKED = "13800138000", "138****8000"


def resident_with_phone(client: Any, admin: dict[str, str], phone: str | None = PHONE) -> int:
    flat = client.post("/api/v1/households", json={"building": "3栋", "unit": "1201"},
                       headers=admin)
    assert flat.status_code == 201, flat.text
    created = client.post("/api/v1/residents", json={
        "household_id": flat.json()["id"], "name": "张伟", "phone": phone}, headers=admin)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def reveals(client: Any) -> list[AuditEntry]:
    with client.app.state.services.sessions() as session:
        return list(session.query(AuditEntry)
                    .filter(AuditEntry.action == "resident.phone_reveal")
                    .order_by(AuditEntry.id))


def test_a_guard_reads_phones_masked_and_the_office_whole(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    resident = resident_with_phone(client, admin_headers)
    household = client.get(f"/api/v1/residents/{resident}", headers=admin_headers).json()
    assert household["phone"] == PHONE and household["phone_masked"] is False

    one = client.get(f"/api/v1/residents/{resident}", headers=guard_headers)
    listed = client.get("/api/v1/residents", headers=guard_headers,
                        params={"household_id": household["household_id"]})
    assert one.status_code == 200 and listed.status_code == 200
    for seen in (one.json(), listed.json()[0]):
        assert seen["phone"] == MASKED and seen["phone_masked"] is True
        assert seen["name"] == "张伟"
    assert PHONE not in one.text + listed.text
    assert client.get("/api/v1/residents", headers=admin_headers).json()[0]["phone"] == PHONE
    assert reveals(client) == []  # reading the list reveals nothing, so audits nothing


def test_a_reveal_answers_the_whole_number_and_is_audited_without_it(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    resident = resident_with_phone(client, admin_headers)
    household = client.get(f"/api/v1/residents/{resident}", headers=admin_headers).json()

    first = client.post(f"/api/v1/residents/{resident}/phone-reveal", headers=guard_headers,
                        json={"reason": "访客 闽A12345 无通行证"})
    second = client.post(f"/api/v1/residents/{resident}/phone-reveal", headers=guard_headers)

    assert first.status_code == 200, first.text
    assert first.json()["phone"] == PHONE and first.json()["id"] == resident
    assert second.status_code == 200 and second.json()["phone"] == PHONE
    entries = reveals(client)
    assert [(e.username, e.target, e.reason, e.details) for e in entries] == [
        ("guard", f"resident:{resident}", "访客 闽A12345 无通行证",
         {"household_id": household["household_id"]}),
        ("guard", f"resident:{resident}", "", {"household_id": household["household_id"]}),
    ]  # each reveal, the reason when given
    assert first.json()["audit_id"] == entries[0].id
    log = client.get("/api/v1/audit", headers=admin_headers,
                     params={"action": "resident.phone_reveal"})
    assert log.status_code == 200 and log.json()["total"] == 2
    assert PHONE not in log.text and MASKED not in log.text
    # The office's 操作日志 names the action and the resident, not the number.
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/audit", params={"action": "resident.phone_reveal"}).text
    assert "查看住户完整号码" in page and "3栋 1201" in page and "访客 闽A12345 无通行证" in page
    assert PHONE not in page and MASKED not in page


def test_a_reveal_of_no_such_resident_or_without_a_login_is_refused(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    resident = resident_with_phone(client, admin_headers)
    missing = client.post(f"/api/v1/residents/{resident + 1}/phone-reveal",
                          headers=guard_headers)
    anonymous = client.post(f"/api/v1/residents/{resident}/phone-reveal")
    assert missing.status_code == 404, missing.text
    assert anonymous.status_code == 401, anonymous.text
    assert PHONE not in missing.text + anonymous.text
    assert reveals(client) == []


def test_an_account_revealing_number_after_number_is_stopped(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resident_phone, "REVEALS_PER_WINDOW", 2)
    resident = resident_with_phone(client, admin_headers)
    url = f"/api/v1/residents/{resident}/phone-reveal"
    answers = [client.post(url, headers=guard_headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
    assert PHONE not in answers[-1].text
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 3600
    assert len(reveals(client)) == 2  # the refusal revealed nothing
    # Another guard's reveals are their own.
    other = {"Authorization": f"Bearer {add_user(client, 'guard2', 'guard')}"}
    assert client.post(url, headers=other).status_code == 200


def test_during_a_database_outage_a_reveal_is_refused_not_made_unaudited(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The number is on the residents table, which cannot be read; and a reveal that could
    not be recorded must not be made. 503, no number; nothing to write back later."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    resident = resident_with_phone(client, admin)

    outage.cut(services.engine)
    during = client.post(f"/api/v1/residents/{resident}/phone-reveal", headers=guard)
    outage.restore()

    assert during.status_code == 503, during.text
    assert PHONE not in during.text
    assert reveals(client) == []
    after = client.post(f"/api/v1/residents/{resident}/phone-reveal", headers=guard)
    assert after.status_code == 200 and after.json()["phone"] == PHONE
    assert len(reveals(client)) == 1


def test_a_guard_reads_a_number_in_a_households_note_masked(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    """A household's note is free text; the office writes numbers there too."""
    note = "业主张伟 138-0013-8000，轮椅；车 闽A12345"
    made = client.post("/api/v1/households", json={"building": "3栋", "unit": "1201",
                                                   "note": note}, headers=admin_headers)
    assert made.status_code == 201, made.text
    flat = made.json()["id"]
    for url in ("/api/v1/households", f"/api/v1/households/{flat}"):
        seen = client.get(url, headers=guard_headers).json()
        assert (seen[0] if isinstance(seen, list) else seen)["note"] == (
            "业主张伟 138****8000，轮椅；车 闽A12345")
        office = client.get(url, headers=admin_headers).json()
        assert (office[0] if isinstance(office, list) else office)["note"] == note


def test_a_reveal_of_a_resident_without_a_number_says_so_and_is_no_reveal(
    client: Any,
    admin_headers: dict[str, str],
    guard_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing is revealed, so nothing is audited as a reveal (the office would read 查看住户
    完整号码 of a number that does not exist) and the hour's limit is not spent on it."""
    monkeypatch.setattr(resident_phone, "REVEALS_PER_WINDOW", 1)
    with_number = resident_with_phone(client, admin_headers)
    flat = client.get(f"/api/v1/residents/{with_number}", headers=admin_headers).json()
    without = client.post(
        "/api/v1/residents",
        json={"household_id": flat["household_id"], "name": "李娜"},
        headers=admin_headers,
    )
    assert without.status_code == 201, without.text
    url = "/api/v1/residents/{}/phone-reveal"

    answers = [
        client.post(url.format(without.json()["id"]), headers=guard_headers) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [404, 404], answers[0].text
    detail = answers[0].json()["detail"]
    assert detail == f"resident {without.json()['id']} has no phone number on record"
    assert explain_detail("zh", detail) == (
        f"住户成员 #{without.json()['id']} 未登记电话，没有号码可显示"
    )
    assert reveals(client) == []
    revealed = client.post(url.format(with_number), headers=guard_headers)
    assert revealed.status_code == 200, revealed.text  # the hour's one reveal is still there
    assert revealed.json()["phone"] == PHONE
    assert [e.target for e in reveals(client)] == [f"resident:{with_number}"]
