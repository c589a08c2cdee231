"""GET /metrics: what an operator's Prometheus scrapes, with its token, from a real app with
real photos pushed through a real database."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controllers.events import Event
from errors import ConfigError
from services.metrics import Metrics
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def scraped(app_factory: Any) -> Any:
    return app_factory(api={"metrics_token": TOKEN})


def _sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample, found by its name and labels (in any order)."""
    for line in body.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if head.split("{")[0] == name and found == labels:
            return float(value)
    raise AssertionError(f"no sample {name} {labels} in:\n{body}")


def _scrape(client: Any, token: str = TOKEN) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return str(response.text)


def test_metrics_need_the_scrape_token_or_an_admin(scraped: Any) -> None:
    from tests.api.test_console import add_staff

    assert scraped.get("/metrics").status_code == 401
    wrong = scraped.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    guard = add_staff(scraped.app.state.services, "booth", "guard")
    assert scraped.get("/metrics", headers=guard).status_code == 403
    admin = add_staff(scraped.app.state.services, "manager", "admin")
    assert scraped.get("/metrics", headers=admin).status_code == 200
    assert "parkgate_database_up 1.0" in _scrape(scraped)


def test_a_passage_counts_and_its_frame_is_timed_without_its_plate(
    scraped: Any, readable_photos: list[LabelledPhoto]
) -> None:
    from tests.api.test_console import add_staff

    headers = add_staff(scraped.app.state.services, "manager", "admin")
    photo = readable_photos[0]
    register_resident_car(scraped, headers, photo.plate)
    assert push(scraped, "main-in", photo).json()["decision"] == "allow"

    body = _scrape(scraped)
    assert _sample(body, "parkgate_passages_total", gate="main-in", decision="allow",
                   reason="resident") == 1
    assert _sample(body, "parkgate_frame_stage_seconds_count", gate="main-in",
                   stage="recognize") == 1
    assert _sample(body, "parkgate_gate_state", gate="main-in", state="closed") == 0
    opening = sum(_sample(body, "parkgate_gate_state", gate="main-in", state=s)
                  for s in ("opening", "open"))
    assert opening == 1
    assert _sample(body, "parkgate_zone_occupied", zone="A") == 1
    # Personal data never becomes a label: an operator's dashboard is not a plate register.
    assert photo.plate not in body and photo.plate[1:] not in body


def test_zone_counts_follow_an_admin_correction(scraped: Any) -> None:
    from tests.api.test_console import add_staff

    headers = add_staff(scraped.app.state.services, "manager", "admin")
    corrected = scraped.put("/api/v1/zones/A/occupancy", headers=headers,
                            json={"occupied": 12, "reason": "walked the lot"})
    assert corrected.status_code == 200, corrected.text
    body = _scrape(scraped)
    assert _sample(body, "parkgate_zone_occupied", zone="A") == 12
    assert _sample(body, "parkgate_zone_capacity", zone="A") == corrected.json()["capacity"]
    assert _sample(body, "parkgate_zone_counts_stale") == 0


def test_an_acknowledgement_is_not_a_second_alarm() -> None:
    metrics = Metrics()
    metrics.on_event(Event("alarm", {"id": 1, "kind": "blocked_plate", "gate_id": "main-in"}))
    metrics.on_event(Event("alarm", {"id": 1, "kind": "blocked_plate", "gate_id": "main-in",
                                     "acknowledged_by": "guard",
                                     "acknowledged_at": "2026-11-29T10:00:00+00:00"}))
    assert metrics.alarms.labels("blocked_plate")._value.get() == 1


def test_a_short_scrape_token_is_refused_at_start(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match=r"api\.metrics_token must be at least 24 characters"):
        make_settings(api={"metrics_token": "short"})
