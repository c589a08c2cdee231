"""A 常开 or 取消常开 that changes nothing says so in the audit log (guard guide 2.2: the
result of every manual action is logged). Its outcome alone, "open", read like the release
the guard asked for."""

from __future__ import annotations

from typing import Any

from tests.api.test_console import add_staff, cookie_login


def gate_audit(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    items = client.get("/api/v1/audit", params={"action": "gate"}, headers=headers).json()
    return list(reversed(items["items"]))  # oldest first


def test_a_hold_or_release_that_changed_nothing_is_logged_as_such(client: Any) -> None:
    services = client.app.state.services
    guard = add_staff(services, "guard", "guard")
    admin = add_staff(services, "admin", "admin")
    for action in ("release", "hold_open", "hold_open", "release"):
        answer = client.post("/api/v1/gates/main-in/actions",
                             json={"action": action, "reason": "高峰时段疏导"}, headers=guard)
        assert answer.status_code == 200, answer.text

    logged = [(row["action"], row["details"].get("hold_unchanged", False))
              for row in gate_audit(client, admin)]
    assert logged == [("gate.release", True), ("gate.hold_open", False),
                      ("gate.hold_open", True), ("gate.release", False)]
    cookie_login(client, "admin", "admin")
    assert client.get("/console/admin/audit").text.count("常开状态未变（无需操作）") == 2
