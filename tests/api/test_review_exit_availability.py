"""A guard's review resolution at the community's main exit, a gate configured with no zone,
takes the car off the zone that counted it in (cbc1b84) and tells the boards and the city feed
at once, as the gates' own decisions do: they used to hear of it only at their next refresh,
offering a space that was taken meanwhile as still taken.

The cars are sent to review by a frame without a plate (the guard types
the plate), so no real photo is needed."""

from __future__ import annotations

from typing import Any

from controllers.events import Event
from tests.api.test_console import add_staff
from tests.api.test_console_live import unread_passage
from tests.conftest import services_of

PLATE = "闽A12345"
# Lot A counts by its own entry; the main exit counts into no zone.
COMMUNITY = {
    "name": "t",
    "zones": [{"id": "A", "capacity": 40}, {"id": "B", "capacity": 20}],
    "gates": [
        {"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A"},
        {"id": "main-out", "kind": "vehicle", "direction": "out"},
    ],
}


def let_through(client: Any, headers: dict[str, str], passage_id: int) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/passages/{passage_id}/resolve",
        json={"resolution": "allow_once", "reason": "业主电话确认", "plate": PLATE},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def zone_a(view: dict[str, Any]) -> int:
    (occupied,) = [z["occupied"] for z in view["zones"] if z["id"] == "A"]
    return int(occupied)


def test_a_review_let_out_at_the_zone_less_main_exit_sends_the_lot_s_new_count(
    app_factory: Any,
) -> None:
    client = app_factory(community=COMMUNITY)
    services = services_of(client)
    guard = add_staff(services, "guard", "guard")
    let_through(client, guard, unread_passage(client, "main-in"))
    assert zone_a(client.get("/api/v1/availability").json()) == 1

    exit_id = unread_passage(client, "main-out")
    published: list[Event] = []
    with services.bus.listening(published.append):
        body = let_through(client, guard, exit_id)
    assert body["barrier"] in ("opening", "open")
    assert body["passage"]["zone_id"] is None  # where it happened: the zone-less exit
    assert zone_a(client.get("/api/v1/availability").json()) == 0
    # What the boards and the city feed are sent with the resolution itself.
    sent = [e.data for e in published if e.type == "availability"]
    assert [zone_a(view) for view in sent] == [0]
