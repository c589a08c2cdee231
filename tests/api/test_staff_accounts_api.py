"""/api/v1/users: staff accounts for a property-management system, by the 用户 page's rules
(services/users.py). What an integrator relies on: a created account logs in, the page's
refusals come back as 4xx with a message, and deactivating, resetting a password or changing a
role ends the account's existing tokens at once, audited without the password."""

from __future__ import annotations

from typing import Any

from models.events import AuditEntry
from models.people import User
from services.passwords import WEAK_PASSWORD
from tests.conftest import add_user

USERS = "/api/v1/users"
PASSWORD = "Gate-Wf-0519"
NEW_PASSWORD = "Booth-Kx-7731"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: Any, username: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def _id(client: Any, username: str) -> int:
    with client.app.state.services.sessions() as session:
        found = session.query(User.id).filter(User.username == username).scalar()
    assert found is not None
    return int(found)


def _audit(client: Any, action: str) -> list[AuditEntry]:
    with client.app.state.services.sessions() as session:
        return list(session.query(AuditEntry).filter(AuditEntry.action == action)
                    .order_by(AuditEntry.id))


def _no_password_in(entries: list[AuditEntry], *passwords: str) -> None:
    for entry in entries:
        text = f"{entry.details} {entry.target} {entry.reason}"
        assert not any(p in text for p in passwords), text
        assert "argon2" not in text


def test_a_created_account_logs_in_and_is_listed_without_its_password(
    client: Any, admin_headers: dict[str, str]
) -> None:
    created = client.post(USERS, json={"username": " guard7 ", "role": "guard",
                                       "password": PASSWORD}, headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["username"] == "guard7" and body["role"] == "guard" and body["active"]
    assert body["last_login"] is None and body["created_at"]

    token = _login(client, "guard7", PASSWORD)
    assert token.status_code == 200 and token.json()["role"] == "guard"

    listed = client.get(USERS, headers=admin_headers)
    assert listed.status_code == 200
    rows = {row["username"]: row for row in listed.json()}
    assert set(rows) == {"admin", "guard7"}
    assert rows["guard7"]["last_login"] is not None  # the login just made
    assert set(rows["guard7"]) == {"id", "username", "role", "active", "created_at",
                                   "last_login"}
    assert "argon2" not in listed.text and PASSWORD not in listed.text

    entries = _audit(client, "user.create")
    assert [(e.username, e.target, e.details) for e in entries] == [
        ("admin", f"user:{body['id']}", {"role": "guard", "username": "guard7"})
    ]
    _no_password_in(entries, PASSWORD)


def test_the_pages_refusals_come_back_as_4xx_with_a_message(
    client: Any, admin_headers: dict[str, str]
) -> None:
    def create(username: str, password: str = PASSWORD, role: str = "guard") -> Any:
        return client.post(USERS, json={"username": username, "role": role,
                                        "password": password}, headers=admin_headers)

    weak = create("guard8", "password123")
    assert weak.status_code == 422 and weak.json()["detail"] == WEAK_PASSWORD
    short = create("guard8", "Ab-1")
    assert short.status_code == 422 and "at least 8 characters" in short.json()["detail"]
    spaced = create("guard 8")
    assert spaced.status_code == 422 and "spaces" in spaced.json()["detail"]
    assert create("guard8", role="owner").status_code == 422
    assert client.post(USERS, json={"username": "guard8", "role": "guard"},
                       headers=admin_headers).status_code == 422

    assert create("Guard8").status_code == 201
    for same in ("guard8", "GUARD8", "ｇｕａｒｄ８"):  # case and full width folded
        taken = create(same)
        assert taken.status_code == 409, same
        assert taken.json()["detail"] == "user 'Guard8' already exists"
    assert len(_audit(client, "user.create")) == 1

    missing = 999_999
    assert client.patch(f"{USERS}/{missing}", json={"active": False},
                        headers=admin_headers).status_code == 404
    assert client.post(f"{USERS}/{missing}/password", json={"password": NEW_PASSWORD},
                       headers=admin_headers).status_code == 404
    assert client.patch(f"{USERS}/1", json={"active": None},
                        headers=admin_headers).status_code == 422


def test_guards_get_403_and_strangers_401(client: Any, guard_headers: dict[str, str]) -> None:
    guard = _id(client, "guard")
    calls = [("GET", USERS, None), ("POST", USERS, {"username": "g9", "role": "admin",
                                                   "password": PASSWORD}),
             ("PATCH", f"{USERS}/{guard}", {"role": "admin"}),
             ("POST", f"{USERS}/{guard}/password", {"password": NEW_PASSWORD})]
    for method, url, body in calls:
        assert client.request(method, url, json=body, headers=guard_headers).status_code == 403
        assert client.request(method, url, json=body).status_code == 401
    with client.app.state.services.sessions() as session:
        assert session.query(User).filter(User.role == "admin").count() == 0


def test_deactivating_ends_the_accounts_tokens_at_once_but_not_ones_own(
    client: Any, admin_headers: dict[str, str]
) -> None:
    guard_token = add_user(client, "guard1", "guard")
    assert client.get("/api/v1/households", headers=_bearer(guard_token)).status_code == 200
    guard, admin = _id(client, "guard1"), _id(client, "admin")

    off = client.patch(f"{USERS}/{guard}", json={"active": False}, headers=admin_headers)
    assert off.status_code == 200 and off.json()["active"] is False
    assert client.get("/api/v1/households", headers=_bearer(guard_token)).status_code == 401
    assert _login(client, "guard1", "correct-horse").status_code == 401
    # Nor during a database outage: the memory such logins are checked against forgot it.
    assert client.app.state.services.staff.get("guard1") is None

    # The only admin, acting: neither deactivating nor demoting themselves is let through,
    # so an active admin is always left.
    own = client.patch(f"{USERS}/{admin}", json={"active": False}, headers=admin_headers)
    assert own.status_code == 409 and "your own account" in own.json()["detail"]
    demote = client.patch(f"{USERS}/{admin}", json={"role": "guard"}, headers=admin_headers)
    assert demote.status_code == 409 and "your own role" in demote.json()["detail"]
    both = client.patch(f"{USERS}/{admin}", json={"active": True, "role": "guard"},
                        headers=admin_headers)
    assert both.status_code == 409  # refused whole: nothing of it is kept
    assert client.get(USERS, headers=admin_headers).status_code == 200

    on = client.patch(f"{USERS}/{guard}", json={"active": True}, headers=admin_headers)
    assert on.status_code == 200 and on.json()["active"] is True
    assert _login(client, "guard1", "correct-horse").status_code == 200
    assert [(e.action, e.details) for e in _audit(client, "user.deactivate")
            + _audit(client, "user.activate")] == [
        ("user.deactivate", {"username": "guard1"}), ("user.activate", {"username": "guard1"}),
    ]


def test_a_reset_ends_the_old_token_and_the_new_password_works(
    client: Any, admin_headers: dict[str, str]
) -> None:
    old_token = add_user(client, "guard1", "guard")
    guard, admin = _id(client, "guard1"), _id(client, "admin")

    weak = client.post(f"{USERS}/{guard}/password", json={"password": "guard1-2026"},
                       headers=admin_headers)
    assert weak.status_code == 422 and weak.json()["detail"] == WEAK_PASSWORD
    reset = client.post(f"{USERS}/{guard}/password", json={"password": NEW_PASSWORD},
                        headers=admin_headers)
    assert reset.status_code == 204, reset.text
    refused = client.get("/api/v1/households", headers=_bearer(old_token))
    assert refused.status_code == 401 and "password was reset" in refused.text
    assert _login(client, "guard1", "correct-horse").status_code == 401
    assert _login(client, "guard1", NEW_PASSWORD).status_code == 200

    own = client.post(f"{USERS}/{admin}/password", json={"password": NEW_PASSWORD},
                      headers=admin_headers)
    assert own.status_code == 409 and "/console/password" in own.json()["detail"]
    assert client.get(USERS, headers=admin_headers).status_code == 200  # own token kept

    entries = _audit(client, "user.password_reset")
    assert [(e.username, e.target, e.details) for e in entries] == [
        ("admin", f"user:{guard}", {"username": "guard1"})
    ]
    _no_password_in(entries, NEW_PASSWORD, "guard1-2026")


def test_a_deactivated_accounts_new_password_does_not_open_the_booth_in_an_outage(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """The memory of active staff (logins while the database is down) is told of a reset
    only for an active account: it used to learn the new hash of a deactivated one too."""
    add_user(client, "guard1", "guard")
    guard = _id(client, "guard1")
    client.patch(f"{USERS}/{guard}", json={"active": False}, headers=admin_headers)
    reset = client.post(f"{USERS}/{guard}/password", json={"password": NEW_PASSWORD},
                        headers=admin_headers)
    assert reset.status_code == 204
    assert client.app.state.services.staff.get("guard1") is None


def test_a_role_change_ends_the_tokens_that_carry_the_old_role(
    client: Any, admin_headers: dict[str, str]
) -> None:
    other_admin = add_user(client, "admin2", "admin")
    assert client.get(USERS, headers=_bearer(other_admin)).status_code == 200
    admin2 = _id(client, "admin2")

    same = client.patch(f"{USERS}/{admin2}", json={"role": "admin"}, headers=admin_headers)
    assert same.status_code == 200 and same.json()["role"] == "admin"
    assert client.get(USERS, headers=_bearer(other_admin)).status_code == 200
    demoted = client.patch(f"{USERS}/{admin2}", json={"role": "guard"}, headers=admin_headers)
    assert demoted.status_code == 200 and demoted.json()["role"] == "guard"
    # Its token still says admin: refused, not let into the office's routes until it expires.
    assert client.get(USERS, headers=_bearer(other_admin)).status_code == 401
    assert client.app.state.services.staff.get("admin2").role == "guard"

    again = _login(client, "admin2", "correct-horse")
    assert again.status_code == 200 and again.json()["role"] == "guard"
    as_guard = _bearer(again.json()["access_token"])
    assert client.get(USERS, headers=as_guard).status_code == 403
    assert client.get("/api/v1/households", headers=as_guard).status_code == 200

    assert [(e.username, e.details) for e in _audit(client, "user.role_change")] == [
        ("admin", {"username": "admin2", "role": "guard", "previous_role": "admin"})
    ]


def test_promoting_a_demoted_admin_back_does_not_revive_the_old_admin_token(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """A role change ends the tokens for good, as a reset does: the token from before the
    demotion says admin again once the account is admin again, and must stay refused."""
    before = _bearer(add_user(client, "admin2", "admin"))
    admin2 = _id(client, "admin2")
    for role in ("guard", "admin"):
        changed = client.patch(f"{USERS}/{admin2}", json={"role": role}, headers=admin_headers)
        assert changed.status_code == 200, changed.text
    assert client.get(USERS, headers=before).status_code == 401
    # Nor during a database outage: the memory of active staff has the new generation.
    known = client.app.state.services.staff.get("admin2")
    assert known is not None and known.role == "admin" and known.sessions_generation == 2
    again = _login(client, "admin2", "correct-horse")
    assert again.status_code == 200
    assert client.get(USERS, headers=_bearer(again.json()["access_token"])).status_code == 200
