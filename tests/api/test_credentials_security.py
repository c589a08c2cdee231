"""PIN and QR at the pedestrian gate must not leak or revive anything.

- A QR code is bound to the one pass it was issued for: on SQLite a deleted pass's id is
  given to the next pass, and a code that signed only the id opened the gate again.
- A resident without a PIN (or no such resident) is answered exactly like a wrong PIN, or the
  keypad tells anyone with a camera key which residents have PINs.
- Any malformed code, non-ASCII included, is ``qr_invalid``, never a 500.

Online through the HTTP API on a real database, and offline from the snapshot the gates use
while the database is down (the two checks must agree).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from models.db import transaction
from models.events import Passage
from models.vehicles import VisitorPass
from tests.api.test_credentials import present, resident_with_pin
from tests.conftest import add_user
from tests.db_outage import DatabaseOutage

FAST = {"access": {"offline_refresh_s": 0.2, "offline_retry_s": 0.2}}
NO_SUCH_RESIDENT = 987_654


def household(client: Any, admin: dict[str, str], unit: str = "101") -> int:
    response = client.post(
        "/api/v1/households", json={"building": "9栋", "unit": unit}, headers=admin
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def new_pass(client: Any, admin: dict[str, str], plate: str, host: int) -> int:
    now = datetime.now(UTC)
    response = client.post("/api/v1/passes", headers=admin, json={
        "plate": plate, "host_household_id": host,
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_to": (now + timedelta(hours=1)).isoformat()})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def qr_of(client: Any, admin: dict[str, str], pass_id: int) -> str:
    response = client.get(f"/api/v1/passes/{pass_id}/qr", headers=admin)
    assert response.status_code == 200, response.text
    return str(response.json()["code"])


def pin_passages(client: Any, resident_id: int) -> int:
    """PIN passages recorded for ``resident_id`` (what the lock-out counts)."""
    with transaction(client.app.state.services.sessions) as session:
        return int(session.scalar(
            select(func.count()).select_from(Passage)
            .where(Passage.resident_id == resident_id, Passage.credential == "pin")
        ) or 0)


def shape(body: dict[str, Any]) -> tuple[Any, ...]:
    """Everything in a response except the ids that differ between any two passages."""
    return tuple(sorted((k, v) for k, v in body.items() if k != "passage_id"))


@pytest.fixture
def admin(client: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}




def reuse_id(client: Any, new_id: int, deleted_id: int) -> int:
    """Give the new pass the deleted pass's id, as SQLite did by itself before migration 0016
    when the deleted row had the highest id (history from then keeps such ids); done by hand."""
    if new_id != deleted_id:
        with transaction(client.app.state.services.sessions) as session:
            session.execute(
                update(VisitorPass).where(VisitorPass.id == new_id).values(id=deleted_id)
            )
    return deleted_id


# --- QR: a cancelled code stays cancelled ----------------------------------------------


def test_a_deleted_pass_qr_does_not_open_for_the_pass_that_reuses_its_id(
    client: Any, admin: dict[str, str]
) -> None:
    new_pass(client, admin, "粤B11111", household(client, admin, "101"))
    cancelled = new_pass(client, admin, "粤B22222", household(client, admin, "102"))
    old_code = qr_of(client, admin, cancelled)
    assert present(client, {"kind": "qr", "code": old_code}).json()["reason"] == "qr_pass"
    assert client.delete(f"/api/v1/passes/{cancelled}", headers=admin).status_code == 204
    assert present(client, {"kind": "qr", "code": old_code}).json()["reason"] == "qr_invalid"

    newcomer = new_pass(client, admin, "粤B33333", household(client, admin, "103"))
    reissued = reuse_id(client, newcomer, cancelled)
    new_code = qr_of(client, admin, reissued)

    revived = present(client, {"kind": "qr", "code": old_code}).json()
    assert (revived["decision"], revived["reason"]) == ("deny", "qr_invalid")
    assert new_code != old_code
    fresh = present(client, {"kind": "qr", "code": new_code}).json()
    assert (fresh["decision"], fresh["reason"]) == ("allow", "qr_pass")


def test_codes_carry_a_new_version_and_id_only_codes_are_refused(
    client: Any, admin: dict[str, str]
) -> None:
    import hashlib
    import hmac

    pass_id = new_pass(client, admin, "粤B44444", household(client, admin))
    code = qr_of(client, admin, pass_id)
    assert code.startswith(f"PG2.{pass_id}.")
    # A code in the old format, correctly signed over the id alone, is no longer accepted.
    key = client.app.state.services.settings.signing_key()
    old_sig = hmac.new(key.encode(), f"pass:{pass_id}".encode(), hashlib.sha256).hexdigest()
    old = present(client, {"kind": "qr", "code": f"PG1.{pass_id}.{old_sig[:20]}"}).json()
    assert (old["decision"], old["reason"]) == ("deny", "qr_invalid")


class TestMalformedCodes:
    """Each code is answered on its own (a denied passage of its own, nothing else read or
    changed), so the codes share one app per database (tests/api/conftest.py
    ``shared_client``) instead of building one for each of them (0.5 s of CPU a request)."""

    @pytest.fixture
    def client(self, fresh_shared_client: Any) -> Any:
        return fresh_shared_client

    @pytest.mark.parametrize("code", [
        "PG1.30.é",
        "PG2.30.é",
        "PG1.²³.0123456789abcdef0123",
        "PG1." + "9" * 100 + ".0123456789abcdef0123",
        "PG2.1.ééééééééééééééééééé",
        "PG2.²³.0123456789abcdef0123",  # digits to str.isdigit, not to int()
        "PG2.３４.0123456789abcdef0123",  # full-width digits
        "PG2." + "9" * 100 + ".0123456789abcdef0123",  # larger than any database integer
        "PG2.0.0123456789abcdef0123",
        "PG2.-1.0123456789abcdef0123",
        "PG2.1.0123456789ABCDEF0123",
        "PG2.1",
        "PG2..",
        "二维码",
        "\x00",
    ])
    def test_malformed_codes_are_denied_as_invalid_never_a_500(
        self, client: Any, code: str
    ) -> None:
        response = present(client, {"kind": "qr", "code": code})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["decision"], body["reason"]) == ("deny", "qr_invalid")
        assert body["passage_id"] is not None


# --- PIN: no answer tells whether a resident has a PIN ----------------------------------


@pytest.mark.parametrize("who", ["no_pin", "no_resident"])
def test_a_resident_without_a_pin_is_answered_like_a_wrong_pin(
    client: Any, admin: dict[str, str], who: str
) -> None:
    with_pin = resident_with_pin(client, admin)
    if who == "no_pin":
        target = client.post("/api/v1/residents", headers=admin, json={
            "household_id": household(client, admin, "808"), "name": "李奶奶"}).json()["id"]
    else:
        target = NO_SUCH_RESIDENT

    wrong = present(client, {"kind": "pin", "resident_id": with_pin, "pin": "2349"})
    probe = present(client, {"kind": "pin", "resident_id": target, "pin": "2349"})

    assert probe.status_code == wrong.status_code == 200, probe.text
    assert shape(probe.json()) == shape(wrong.json())
    assert (probe.json()["decision"], probe.json()["reason"]) == ("deny", "pin_wrong")
    passage = client.get(f"/api/v1/passages/{probe.json()['passage_id']}", headers=admin)
    assert passage.json()["resident_id"] == target and passage.json()["credential"] == "pin"
    assert pin_passages(client, target) == 1


@pytest.mark.parametrize("who", ["no_pin", "no_resident"])
def test_guesses_at_a_resident_without_a_pin_lock_out_like_any_other(
    client: Any, admin: dict[str, str], who: str
) -> None:
    target = NO_SUCH_RESIDENT if who == "no_resident" else client.post(
        "/api/v1/residents", headers=admin,
        json={"household_id": household(client, admin), "name": "王叔叔"}).json()["id"]
    reasons = [
        present(client, {"kind": "pin", "resident_id": target, "pin": f"20{i}9"}).json()["reason"]
        for i in range(6)
    ]
    assert reasons == ["pin_wrong"] * 5 + ["pin_locked"]
    assert pin_passages(client, target) == 6
    if who == "no_pin":
        # The lock-out holds for the PIN set afterwards too, as for any other guessing.
        client.put(f"/api/v1/residents/{target}/pin", json={"pin": "482913"}, headers=admin)
        locked = present(client, {"kind": "pin", "resident_id": target, "pin": "482913"}).json()
        assert locked["reason"] == "pin_locked"


# --- offline: the snapshot's checks agree with the database's ---------------------------


def test_offline_checks_bind_codes_to_passes_and_hide_who_has_a_pin(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    with_pin = resident_with_pin(client, admin)
    new_pass(client, admin, "粤B11111", household(client, admin, "101"))
    cancelled = new_pass(client, admin, "粤B22222", household(client, admin, "102"))
    old_code = qr_of(client, admin, cancelled)
    assert client.delete(f"/api/v1/passes/{cancelled}", headers=admin).status_code == 204
    newcomer = new_pass(client, admin, "粤B33333", household(client, admin, "103"))
    reissued = reuse_id(client, newcomer, cancelled)
    new_code = qr_of(client, admin, reissued)
    client.portal.call(services.refresh_offline)

    outage.cut(services.engine)
    revived = present(client, {"kind": "qr", "code": old_code}).json()
    fresh = present(client, {"kind": "qr", "code": new_code}).json()
    garbled = present(client, {"kind": "qr", "code": "PG2.30.é"})
    wrong = present(client, {"kind": "pin", "resident_id": with_pin, "pin": "2349"}).json()
    probes = [present(client, {"kind": "pin", "resident_id": NO_SUCH_RESIDENT, "pin": "2349"})
              for _ in range(6)]

    assert (revived["decision"], revived["reason"]) == ("deny", "qr_invalid")
    assert (fresh["decision"], fresh["reason"]) == ("allow", "qr_pass")
    assert garbled.status_code == 200 and garbled.json()["reason"] == "qr_invalid"
    assert all(p.status_code == 200 for p in probes), probes[0].text
    assert shape({**probes[0].json(), "journal_id": None}) == shape(
        {**wrong, "journal_id": None}
    )
    assert [p.json()["reason"] for p in probes] == ["pin_wrong"] * 5 + ["pin_locked"]
    assert all(p.json()["journal_id"] for p in probes)  # journalled like any other passage


def test_offline_snapshot_refuses_a_code_whose_pass_changed_between_the_two_reads(
    client: Any, admin: dict[str, str]
) -> None:
    """The gates' snapshot (permits) and the credentials' read (nonces) are seconds apart: a
    pass recreated under the same id in between must not have its code decided on the old
    pass's permit, nor the old pass's code on the new nonce."""
    from dataclasses import replace

    from controllers.policy import PassPermit
    from models.access_store import pass_permit
    from models.vehicles import VisitorPass
    from services.offline_credentials import OfflineCredentials

    services = client.app.state.services
    pass_id = new_pass(client, admin, "粤B55555", household(client, admin))
    code = qr_of(client, admin, pass_id)
    with transaction(services.sessions) as session:
        visitor_pass = session.get(VisitorPass, pass_id)
        assert visitor_pass is not None
        current: PassPermit = pass_permit(visitor_pass)
    now = datetime.now(UTC)
    offline = OfflineCredentials(services.settings.signing_key())

    offline.load(services.sessions, [current], now)
    assert offline.check_qr(code, now).reason.value == "qr_pass"
    offline.load(services.sessions, [replace(current, plate="粤B99999")], now)
    assert offline.check_qr(code, now).reason.value == "qr_invalid"


def test_an_offline_qr_use_the_gate_did_not_let_through_is_given_back(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """During an outage a single-use visitor code opened once and was used up even when the
    gate never opened: the visitor was then refused at the next try as pass_used_up."""
    from hardware.simulated import SimFault

    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    code = qr_of(client, admin, new_pass(client, admin, "粤B44444", household(client, admin)))
    client.portal.call(services.refresh_offline)
    outage.cut(services.engine)

    services.barriers["ped-1"].inject_fault(SimFault.OFFLINE)
    stuck = present(client, {"kind": "qr", "code": code}).json()
    services.barriers["ped-1"].clear_faults()
    again = present(client, {"kind": "qr", "code": code}).json()
    once_more = present(client, {"kind": "qr", "code": code}).json()

    assert (stuck["decision"], stuck["barrier"]) == ("allow", "fault")
    assert (again["decision"], again["reason"]) == ("allow", "qr_pass")
    assert again["barrier"] in ("opening", "open")
    # The one use it had is spent now: the limit still holds offline.
    assert (once_more["decision"], once_more["reason"]) == ("deny", "pass_used_up")


def test_an_offline_qr_use_whose_passage_could_not_be_journalled_is_given_back(
    app_factory: Any, outage: DatabaseOutage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's disk refused the passage: the visitor got an error and the gate did not
    move, so the single-use code must still open for them once the disk takes it."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    code = qr_of(client, admin, new_pass(client, admin, "粤B45555", household(client, admin)))
    client.portal.call(services.refresh_offline)
    outage.cut(services.engine)

    journal = services.runtime._journal
    append = journal.append

    def disk_full(record: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "append", disk_full)
    with pytest.raises(OSError):
        present(client, {"kind": "qr", "code": code})
    monkeypatch.setattr(journal, "append", append)
    again = present(client, {"kind": "qr", "code": code}).json()
    assert (again["decision"], again["reason"]) == ("allow", "qr_pass")
