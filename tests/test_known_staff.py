"""The staff accounts a login is checked against during a database outage, on disk and in
memory (services/known_staff.py), with plain values."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.known_staff import KnownAccount, LastSeenActive, StaffFile, open_known_staff

GUARD = KnownAccount("guard1", "guard", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
ADMIN = KnownAccount("Admin", "admin", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdDI$aGFzaDI")


def test_a_restarted_controller_knows_the_accounts_saved_by_the_last_one(tmp_path: Path) -> None:
    first = open_known_staff(tmp_path, on_disk=True)
    first.replace_all([GUARD, ADMIN], first.refresh_mark())

    again = open_known_staff(tmp_path, on_disk=True)

    assert again.get("guard1") == GUARD
    assert again.get("ADMIN") == ADMIN  # matched as a login matches names
    assert "nobody" not in again and len(again) == 2
    saved = tmp_path / "staff_accounts.json"
    assert saved.stat().st_mode & 0o777 == 0o600


def test_a_forgotten_account_is_gone_from_disk_before_forget_returns(tmp_path: Path) -> None:
    staff = open_known_staff(tmp_path, on_disk=True)
    staff.replace_all([GUARD, ADMIN], staff.refresh_mark())

    staff.forget("GUARD1")

    assert "guard1" not in open_known_staff(tmp_path, on_disk=True)
    assert "guard1" not in (tmp_path / "staff_accounts.json").read_text()


def test_a_list_read_before_a_deactivation_does_not_bring_the_account_back() -> None:
    staff = LastSeenActive()
    staff.replace_all([GUARD, ADMIN], staff.refresh_mark())
    mark = staff.refresh_mark()  # the refresh starts reading: guard1 is still active there
    staff.forget("guard1")  # meanwhile a request finds guard1 deactivated

    staff.replace_all([GUARD, ADMIN], mark)  # the refresh's (older) answer arrives

    assert "guard1" not in staff and "Admin" in staff
    staff.replace_all([GUARD, ADMIN], staff.refresh_mark())  # a later list decides again
    assert "guard1" in staff


def test_a_password_learnt_during_a_refresh_is_not_replaced_by_the_older_hash() -> None:
    staff = LastSeenActive()
    mark = staff.refresh_mark()
    changed = KnownAccount("guard1", "guard", "$argon2id$new")
    staff.remember(changed)  # a login read the new hash while the list was being read

    staff.replace_all([GUARD], mark)

    assert staff.get("guard1") == changed


def test_a_refresh_drops_accounts_no_longer_active_and_keeps_new_ones() -> None:
    staff = LastSeenActive()
    staff.replace_all([GUARD], staff.refresh_mark())
    staff.replace_all([ADMIN], staff.refresh_mark())
    assert "guard1" not in staff and staff.get("admin") == ADMIN


def test_turning_the_file_off_removes_the_hashes_from_disk(tmp_path: Path) -> None:
    on = open_known_staff(tmp_path, on_disk=True)
    on.replace_all([GUARD], on.refresh_mark())

    off = open_known_staff(tmp_path, on_disk=False)
    off.replace_all([GUARD, ADMIN], off.refresh_mark())

    assert not (tmp_path / "staff_accounts.json").exists()
    assert off.get("admin") == ADMIN  # still known in memory while this process runs


@pytest.mark.parametrize("content", [
    "{not json", json.dumps({"format": "something/9", "accounts": []}),
    json.dumps({"format": "parkgate.staff_accounts/1"}),
])
def test_an_unreadable_file_means_nobody_is_known_and_says_so(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "staff_accounts.json").write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        staff = open_known_staff(tmp_path, on_disk=True)
    assert len(staff) == 0
    assert "staff accounts file" in caplog.text and "not used" in caplog.text


def test_the_file_keeps_no_password_and_the_repr_no_hash(tmp_path: Path) -> None:
    StaffFile(tmp_path / "staff.json", max_age_s=86400).save([GUARD])
    data = json.loads((tmp_path / "staff.json").read_text())
    assert data["accounts"] == [
        {"username": "guard1", "role": "guard", "password_hash": GUARD.password_hash,
         "sessions_generation": 0}
    ]
    assert GUARD.password_hash not in repr(GUARD)


def test_a_request_that_read_the_row_before_a_deactivation_does_not_bring_it_back() -> None:
    """The guard's own page reads the row (still active), the office deactivates the guard
    and the console forgets them, then the page's read arrives: it is older than the forget."""
    staff = LastSeenActive()
    staff.remember(GUARD)
    mark = staff.refresh_mark()  # the page's request starts its read
    staff.forget("guard1")  # the admin's deactivation
    staff.remember(GUARD, mark)  # the page's (older) answer
    assert "guard1" not in staff
    staff.remember(GUARD, staff.refresh_mark())  # a read begun after it decides again
    assert "guard1" in staff


def test_a_file_older_than_the_limit_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A data directory restored from last month's backup, or a controller switched off for
    weeks: guards dismissed since would log in on it during an outage."""
    staff = open_known_staff(tmp_path, on_disk=True)
    staff.replace_all([GUARD], staff.refresh_mark())
    path = tmp_path / "staff_accounts.json"
    data = json.loads(path.read_text())
    data["saved_at"] = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        restored = open_known_staff(tmp_path, on_disk=True, max_age_days=7)
    assert len(restored) == 0
    assert "8.0 days old" in caplog.text
    assert len(open_known_staff(tmp_path, on_disk=True, max_age_days=9)) == 1


def test_an_unchanged_list_is_written_again_hourly_so_its_age_stays_true(tmp_path: Path) -> None:
    now = [0.0]
    store = StaffFile(tmp_path / "staff.json", max_age_s=86400, clock=lambda: now[0])
    staff = LastSeenActive(store)
    staff.replace_all([GUARD], staff.refresh_mark())
    first = json.loads((tmp_path / "staff.json").read_text())["saved_at"]
    (tmp_path / "staff.json").unlink()
    now[0] = 600.0
    staff.replace_all([GUARD], staff.refresh_mark())
    assert not (tmp_path / "staff.json").exists()  # same content, written 10 min ago
    now[0] = 3601.0
    staff.replace_all([GUARD], staff.refresh_mark())
    assert json.loads((tmp_path / "staff.json").read_text())["saved_at"] >= first


def test_a_read_begun_before_a_refresh_that_dropped_the_account_does_not_bring_it_back() -> None:
    """Deactivated by SQL or another controller: the refresh drops the guard, and a page's
    read that began before that refresh (still saying "active") arrives after it."""
    staff = LastSeenActive()
    staff.replace_all([GUARD, ADMIN], staff.refresh_mark())
    page_read = staff.refresh_mark()
    refresh = staff.refresh_mark()
    staff.replace_all([ADMIN], refresh)  # the database no longer lists the guard
    staff.remember(GUARD, page_read)
    assert "guard1" not in staff
    staff.remember(GUARD, staff.refresh_mark())  # a read begun since decides again
    assert "guard1" in staff


def test_names_that_are_no_account_do_not_pile_up() -> None:
    staff = LastSeenActive()
    for n in range(1000):
        staff.forget(f"guess{n}")  # failed logins at made-up names
    staff.replace_all([GUARD], staff.refresh_mark())
    assert staff._changed_at == {}


def test_the_file_keeps_each_accounts_sessions_generation(tmp_path: Path) -> None:
    """A restart during an outage checks tokens against the generation on disk: one issued
    before the account was deactivated (and reactivated since) carries an older one."""
    reactivated = KnownAccount("guard1", "guard", GUARD.password_hash, 2)
    first = open_known_staff(tmp_path, on_disk=True)
    first.replace_all([reactivated, ADMIN], first.refresh_mark())

    known = open_known_staff(tmp_path, on_disk=True).get("guard1")

    assert known == reactivated and known is not None
    assert known.stamp != GUARD.stamp  # the stamp tokens from before the deactivation carry


def test_a_file_from_before_sessions_generations_reads_as_generation_0(tmp_path: Path) -> None:
    """Written by the previous version: every account's generation was 0 then, and the
    stamps its guards' tokens carry are the same as before the upgrade."""
    path = tmp_path / "staff_accounts.json"
    path.write_text(json.dumps({
        "format": "parkgate.staff_accounts/1",
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "accounts": [{"username": "guard1", "role": "guard",
                      "password_hash": GUARD.password_hash}],
    }), encoding="utf-8")

    assert open_known_staff(tmp_path, on_disk=True).get("guard1") == GUARD
