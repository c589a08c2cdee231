"""An arm that does not rise after the barrier took a car's open (stuck, blocked) is a fault
only once the gate's motion_timeout_s is up, after the car was counted in. Its alarm named no
car: the guard could not tell which car might have turned away. It is now tied to the car the
gate's latest open was for, as a refused open's alarm is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from controllers.barrier import NOT_OPEN
from hardware.simulated import SimFault, SimulatedBarrier
from models.events import Alarm
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_typed_plates import typed
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import services_of, wait_until

PLATE = "闽A12345"


def community(motion_timeout_s: float) -> dict[str, Any]:
    # Longer than the simulated arm's 1.5 s travel, or a working arm would fault too.
    barrier = {"driver": "sim", "motion_timeout_s": motion_timeout_s, "open_seconds": 30.0}
    return {
        "name": "stuck-arm-test",
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [{"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A",
                   "barrier": barrier}],
    }


def simulated(client: Any) -> SimulatedBarrier:
    barrier = services_of(client).barriers["main-in"]
    assert isinstance(barrier, SimulatedBarrier)
    return barrier


def faults(client: Any) -> list[Alarm]:
    with services_of(client).sessions() as session:
        rows = list(session.scalars(select(Alarm).where(Alarm.kind == "hardware_fault")))
        session.expunge_all()
    return rows


def test_an_arm_that_does_not_rise_is_the_fault_of_the_car_it_opened_for(
    app_factory: Any
) -> None:
    client = app_factory(community=community(motion_timeout_s=3.0))
    admin = add_staff(services_of(client), "admin", "admin")
    guard = add_staff(services_of(client), "guard", "guard")
    register_resident_car(client, admin, PLATE)
    simulated(client).inject_fault(SimFault.STUCK)

    answer = typed(client, guard, "main-in", PLATE).json()

    assert (answer["decision"], answer["barrier"]) == ("allow", "opening")  # taken, counted
    wait_until(lambda: bool(faults(client)), 15.0, "the motion time-out's alarm")
    (alarm,) = faults(client)
    assert alarm.message.startswith(NOT_OPEN)
    assert (alarm.gate_id, alarm.passage_id) == ("main-in", answer["passage_id"])
    listed = client.get("/api/v1/alarms", headers=guard).json()["items"]
    assert [(a["kind"], a["passage_id"]) for a in listed] == [
        ("hardware_fault", answer["passage_id"])]
    # The booth's alarm says which car, with its photo link where it has one.
    cookie_login(client, "guard", "guard")
    booth = client.get("/console/fragments/alarms").text
    assert f'data-passage="{answer["passage_id"]}"' in booth, booth
    assert PLATE in booth, booth


def test_after_a_guards_open_naming_no_car_the_fault_is_nobodys(app_factory: Any) -> None:
    """A car let in earlier, then the guard's 开闸 (naming no passage) on which the arm sticks:
    the latest open was for no car, so the alarm names none."""
    client = app_factory(community=community(motion_timeout_s=3.0))
    admin = add_staff(services_of(client), "admin", "admin")
    guard = add_staff(services_of(client), "guard", "guard")
    register_resident_car(client, admin, PLATE)
    barrier = simulated(client)
    assert typed(client, guard, "main-in", PLATE).json()["barrier"] in ("opening", "open")
    wait_until(lambda: str(barrier.state) == "open", 15.0, "the arm up for the car")
    assert client.post("/api/v1/gates/main-in/actions", headers=guard,
                       json={"action": "close", "reason": "测试原因"}).status_code == 200
    wait_until(lambda: str(barrier.state) == "closed", 15.0, f"the arm down ({barrier.state})")
    barrier.inject_fault(SimFault.STUCK)

    opened = client.post("/api/v1/gates/main-in/actions", headers=guard,
                         json={"action": "open", "reason": "测试原因"})

    assert opened.status_code == 200, opened.text
    wait_until(lambda: bool(faults(client)), 15.0, "the motion time-out's alarm")
    (alarm,) = faults(client)
    assert alarm.message.startswith(NOT_OPEN) and alarm.passage_id is None
