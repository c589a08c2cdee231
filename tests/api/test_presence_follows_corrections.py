"""A car parked inside while the office fixes its record stays one car, the right one's.

Before, the presence row kept the old plate or household: a household whose car's mistyped
plate was corrected while it was parked had a phantom car on its space for good (its second
car refused as over its spaces after the real one had left), and a visitor's car left under
a plate nobody had seen come in, leaving the old one counted inside.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from controllers.values import Sighting
from models.events import AuditEntry
from models.vehicles import Presence
from tests.api.test_vehicle_entry import free_in_zone
from tests.conftest import wait_until

TYPO = "闽A1234S"  # as the office typed it
REAL = "闽A12345"  # as the plate reads
SECOND = "闽A99999"  # the household's other car


def allow_once(client: Any, headers: dict[str, str], passage_id: int, reason: str) -> None:
    """A guard's 放行一次 on a held car, with ``reason``."""
    done = client.post(f"/api/v1/passages/{passage_id}/resolve",
                       json={"resolution": "allow_once", "reason": reason}, headers=headers)
    assert done.status_code == 200, done.text


def arrive(client: Any, gate: str, plate: str, *, province_confidence: float = 1.0) -> Any:
    services = client.app.state.services
    sighting = Sighting(gate, datetime.now(UTC), plate, 0.95,
                        province_confidence=province_confidence)
    return client.portal.call(services.runtime.handle_sighting, sighting)


def inside(client: Any) -> dict[str, tuple[int | None, int | None]]:
    with client.app.state.services.sessions() as session:
        return {p.plate: (p.household_id, p.pass_id) for p in session.query(Presence)}


def household(client: Any, headers: dict[str, str], unit: str) -> int:
    made = client.post("/api/v1/households", json={"building": "3栋", "unit": unit,
                                                   "spaces": 1}, headers=headers)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def car(client: Any, headers: dict[str, str], plate: str, household_id: int) -> int:
    made = client.post("/api/v1/vehicles", json={"plate": plate, "household_id": household_id},
                       headers=headers)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def visitor_pass(client: Any, headers: dict[str, str], plate: str, host: int) -> int:
    now = datetime.now(UTC)
    made = client.post("/api/v1/passes", json={
        "plate": plate, "host_household_id": host,
        "valid_from": (now - timedelta(minutes=5)).isoformat(),
        "valid_to": (now + timedelta(hours=4)).isoformat(),
    }, headers=headers)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def test_a_plate_corrected_while_the_car_is_parked_frees_the_households_space_when_it_leaves(
    client: Any, admin_headers: dict[str, str],
) -> None:
    hid = household(client, admin_headers, "1201")
    typo_id = car(client, admin_headers, TYPO, hid)
    car(client, admin_headers, SECOND, hid)
    # The camera reads the plate exactly as the office typed it (a dirty S), so it enters.
    assert arrive(client, "main-in", TYPO).decision.reason == "resident"
    free = free_in_zone(client, "A")

    fixed = client.patch(f"/api/v1/vehicles/{typo_id}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (hid, None)}
    assert free_in_zone(client, "A") == free  # still the one car inside

    leaving = arrive(client, "main-out", REAL)
    assert leaving.decision.reason == "exit_known_inside"
    assert inside(client) == {}
    # Its space is free again: the household's other car comes in.
    assert arrive(client, "main-in", SECOND).decision.reason == "resident"


def test_a_car_moved_to_another_flat_or_deleted_while_parked_no_longer_takes_the_old_flats_space(
    client: Any, admin_headers: dict[str, str],
) -> None:
    old_flat = household(client, admin_headers, "1201")
    new_flat = household(client, admin_headers, "1202")
    moved = car(client, admin_headers, REAL, old_flat)
    car(client, admin_headers, SECOND, old_flat)
    assert arrive(client, "main-in", REAL).decision.reason == "resident"
    assert arrive(client, "main-in", SECOND).decision.reason == "resident_over_quota"

    response = client.patch(f"/api/v1/vehicles/{moved}", json={"household_id": new_flat},
                            headers=admin_headers)
    assert response.status_code == 200, response.text
    assert inside(client)[REAL] == (new_flat, None)
    assert arrive(client, "main-in", SECOND).decision.reason == "resident"

    # Deleted while parked: still a car in the zone, on nobody's space.
    free = free_in_zone(client, "A")
    assert client.delete(f"/api/v1/vehicles/{moved}", headers=admin_headers).status_code == 204
    assert inside(client)[REAL] == (None, None)
    assert free_in_zone(client, "A") == free


def test_a_plate_corrected_to_that_of_a_car_inside_as_nobody_s_makes_it_the_household_s(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
) -> None:
    """The office typed the plate far off, so the car came in as an unknown car a guard let
    in (inside on nobody's space). Correcting the plate makes it the household's car inside,
    as deleting the car and registering it again does (vehicle.create): its space is taken,
    and the household's other car is over its spaces. It stayed nobody's, and the other car
    was let in as if the space were free."""
    wrong = "闽A54321"
    hid = household(client, admin_headers, "1201")
    typed = car(client, admin_headers, wrong, hid)
    car(client, admin_headers, SECOND, hid)
    held = arrive(client, "main-in", REAL)
    assert held.decision.reason == "unknown_plate"
    allow_once(client, guard_headers, held.passage_id, "业主电话确认")
    assert inside(client) == {REAL: (None, None)}

    fixed = client.patch(f"/api/v1/vehicles/{typed}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (hid, None)}
    assert audited_inside(client, "vehicle.update", f"vehicle:{typed}") == "followed"
    assert arrive(client, "main-in", SECOND).decision.reason == "resident_over_quota"


def test_a_visitor_pass_plate_corrected_while_the_visitor_is_inside_lets_the_car_leave_counted(
    client: Any, admin_headers: dict[str, str],
) -> None:
    hid = household(client, admin_headers, "1201")
    pass_id = visitor_pass(client, admin_headers, TYPO, hid)
    assert arrive(client, "main-in", TYPO).decision.reason == "visitor_pass"
    free = free_in_zone(client, "A")

    fixed = client.patch(f"/api/v1/passes/{pass_id}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (hid, pass_id)}  # on the host, not its spaces

    leaving = arrive(client, "main-out", REAL)
    assert leaving.decision.reason == "exit_known_inside"
    assert inside(client) == {}
    assert free_in_zone(client, "A") == free + 1


def test_a_correction_leaves_another_cars_presence_under_that_plate_alone(
    client: Any, admin_headers: dict[str, str],
) -> None:
    """The visitor parked under the plate is not the household car being corrected."""
    hid = household(client, admin_headers, "1201")
    host = household(client, admin_headers, "1202")
    pass_id = visitor_pass(client, admin_headers, TYPO, host)
    assert arrive(client, "main-in", TYPO).decision.reason == "visitor_pass"
    # The office enters the visitor's plate as flat 1201's car by mistake, and fixes it.
    wrong = car(client, admin_headers, TYPO, hid)
    response = client.patch(f"/api/v1/vehicles/{wrong}", json={"plate": REAL},
                            headers=admin_headers)
    assert response.status_code == 200, response.text
    assert inside(client) == {TYPO: (host, pass_id)}


def audited_inside(client: Any, action: str, target: str) -> str | None:
    """What the edit's audit entry says of the car inside (None: nothing)."""
    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.target == target
        ).order_by(AuditEntry.id.desc())).first()
        assert entry is not None, (action, target)
        return (entry.details or {}).get("inside")


def test_a_pass_plate_correction_that_moves_the_car_inside_says_so_in_the_audit_log(
    client: Any, admin_headers: dict[str, str],
) -> None:
    """As vehicle.update does: the log is what explains why the car inside changed plate."""
    hid = household(client, admin_headers, "1201")
    pass_id = visitor_pass(client, admin_headers, TYPO, hid)
    note_only = client.patch(f"/api/v1/passes/{pass_id}", json={"note": "蓝色轿车"},
                             headers=admin_headers)
    assert note_only.status_code == 200, note_only.text
    assert audited_inside(client, "pass.update", f"pass:{pass_id}") is None
    assert arrive(client, "main-in", TYPO).decision.reason == "visitor_pass"

    fixed = client.patch(f"/api/v1/passes/{pass_id}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert audited_inside(client, "pass.update", f"pass:{pass_id}") == "followed"


def test_a_plate_corrected_to_one_already_inside_is_one_car_counted_once(
    client: Any, admin_headers: dict[str, str],
) -> None:
    """The visitor came in under the mistyped pass, left unseen, and came back under a second
    pass the guard registered with the right plate: two rows and two counts for one car. The
    office corrects the first pass: one car is inside, under the second pass, and the zone
    that counted the first entry comes down one as that car's unseen exit would. It stayed
    one space short for good (the row went, its count did not)."""
    host = household(client, admin_headers, "1201")
    first = visitor_pass(client, admin_headers, TYPO, host)
    second = visitor_pass(client, admin_headers, REAL, host)
    free = free_in_zone(client, "A")
    assert arrive(client, "main-in", TYPO).decision.reason == "visitor_pass"
    assert arrive(client, "main-in", REAL).decision.reason == "visitor_pass"
    assert free_in_zone(client, "A") == free - 2

    heard: list[Any] = []
    with client.app.state.services.bus.listening(heard.append):
        fixed = client.patch(f"/api/v1/passes/{first}", json={"plate": REAL},
                             headers=admin_headers)
        assert fixed.status_code == 200, fixed.text
        wait_until(lambda: any(e.type == "availability" for e in heard), 5,
                   "the boards told the new count")
    board = next(e.data for e in heard if e.type == "availability")
    assert {z["id"]: z["free"] for z in board["zones"]}["A"] == free - 1
    assert inside(client) == {REAL: (host, second)}
    assert free_in_zone(client, "A") == free - 1
    assert audited_inside(client, "pass.update", f"pass:{first}") == "merged"
    # 场内车辆 lists the one car, under the right plate and the pass it came in on last.
    listed = client.get("/api/v1/presence", headers=admin_headers)
    assert listed.status_code == 200, listed.text
    assert [(c["plate"], c["zone_id"], c["kind"], c["pass_id"])
            for c in listed.json()["items"]] == [(REAL, "A", "visitor", second)]

    assert arrive(client, "main-out", REAL).decision.reason == "exit_known_inside"
    assert inside(client) == {}
    assert free_in_zone(client, "A") == free


FAR = "闽A54321"  # typed far off: the right plate is no near read of it


def let_in_unknown(client: Any, guard_headers: dict[str, str], plate: str) -> None:
    """The car comes back read under ``plate``, which nothing on file names: a guard lets it
    in (inside as nobody's car). The first entry's exit was never read."""
    held = arrive(client, "main-in", plate)
    assert held.decision.reason == "unknown_plate"
    allow_once(client, guard_headers, held.passage_id, "业主电话确认")


def test_a_car_s_plate_corrected_to_one_let_in_as_nobody_s_merges_into_the_household_s_car(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
) -> None:
    """The household's car came in under the typed plate, left unseen, and came back under
    the right one as an unknown car a guard let in. Corrected, it is one car inside, the
    household's (its space taken: their other car is over its spaces), counted once."""
    hid = household(client, admin_headers, "1201")
    typed = car(client, admin_headers, FAR, hid)
    car(client, admin_headers, SECOND, hid)
    free = free_in_zone(client, "A")
    assert arrive(client, "main-in", FAR).decision.reason == "resident"
    let_in_unknown(client, guard_headers, REAL)
    assert free_in_zone(client, "A") == free - 2

    fixed = client.patch(f"/api/v1/vehicles/{typed}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (hid, None)}
    assert free_in_zone(client, "A") == free - 1
    assert audited_inside(client, "vehicle.update", f"vehicle:{typed}") == "merged"
    assert arrive(client, "main-in", SECOND).decision.reason == "resident_over_quota"


def test_a_pass_s_plate_corrected_to_one_let_in_as_nobody_s_merges_into_the_visitor_s_car(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
) -> None:
    """The visitor came in on the mistyped pass, left unseen, and came back under the right
    plate as an unknown car a guard let in. Corrected, the one car inside is the pass's
    visitor: 场内车辆 lists it as a visitor of the host, and it is the pass's car for the
    overstay alarm once the pass ends. It stayed nobody's car, and a visitor staying the
    night past the pass raised no alarm."""
    host = household(client, admin_headers, "1201")
    pass_id = visitor_pass(client, admin_headers, FAR, host)
    assert arrive(client, "main-in", FAR).decision.reason == "visitor_pass"
    let_in_unknown(client, guard_headers, REAL)

    fixed = client.patch(f"/api/v1/passes/{pass_id}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (host, pass_id)}
    assert audited_inside(client, "pass.update", f"pass:{pass_id}") == "merged"
    listed = client.get("/api/v1/presence", headers=admin_headers).json()["items"]
    assert [(c["plate"], c["kind"], c["pass_id"]) for c in listed] == [
        (REAL, "visitor", pass_id)]


def test_a_pass_s_plate_corrected_to_a_resident_s_car_inside_leaves_the_resident_s_record(
    client: Any, admin_headers: dict[str, str],
) -> None:
    """A visitor pass corrected to the plate of a household's own car recorded inside: one
    car, and it stays the household's (on its space, not the host's visitor). A pass, which
    a guard may register for any plate, never takes over a resident's record."""
    owner = household(client, admin_headers, "1201")
    host = household(client, admin_headers, "1202")
    car(client, admin_headers, REAL, owner)
    pass_id = visitor_pass(client, admin_headers, FAR, host)
    assert arrive(client, "main-in", REAL).decision.reason == "resident"
    assert arrive(client, "main-in", FAR).decision.reason == "visitor_pass"
    free = free_in_zone(client, "A")

    fixed = client.patch(f"/api/v1/passes/{pass_id}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (owner, None)}
    assert free_in_zone(client, "A") == free + 1
    assert audited_inside(client, "pass.update", f"pass:{pass_id}") == "merged"


def test_a_car_s_plate_corrected_to_a_visitor_inside_on_a_pass_stays_the_pass_s(
    client: Any, admin_headers: dict[str, str],
) -> None:
    """The household's car came in under the typed plate, left unseen, and came back under
    the right one on a visitor pass. Corrected, it is one car, inside on the pass it came in
    on last, as registering a car inside on a pass leaves it (vehicle.create): the pass's
    window and overstay alarm are what that stay was let in under. Its next entry is the
    household's."""
    hid = household(client, admin_headers, "1201")
    typed = car(client, admin_headers, FAR, hid)
    pass_id = visitor_pass(client, admin_headers, REAL, hid)
    assert arrive(client, "main-in", FAR).decision.reason == "resident"
    assert arrive(client, "main-in", REAL).decision.reason == "visitor_pass"

    fixed = client.patch(f"/api/v1/vehicles/{typed}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (hid, pass_id)}
    assert audited_inside(client, "vehicle.update", f"vehicle:{typed}") == "merged"


def test_a_plate_re_registered_by_delete_and_post_leaves_the_car_inside_under_the_old_plate(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
) -> None:
    """An integrator who corrects a plate by deleting the car and registering it again
    (not PATCH) leaves the car parked inside recorded under the old plate: nothing says the
    two registrations are one car (a household's sold car still parked and its new one look
    the same), so none is guessed. That row is on no household's space (the household's
    other car is let in) and counted once; the car leaves under the new plate as one not
    recorded inside, and the old plate stays inside, its space counted, until a guard's
    标记已离场 takes it off. The routes' descriptions in /docs tell integrators to PATCH."""
    hid = household(client, admin_headers, "1201")
    typo_id = car(client, admin_headers, TYPO, hid)
    car(client, admin_headers, SECOND, hid)
    assert arrive(client, "main-in", TYPO).decision.reason == "resident"
    free = free_in_zone(client, "A")

    gone = client.delete(f"/api/v1/vehicles/{typo_id}", headers=admin_headers)
    assert gone.status_code == 204, gone.text
    car(client, admin_headers, REAL, hid)
    assert inside(client) == {TYPO: (None, None)}
    assert free_in_zone(client, "A") == free
    assert arrive(client, "main-in", SECOND).decision.reason == "resident"
    free -= 1

    leaving = arrive(client, "main-out", REAL)
    assert leaving.decision.reason == "exit_not_inside"
    assert inside(client) == {TYPO: (None, None), SECOND: (hid, None)}
    assert free_in_zone(client, "A") == free  # the old plate still holds its space

    marked = client.post(f"/api/v1/presence/{TYPO}/left", headers=guard_headers,
                         json={"reason": "车牌删除后重新登记，车已出场"})
    assert marked.status_code == 200, marked.text
    assert inside(client) == {SECOND: (hid, None)}
    assert free_in_zone(client, "A") == free + 1

    routes = client.get("/openapi.json").json()["paths"]["/api/v1/vehicles/{vehicle_id}"]
    assert "PATCH" in routes["delete"]["description"]
    assert "inside" in routes["patch"]["description"]


def test_a_visitor_pass_deleted_while_its_car_is_inside_leaves_it_on_nobody_s_space(
    client: Any, admin_headers: dict[str, str],
) -> None:
    """The car stays inside and counted, as a deleted car's does, but on no household's
    spaces. The database's SET NULL of the row's pass made it look like the host's own car:
    counted against the host's one space, so the host's own car went to a guard."""
    host = household(client, admin_headers, "1201")
    car(client, admin_headers, SECOND, host)
    pass_id = visitor_pass(client, admin_headers, TYPO, host)
    assert arrive(client, "main-in", TYPO).decision.reason == "visitor_pass"
    free = free_in_zone(client, "A")

    gone = client.delete(f"/api/v1/passes/{pass_id}", headers=admin_headers)
    assert gone.status_code == 204, gone.text
    assert inside(client) == {TYPO: (None, None)}
    assert free_in_zone(client, "A") == free
    assert arrive(client, "main-in", SECOND).decision.reason == "resident"


OTHER_PROVINCE = "浙A12345"  # the province the host picked by mistake; also a real car's plate


def test_another_car_leaving_under_a_corrected_pass_s_old_plate_leaves_the_visitor_inside(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
) -> None:
    """The host registered the visitor's car under the wrong province; its entry read the
    province unsure, so it came in on the pass under the pass's plate, which the office then
    corrected (the visitor inside under the right plate). A car that really is 浙A12345, no
    one's and not recorded inside (in behind another car), leaves: the guard lets it out.
    It is not the visitor's car: the visitor stays inside, counted, and the zone moves
    nothing (that car was never counted in). The exit took the visitor out instead, as if
    the correction had moved that car's row: the visitor then left as a car not recorded
    inside, and its overstay alarm watched nothing."""
    host = household(client, admin_headers, "1201")
    pass_id = visitor_pass(client, admin_headers, OTHER_PROVINCE, host)
    entered = arrive(client, "main-in", REAL, province_confidence=0.4)
    assert (entered.decision.reason, entered.decision.matched_plate) == (
        "visitor_pass", OTHER_PROVINCE)
    fixed = client.patch(f"/api/v1/passes/{pass_id}", json={"plate": REAL},
                         headers=admin_headers)
    assert fixed.status_code == 200, fixed.text
    assert inside(client) == {REAL: (host, pass_id)}
    free = free_in_zone(client, "A")

    held = arrive(client, "main-out", OTHER_PROVINCE)
    assert held.decision.reason == "exit_not_inside"
    allow_once(client, guard_headers, held.passage_id, "无登记车辆出场")
    assert inside(client) == {REAL: (host, pass_id)}
    assert free_in_zone(client, "A") == free

    assert arrive(client, "main-out", REAL).decision.reason == "exit_known_inside"
    assert inside(client) == {}
    assert free_in_zone(client, "A") == free + 1
