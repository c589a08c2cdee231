"""PIN and QR at the pedestrian gate: the ways in that need no face (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

CAMERA = {"X-API-Key": "test-camera-key"}


def resident_with_pin(client: Any, headers: dict[str, str], pin: str = "482913") -> int:
    hid = client.post(
        "/api/v1/households", json={"building": "2栋", "unit": "303"}, headers=headers
    ).json()["id"]
    rid = client.post(
        "/api/v1/residents", json={"household_id": hid, "name": "张爷爷"}, headers=headers
    ).json()["id"]
    response = client.put(f"/api/v1/residents/{rid}/pin", json={"pin": pin}, headers=headers)
    assert response.status_code == 204, response.text
    return int(rid)


def present(client: Any, body: dict[str, Any], gate: str = "ped-1") -> Any:
    return client.post(f"/api/v1/gates/{gate}/credentials", json=body, headers=CAMERA)


def test_right_pin_opens_the_pedestrian_gate(client: Any, admin_headers: dict[str, str]) -> None:
    rid = resident_with_pin(client, admin_headers)
    body = present(client, {"kind": "pin", "resident_id": rid, "pin": "482913"}).json()
    assert (body["decision"], body["reason"]) == ("allow", "pin")
    assert body["barrier"] in ("opening", "open")
    passage = client.get(f"/api/v1/passages/{body['passage_id']}", headers=admin_headers).json()
    assert passage["credential"] == "pin" and passage["resident_id"] == rid


def test_repeated_wrong_pins_lock_out_with_an_alarm(
    client: Any, admin_headers: dict[str, str]
) -> None:
    rid = resident_with_pin(client, admin_headers)
    reasons = [
        present(client, {"kind": "pin", "resident_id": rid, "pin": "000001"}).json()["reason"]
        for _ in range(5)
    ]
    assert reasons == ["pin_wrong"] * 5
    # Now even the right PIN is refused for a while: guessing must not pay off.
    locked = present(client, {"kind": "pin", "resident_id": rid, "pin": "482913"}).json()
    assert (locked["decision"], locked["reason"]) == ("deny", "pin_locked")


def test_weak_pins_are_refused(client: Any, admin_headers: dict[str, str]) -> None:
    rid = resident_with_pin(client, admin_headers)
    for pin in ("1111", "1234", "12ab", "１２３４", "٣٨٢٩", "²³⁴⁹"):
        response = client.put(
            f"/api/v1/residents/{rid}/pin", json={"pin": pin}, headers=admin_headers
        )
        assert response.status_code == 422, pin


def test_visitor_qr_admits_within_its_window_and_forgeries_fail(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = client.post(
        "/api/v1/households", json={"building": "9栋", "unit": "101"}, headers=admin_headers
    ).json()["id"]
    now = datetime.now(UTC)
    pass_id = client.post(
        "/api/v1/passes",
        json={"plate": "粤B88888", "host_household_id": hid, "max_uses": 2,
              "valid_from": (now - timedelta(minutes=1)).isoformat(),
              "valid_to": (now + timedelta(hours=1)).isoformat()},
        headers=admin_headers,
    ).json()["id"]
    code = client.get(f"/api/v1/passes/{pass_id}/qr", headers=admin_headers).json()["code"]
    ok = present(client, {"kind": "qr", "code": code}).json()
    assert (ok["decision"], ok["reason"]) == ("allow", "qr_pass")
    assert client.get(f"/api/v1/passes/{pass_id}", headers=admin_headers).json()["uses"] == 1
    forged = present(client, {"kind": "qr", "code": code[:-1] + ("0" if code[-1] != "0" else "1")})
    assert (forged.json()["decision"], forged.json()["reason"]) == ("deny", "qr_invalid")


def test_credentials_only_at_pedestrian_gates_and_bad_bodies_are_422(
    client: Any, admin_headers: dict[str, str]
) -> None:
    rid = resident_with_pin(client, admin_headers)
    wrong_gate = present(client, {"kind": "pin", "resident_id": rid, "pin": "482913"}, "main-in")
    assert wrong_gate.status_code == 422 and "not a pedestrian gate" in wrong_gate.text
    assert present(client, {"kind": "card", "code": "x"}).status_code == 422
    # An unknown resident is answered like a wrong PIN: the gate does not say who has one.
    unknown = present(client, {"kind": "pin", "resident_id": 999, "pin": "1"})
    assert unknown.status_code == 200 and unknown.json()["reason"] == "pin_wrong"
