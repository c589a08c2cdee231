"""An office's count correction reaches the boards, the apps' stream and the city feed only
once it is committed: whoever reads the counts on hearing of it reads the corrected one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controllers.events import Event
from models.site import Zone


@pytest.fixture
def client(app_factory: Any) -> Any:
    return app_factory(parking={"sensors": {"simulate": False}})


def test_whoever_reads_the_counts_on_a_correction_reads_the_corrected_count(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """The correction was published from its own uncommitted transaction: the availability
    cache, dropped on hearing of it, could be read again at once with the old count (kept
    until the next change), as could a board or a passage's read going out after it."""
    services = client.app.state.services
    heard: list[tuple[int, int]] = []  # (count in the event, count another reader reads)

    def read_on_hearing(event: Event) -> None:
        if event.type != "availability":
            return
        with services.sessions() as session:
            zone = session.get(Zone, "A")
            assert zone is not None
            in_event = next(z for z in event.data["zones"] if z["id"] == "A")["occupied"]
            heard.append((int(in_event), zone.occupied))

    with services.bus.listening(read_on_hearing):
        fixed = client.put(
            "/api/v1/zones/A/occupancy", json={"occupied": 7, "reason": "walked the lot"},
            headers=admin_headers,
        )
        assert fixed.status_code == 200, fixed.text
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
    assert heard == [(7, 7)]
    zone_a = next(z for z in client.get("/api/v1/availability").json()["zones"] if z["id"] == "A")
    assert (zone_a["occupied"], zone_a["free"]) == (7, 33)
