"""A passage decided during a database outage, written back after the office corrected the car.

During an outage the gates decide from the snapshot and journal each passage under the plate
(and household) the snapshot knew; the journal is written back once the database answers.
An office correction made in between (the plate of a car or a pass retyped, the car moved to
another flat or deleted) found the car where the database had it, before the passage: the
write-back then recorded an entry under the old plate (a phantom on the household's spaces
for good, the car leaving under the new plate as one not recorded inside), or an exit of a
car that had followed the correction to the new plate took nothing off (the car recorded
inside, counted, for good). The write-back records the passage as the records stand when it
is written: the state is what it would have been had the passage been written first and
then corrected, as online.

Through the real runtime and journal on a real database (SQLite and PostgreSQL); the office's
change is written as its route writes it (api/routes/admin.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from models.people import Household
from models.vehicles import Presence, Vehicle, VisitorPass
from services.presence_corrections import household_changed, plate_corrected
from tests.test_zone_exit_counting import at, counts, runtime_for, site

TYPO = "闽A1234S"  # as the office typed it, and as the camera read the dirty plate
REAL = "闽A12345"


def inside(sessions: sessionmaker[Session]) -> dict[str, tuple[int | None, int | None]]:
    with sessions() as session:
        return {p.plate: (p.household_id, p.pass_id) for p in session.scalars(select(Presence))}


def correct_car(sessions: sessionmaker[Session], old: str, new: str) -> None:
    """PATCH /vehicles/{id} {"plate": new}, as the route writes it."""
    with transaction(sessions) as session:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.plate == old)).one()
        vehicle.plate = new
        session.flush()
        plate_corrected(session, old, new, household_id=vehicle.household_id)
        household_changed(session, new, None, vehicle.household_id)


def correct_pass(sessions: sessionmaker[Session], old: str, new: str) -> None:
    """PATCH /passes/{id} {"plate": new}, as the route writes it."""
    with transaction(sessions) as session:
        visitor_pass = session.scalars(select(VisitorPass).where(VisitorPass.plate == old)).one()
        visitor_pass.plate = new
        session.flush()
        plate_corrected(session, old, new, pass_id=visitor_pass.id)


def move_car(sessions: sessionmaker[Session], plate: str) -> int:
    """PATCH /vehicles/{id} {"household_id": …}: the car moved to flat 0808; its id."""
    with transaction(sessions) as session:
        flat = Household(building="5", unit="0808", spaces=1)
        session.add(flat)
        session.flush()
        vehicle = session.scalars(select(Vehicle).where(Vehicle.plate == plate)).one()
        was, vehicle.household_id = vehicle.household_id, flat.id
        session.flush()
        household_changed(session, plate, was, flat.id)
        return flat.id


def delete_car(sessions: sessionmaker[Session], plate: str) -> None:
    """DELETE /vehicles/{id}."""
    with transaction(sessions) as session:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.plate == plate)).one()
        household_changed(session, plate, vehicle.household_id, None)
        session.delete(vehicle)


def visitor(sessions: sessionmaker[Session], plate: str) -> tuple[int, int]:
    """A visitor pass for ``plate`` hosted by a flat of its own: (host, pass)."""
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        host = Household(building="3", unit="1202", spaces=1)
        session.add(host)
        session.flush()
        visitor_pass = VisitorPass(plate=plate, host_household_id=host.id,
                                   valid_from=now - timedelta(minutes=5),
                                   valid_to=now + timedelta(hours=4))
        session.add(visitor_pass)
        session.flush()
        return host.id, visitor_pass.id


def household_of(sessions: sessionmaker[Session], plate: str) -> int:
    with sessions() as session:
        return session.scalars(select(Vehicle.household_id).where(Vehicle.plate == plate)).one()


def during_outage(
    sessions: sessionmaker[Session], folder: Path, office: Callable[[], Any], *,
    before: tuple[str, ...] = (), offline: tuple[str, ...], plate: str = TYPO,
) -> Any:
    """The car (``plate``) passes ``before``'s gates online, then ``offline``'s during an
    outage (journalled); the database answers, ``office`` corrects the car, and then the
    journal is written back. Returns the runtime."""
    runtime = runtime_for(sessions, folder=folder)

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        for gate in before:
            await at(runtime, gate, plate)
        await runtime.refresh_offline()
        runtime.mark_database_unavailable()
        for gate in offline:
            assert (await at(runtime, gate, plate)).journal_id  # decided offline
        await asyncio.to_thread(office)
        assert await runtime.replay_journal() == len(offline)

    asyncio.run(scenario())
    return runtime


def test_an_entry_written_back_after_the_car_s_plate_was_corrected_is_under_the_new_plate(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    site(sessions, TYPO)
    hid = household_of(sessions, TYPO)
    runtime = during_outage(sessions, tmp_path, lambda: correct_car(sessions, TYPO, REAL),
                            offline=("a-in",))
    assert inside(sessions) == {REAL: (hid, None)}
    assert counts(sessions) == (1, 0)

    async def leaves() -> Any:
        runtime._bus.bind(asyncio.get_running_loop())
        return await at(runtime, "a-out", REAL)

    assert asyncio.run(leaves()).decision.reason == "exit_known_inside"
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_an_exit_written_back_after_the_car_s_plate_was_corrected_takes_the_car_out(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    """The car was inside under the typed plate; it left during the outage; the correction
    moved it to the right plate before the exit was written."""
    site(sessions, TYPO)
    during_outage(sessions, tmp_path, lambda: correct_car(sessions, TYPO, REAL),
                  before=("a-in",), offline=("a-out",))
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_a_visitor_s_entry_written_back_after_the_pass_s_plate_was_corrected(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    site(sessions)
    host, pass_id = visitor(sessions, TYPO)
    during_outage(sessions, tmp_path, lambda: correct_pass(sessions, TYPO, REAL),
                  offline=("a-in",))
    assert inside(sessions) == {REAL: (host, pass_id)}
    assert counts(sessions) == (1, 0)


def test_a_visitor_s_exit_written_back_after_the_pass_s_plate_was_corrected(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    """An exit names no pass: the car is found where the correction moved its row."""
    site(sessions)
    visitor(sessions, TYPO)
    during_outage(sessions, tmp_path, lambda: correct_pass(sessions, TYPO, REAL),
                  before=("a-in",), offline=("a-out",))
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_an_entry_and_exit_both_decided_offline_before_a_correction_leave_nothing_inside(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    site(sessions)
    visitor(sessions, TYPO)
    during_outage(sessions, tmp_path, lambda: correct_pass(sessions, TYPO, REAL),
                  offline=("a-in", "a-out"))
    assert (inside(sessions), counts(sessions)) == ({}, (0, 0))


def test_an_entry_written_back_after_the_car_moved_flat_is_on_the_new_flat_s_space(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    site(sessions, TYPO)
    flat: list[int] = []
    during_outage(sessions, tmp_path, lambda: flat.append(move_car(sessions, TYPO)),
                  offline=("a-in",))
    assert inside(sessions) == {TYPO: (flat[0], None)}


def test_an_entry_written_back_after_the_car_was_deleted_is_on_no_household_s_space(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    """As a deletion leaves a car already inside: counted, on nobody's spaces (the flat's
    other car is let in)."""
    site(sessions, TYPO)
    during_outage(sessions, tmp_path, lambda: delete_car(sessions, TYPO), offline=("a-in",))
    assert inside(sessions) == {TYPO: (None, None)}
    assert counts(sessions) == (1, 0)


def test_an_entry_written_back_after_the_car_was_registered_to_another_flat_is_that_flat_s(
    sessions: sessionmaker[Session], tmp_path: Path,
) -> None:
    """Deleted and registered again to flat 0808 (sold with the flat): the car is 0808's,
    as registering it makes a car already inside (vehicle.create)."""
    site(sessions, TYPO)
    flat: list[int] = []

    def sold() -> None:
        delete_car(sessions, TYPO)
        with transaction(sessions) as session:
            buyer = Household(building="5", unit="0808", spaces=1)
            session.add(buyer)
            session.flush()
            session.add(Vehicle(plate=TYPO, household_id=buyer.id))
            flat.append(buyer.id)

    during_outage(sessions, tmp_path, sold, offline=("a-in",))
    assert inside(sessions) == {TYPO: (flat[0], None)}
