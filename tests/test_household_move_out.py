"""搬离's transaction (services/household_move_out.py) against another writer: once a move-out
has read what it removes, nothing can be added to the flat until it commits. Otherwise a car
registered in between was not in the list the admin confirmed, yet went with the flat (the
foreign key's ON DELETE CASCADE), unseen and unaudited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import services.household_move_out as move_out_service
from models.db import transaction
from models.people import Household
from models.vehicles import Vehicle
from services.household_move_out import MoveOutPlan, move_out, plan_move_out


def register_car(sessions: Any, household_id: int, *, wait_ms: int | None = None) -> None:
    with transaction(sessions, busy_timeout_ms=wait_ms) as other:
        other.add(Vehicle(plate="闽A99999", household_id=household_id))
        other.flush()


def test_no_car_is_registered_to_a_flat_while_it_moves_out(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(sessions) as session:
        flat = Household(building="3栋", unit="1201")
        session.add(flat)
        session.flush()
        household_id = flat.id
        session.add(Vehicle(plate="闽A12345", household_id=household_id))
    with sessions() as session:
        expected = plan_move_out(session, household_id).fingerprint()

    refused: list[Exception] = []
    real_plan = move_out_service.plan_move_out

    def plan_then_another_writer(session: Session, hid: int) -> MoveOutPlan:
        plan = real_plan(session, hid)
        # Another admin registers a car to the flat right after the move-out read it.
        try:
            register_car(sessions, hid, wait_ms=300)
        except OperationalError as err:  # waited for the move-out's lock, in vain
            refused.append(err)
        return plan

    monkeypatch.setattr(move_out_service, "plan_move_out", plan_then_another_writer)
    with transaction(sessions) as session:
        move_out(session, household_id, operator="admin", expected=expected)
    monkeypatch.undo()

    assert len(refused) == 1  # without the lock: registered, then deleted with the flat
    with sessions() as session:
        assert session.scalars(select(Vehicle.plate)).all() == []
    # Once the flat is gone, the car cannot be registered to it at all.
    with pytest.raises(IntegrityError):
        register_car(sessions, household_id)
