"""Gate actions, alarms and the audit log through the JSON API (issue 6)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest

from hardware.simulated import SimFault
from tests.api.test_console import add_staff


@pytest.fixture
def admin_headers(client: Any) -> dict[str, str]:
    """Overrides conftest's: same user, without two argon2 rounds per test."""
    return add_staff(client.app.state.services, "admin", "admin")


@pytest.fixture
def guard_headers(client: Any) -> dict[str, str]:
    return add_staff(client.app.state.services, "guard", "guard")

def act(client: Any, headers: dict[str, str], gate: str, action: str, reason: Any) -> Any:
    return client.post(
        f"/api/v1/gates/{gate}/actions", json={"action": action, "reason": reason},
        headers=headers,
    )


def test_guard_opens_a_gate_with_a_reason_and_it_is_audited(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    response = act(client, guard_headers, "main-in", "open", "救护车进入")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gate_id"] == "main-in" and body["state"] in ("opening", "open")

    gates = {g["id"]: g for g in client.get("/api/v1/gates", headers=guard_headers).json()}
    assert gates["main-in"]["state"] in ("opening", "open")
    assert gates["main-out"]["state"] == "closed"

    audit = client.get("/api/v1/audit", params={"action": "gate"}, headers=admin_headers).json()
    assert audit["total"] == 1
    row = audit["items"][0]
    assert (row["username"], row["action"], row["gate_id"], row["reason"]) == (
        "guard", "gate.open", "main-in", "救护车进入"
    )
    assert row["id"] == body["audit_id"]


BAD_ACTIONS: list[tuple[dict[str, Any], int]] = [
    ({"action": "open"}, 422),
    ({"action": "open", "reason": "x"}, 422),
    ({"action": "open", "reason": "   "}, 422),
    ({"action": "explode", "reason": "测试原因"}, 422),
    ({"action": "open", "reason": "测试原因", "extra": 1}, 422),
    ({"action": "open", "reason": "测试原因", "passage_id": 999}, 404),
]


def test_bad_gate_actions_are_refused_clearly(
    client: Any, guard_headers: dict[str, str]
) -> None:
    for body, status in BAD_ACTIONS:  # one app for the table: building one takes seconds
        response = client.post("/api/v1/gates/main-in/actions", json=body, headers=guard_headers)
        assert response.status_code == status, (body, response.text)
        assert "detail" in response.json()
    assert str(client.app.state.services.barriers["main-in"].state) == "closed"
    assert act(client, guard_headers, "nowhere", "open", "测试原因").status_code == 404
    assert act(client, {}, "main-in", "open", "测试原因").status_code == 401


def test_held_open_gate_refuses_close_until_released(
    client: Any, guard_headers: dict[str, str]
) -> None:
    assert act(client, guard_headers, "main-out", "hold_open", "早高峰常开").status_code == 200
    # The arm travels first; the machine reports held_open once it is up.
    assert str(client.app.state.services.barriers["main-out"].state) in ("opening", "held_open")
    refused = act(client, guard_headers, "main-out", "close", "高峰结束")
    assert refused.status_code == 409, refused.text
    released = act(client, guard_headers, "main-out", "release", "高峰结束")
    assert released.status_code == 200, released.text
    assert act(client, guard_headers, "main-out", "close", "高峰结束").status_code == 200


def test_hardware_fault_answers_503_raises_an_alarm_and_a_guard_acknowledges_it(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    client.app.state.services.barriers["main-in"].inject_fault(SimFault.OFFLINE)
    response = act(client, guard_headers, "main-in", "open", "访客无证放行")
    assert response.status_code == 503, response.text
    assert "offline" in response.json()["detail"]

    # The safety supervisor raises the barrier's alarm from its own listener, which may store
    # it a moment after the guard got the 503 (the console hears it live either way).
    deadline = time.monotonic() + 5
    while True:
        alarms = client.get("/api/v1/alarms", headers=guard_headers).json()
        if alarms["total"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # At least one: a barrier-fault supervisor may raise its own alarm for the same fault.
    assert alarms["total"] >= 1, alarms
    assert {(a["kind"], a["gate_id"]) for a in alarms["items"]} == {("hardware_fault", "main-in")}
    alarm = alarms["items"][-1]
    audit = client.get("/api/v1/audit", params={"action": "gate.open"}, headers=admin_headers)
    assert audit.json()["items"][0]["details"]["outcome"] == "fault"

    ack = client.post(f"/api/v1/alarms/{alarm['id']}/ack", json={"note": "已报修"},
                      headers=guard_headers)
    assert ack.status_code == 200, ack.text
    assert ack.json()["acknowledged_by"] == "guard"
    again = client.post(f"/api/v1/alarms/{alarm['id']}/ack", headers=guard_headers)
    assert again.status_code == 409
    assert client.post("/api/v1/alarms/999/ack", headers=guard_headers).status_code == 404
    assert client.get("/api/v1/alarms", headers=guard_headers).json()["total"] == (
        alarms["total"] - 1
    )
    acked = client.get("/api/v1/alarms", params={"state": "acknowledged"}, headers=guard_headers)
    assert [a["id"] for a in acked.json()["items"]] == [alarm["id"]]
    everything = client.get("/api/v1/alarms", params={"state": "all"}, headers=guard_headers)
    assert everything.json()["total"] == alarms["total"]


def test_a_close_that_fails_answers_503_with_exactly_one_alarm(
    client: Any, guard_headers: dict[str, str]
) -> None:
    assert act(client, guard_headers, "main-out", "hold_open", "早高峰常开").status_code == 200
    assert act(client, guard_headers, "main-out", "release", "高峰结束").status_code == 200
    client.app.state.services.barriers["main-out"].inject_fault(SimFault.OFFLINE)
    response = act(client, guard_headers, "main-out", "close", "高峰结束")
    assert response.status_code == 503, response.text
    # A safety supervisor records its alarm from a task of its own: give it a moment.
    time.sleep(0.5)
    alarms = client.get("/api/v1/alarms", headers=guard_headers).json()["items"]
    assert [(a["kind"], a["gate_id"]) for a in alarms] == [("hardware_fault", "main-out")]


def test_audit_search_and_csv_export_are_for_admins(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    act(client, guard_headers, "main-in", "open", "=HYPERLINK(\"x\") 公式")
    act(client, guard_headers, "main-out", "open", "业主来电")
    assert client.get("/api/v1/audit", headers=guard_headers).status_code == 403
    assert client.get("/api/v1/audit.csv", headers=guard_headers).status_code == 403

    filtered = client.get(
        "/api/v1/audit", params={"user": "guard", "gate": "main-out"}, headers=admin_headers
    ).json()
    assert [r["reason"] for r in filtered["items"]] == ["业主来电"]
    naive = client.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00"},
                       headers=admin_headers)
    assert naive.status_code == 422
    future = client.get("/api/v1/audit", params={"since": "2099-01-01T00:00:00+08:00"},
                        headers=admin_headers)
    assert future.json()["total"] == 0

    export = client.get("/api/v1/audit.csv", params={"action": "gate"}, headers=admin_headers)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert {r["reason"] for r in rows} == {"'=HYPERLINK(\"x\") 公式", "业主来电"}
    assert all(r["username"] == "guard" for r in rows)


def test_a_guard_command_waits_as_long_as_the_barrier_may_take_and_no_longer(
    client: Any, guard_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is the barrier's own budget (its retries) plus a margin, as for an open: a
    fixed limit either cut a slow relay's retries off or kept a guard waiting on a dead one."""
    import asyncio

    from controllers.runtime import BARRIER_WAIT_MARGIN_S

    barrier = client.app.state.services.barriers["main-out"]
    budget = 0.2
    monkeypatch.setattr(type(barrier), "command_budget_s", property(lambda _self: budget))
    real_close = barrier.close

    def close_taking(seconds: float) -> Any:
        async def close() -> Any:
            await asyncio.sleep(seconds)
            return await real_close()

        return close

    monkeypatch.setattr(barrier, "close", close_taking(budget))  # within its budget: done
    assert act(client, guard_headers, "main-out", "close", "夜间关闸").status_code == 200
    monkeypatch.setattr(barrier, "close", close_taking(budget + BARRIER_WAIT_MARGIN_S + 2))
    response = act(client, guard_headers, "main-out", "close", "夜间关闸")
    assert response.status_code == 503, response.text
    assert "not confirmed in time" in response.json()["detail"]


def test_the_answer_says_whether_a_hold_was_set_or_lifted(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    """The state alone cannot say it (a gate opening for a car and one held while its arm
    rises both answer "opening"; a fire alarm's hold looks like a guard's), so the booth page
    would tell the guard "nothing to release" after releasing a hold, or the reverse."""
    def hold_changed(action: str, gate: str = "main-in") -> Any:
        response = act(client, guard_headers, gate, action, "测试常开")
        assert response.status_code == 200, response.text
        return response.json()["hold_changed"]

    assert hold_changed("release") is False  # closed: nothing held
    assert hold_changed("hold_open") is True  # set while the arm is still rising
    assert hold_changed("hold_open") is False  # held already
    assert hold_changed("release") is True
    assert hold_changed("open") is None  # not a hold action

    # During a fire alarm every gate is up, and a guard's hold is still set: it outlasts the
    # alarm, so the answer must not say "nothing done".
    fire = client.post("/api/v1/safety/fire-alarm", json={"reason": "消防演练"},
                       headers=guard_headers)
    assert fire.status_code == 200, fire.text
    assert hold_changed("hold_open", "main-out") is True
    cleared = client.post("/api/v1/safety/fire-alarm/clear", json={"reason": "演练结束"},
                          headers=admin_headers)
    assert cleared.status_code == 200, cleared.text
    barriers = client.app.state.services.barriers
    assert str(barriers["main-out"].state) in ("held_open", "opening")
    assert barriers["main-out"].machine.held and not barriers["main-in"].machine.held
