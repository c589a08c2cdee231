"""Migration 0016 makes SQLite's households, residents, vehicles and visitor passes never hand
out an id twice, keeping every row, id, link and constraint, and starting above the ids the
passages and the audit log still name (rows deleted before the upgrade)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from models.db import create_db_engine, migrate
from tests.models.migration_steps import upgrade_to

T0 = "'2026-01-01 00:00:00'"
ROWS = (
    f"INSERT INTO households (id, building, unit, spaces, note, created_at) VALUES"
    f" (1, '3栋', '1201', 1, '', {T0}), (2, '5栋', '302', 2, '', {T0})",
    f"INSERT INTO residents (id, household_id, name, created_at) VALUES (3, 2, '李娜', {T0})",
    "INSERT INTO vehicles (id, plate, plate_color, household_id, resident_id, created_at)"
    f" VALUES (4, '闽AD12345', 'green', 2, 3, {T0})",
    "INSERT INTO visitor_passes (id, plate, host_household_id, valid_from, valid_to, uses,"
    f" note, created_by, created_at, qr_nonce) VALUES (2, '粤B88888', 2, {T0},"
    f" '2026-01-02 00:00:00', 1, '', 'guard1', {T0}, '{'a' * 32}')",
    "INSERT INTO presence (plate, zone_id, household_id, pass_id, entered_at) VALUES"
    f" ('粤B88888', 'A', 2, 2, {T0})",
    # Rows deleted before the upgrade, named only here: household 6 and resident 7 by a
    # passage, car 9 and pass 5 by the audit log.
    "INSERT INTO passages (at, gate_id, direction, decision, reason, credential, flags,"
    " household_id, resident_id, vehicle_id, pass_id, confidence, plate_color, match_distance,"
    f" barrier_outcome, details) VALUES ({T0}, 'main-in', 'in', 'allow', 'resident', 'plate',"
    " '[]', 6, 7, 4, NULL, 1.0, 'blue', 0, 'open', '{}')",
    "INSERT INTO audit_log (at, username, action, target, reason, details) VALUES"
    f" ({T0}, 'admin', 'vehicle.delete', 'vehicle:9', '', '{{}}'),"
    f" ({T0}, 'admin', 'pass.delete', 'pass:5', '', '{{}}'),"
    f" ({T0}, 'admin', 'household.update', 'household:2', '', '{{}}')",
)


def test_rows_links_and_constraints_stay_and_no_named_id_is_handed_out(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'parkgate.db'}")
    try:
        upgrade_to(engine, "0015")
        with engine.begin() as connection:
            for statement in ROWS:
                connection.execute(text(statement))

        migrate(engine)

        with engine.begin() as connection:
            def ids(table: str) -> list[int]:
                query = text(f"SELECT id FROM {table} ORDER BY id")
                return list(connection.execute(query).scalars())

            assert [ids(t) for t in ("households", "residents", "vehicles", "visitor_passes")] == [
                [1, 2], [3], [4], [2]]
            # The rebuild deleted nothing through the links (foreign keys off).
            assert connection.execute(text("SELECT household_id, pass_id FROM presence")).one() \
                == (2, 2)
            assert connection.execute(text("SELECT resident_id FROM vehicles")).scalar_one() == 3
            nonce = connection.execute(text("SELECT qr_nonce FROM visitor_passes")).scalar_one()
            assert nonce == "a" * 32

            def insert(statement: str) -> int:
                return int(connection.execute(text(statement + " RETURNING id")).scalar_one())

            flat = insert(f"INSERT INTO households (building, unit, spaces, note, created_at)"
                          f" VALUES ('8栋', '601', 1, '', {T0})")
            person = insert(f"INSERT INTO residents (household_id, name, created_at)"
                            f" VALUES ({flat}, '王芳', {T0})")
            car = insert("INSERT INTO vehicles (plate, plate_color, household_id, created_at)"
                         f" VALUES ('粤B12345', 'blue', {flat}, {T0})")
            guest = insert("INSERT INTO visitor_passes (plate, host_household_id, valid_from,"
                           f" valid_to, uses, note, created_by, created_at, qr_nonce) VALUES"
                           f" ('粤B99999', {flat}, {T0}, '2026-01-02 00:00:00', 0, '', 'admin',"
                           f" {T0}, '{'b' * 32}')")
            assert (flat, person, car, guest) == (7, 8, 10, 6)
            # The newest row deleted: its id is not the next one's.
            connection.execute(text(f"DELETE FROM visitor_passes WHERE id = {guest}"))
            again = insert("INSERT INTO visitor_passes (plate, host_household_id, valid_from,"
                           f" valid_to, uses, note, created_by, created_at, qr_nonce) VALUES"
                           f" ('粤B99999', {flat}, {T0}, '2026-01-02 00:00:00', 0, '', 'admin',"
                           f" {T0}, '{'c' * 32}')")
            assert again == guest + 1
        for statement, constraint in (
            (f"INSERT INTO households (building, unit, spaces, note, created_at)"
             f" VALUES ('3栋', '1201', 1, '', {T0})", "UNIQUE"),
            (f"INSERT INTO households (building, unit, spaces, note, created_at)"
             f" VALUES ('9栋', '101', -1, '', {T0})", "CHECK"),
            (f"INSERT INTO residents (household_id, name, created_at) VALUES (99, 'x', {T0})",
             "FOREIGN KEY"),
        ):
            with pytest.raises(IntegrityError, match=constraint), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()
