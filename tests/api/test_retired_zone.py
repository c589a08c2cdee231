"""What drivers' apps, guidance, the city hub and the admin see of a zone retired at start-up
(the property office merged B into A): nothing. Before, B stayed listed with the cars it had
left, was offered as "park anywhere in zone B", and an admin's correction to 0 was the only
way to make it stop counting."""

from __future__ import annotations

from typing import Any

from controllers.events import Event
from models.access_store import availability
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.site import Zone
from services.city_mqtt import to_message
from services.site import sync_site
from settings import CommunityConfig
from tests.api.test_console import cookie_login
from tests.conftest import add_user, services_of


def gates_of(zone: str) -> list[dict[str, Any]]:
    return [{"id": f"{zone.lower()}-{d}", "kind": "vehicle", "direction": d, "zone": zone}
            for d in ("in", "out")]


def test_a_retired_zone_is_offered_nowhere_and_cannot_be_corrected(
    app_factory: Any, database_url: str
) -> None:
    # Last run: A (10 spaces) and B (40, 3 cars counted, so the zone with most free).
    engine = create_db_engine(database_url)
    migrate(engine)
    with transaction(make_session_factory(engine)) as session:
        sync_site(session, CommunityConfig.model_validate({
            "name": "t", "zones": [{"id": "A", "capacity": 10}, {"id": "B", "capacity": 40}],
            "gates": gates_of("A") + gates_of("B"),
        }))
        session.flush()
        zone_b = session.get(Zone, "B")
        assert zone_b is not None
        zone_b.occupied = 3
    engine.dispose()

    client = app_factory(community={
        "name": "t", "zones": [{"id": "A", "capacity": 10}], "gates": gates_of("A"),
    })
    offered = client.get("/api/v1/availability").json()
    assert [z["id"] for z in offered["zones"]] == ["A"]
    assert (offered["total_capacity"], offered["total_free"]) == (10, 10)
    guided = client.get("/api/v1/guidance", params={"building": "3"}).json()
    assert guided["fallback_zone"]["zone"] == "A"

    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    fixed = client.put("/api/v1/zones/B/occupancy", headers=admin,
                       json={"occupied": 0, "reason": "merged into A"})
    assert fixed.status_code == 404
    assert "no longer configured" in fixed.json()["detail"]
    cookie_login(client, "admin", "admin")  # the console's zone counts offer no form for it
    site = client.get("/console/admin/site").text
    assert 'data-zone="A"' in site and 'data-zone="B"' not in site

    # What the city hub gets on the retained availability topic from now on.
    with services_of(client).sessions() as session:
        message = to_message(Event("availability", availability(session)), "t",
                             publish_plates=False)
    assert message is not None
    topic, payload, retained = message
    assert (topic, retained) == ("availability", True)
    assert payload["zones"] == [{"id": "A", "capacity": 10, "free": 10}]
    assert (payload["total_capacity"], payload["total_free"]) == (10, 10)
