"""GET /metrics: what an operator's Prometheus scrapes, with its token, from a real app with
real photos pushed through a real database."""

from __future__ import annotations

import functools
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from controllers.events import Event
from errors import ConfigError
from services.metrics import Metrics
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto
from vision.camera_worker import CameraWorker

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
                   stage="recognize", source="push") == 1
    assert _sample(body, "parkgate_gate_state", gate="main-in", state="closed") == 0
    opening = sum(_sample(body, "parkgate_gate_state", gate="main-in", state=s)
                  for s in ("opening", "open"))
    assert opening == 1
    assert _sample(body, "parkgate_zone_occupied", zone="A") == 1
    # Personal data never becomes a label: an operator's dashboard is not a plate register.
    assert photo.plate not in body and photo.plate[1:] not in body


def _camera_folder(folder: Path, *, still: int, car_frames: int) -> None:
    """A drop folder a camera fills: an empty lane, ``still`` identical copies of it, then a
    car driving up to the barrier over ``car_frames`` frames (read in name order)."""
    import cv2

    from vision.plate_render import render_gate_scene, render_plate
    from vision.types import PlateColor

    folder.mkdir()
    ok, empty = cv2.imencode(".png", render_gate_scene(None, random.Random(5)))
    assert ok
    for i in range(1 + still):
        (folder / f"{i:02d}.png").write_bytes(empty.tobytes())
    plate, rng = render_plate("沪B7M261", PlateColor.BLUE), random.Random(11)
    for i in range(car_frames):
        scene = render_gate_scene(plate, rng, approach=0.4 + 0.6 * i / car_frames)
        assert cv2.imwrite(str(folder / f"{1 + still + i:02d}.png"), scene)


def test_frames_a_camera_worker_reads_are_timed_once_each_and_skipped_ones_not(
    app_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import camera_pipeline
    from settings import demo_community
    from vision.motion import MotionGate

    # The motion gate's safety net reads a still frame 5 s after the last read was captured:
    # on a loaded machine the empty lane's first read (every fallback) can take that long,
    # and a still copy would then be read (and timed) as it should be. Not this test's point.
    monkeypatch.setattr(camera_pipeline, "MotionGate",
                        functools.partial(MotionGate, max_skip_s=3600.0))
    still, car_frames = 3, 8
    _camera_folder(tmp_path / "camera", still=still, car_frames=car_frames)
    community = demo_community().model_dump()
    # The motion gate stays on (the default): it is what skips the still copies.
    community["gates"][0]["camera"] = {"source": str(tmp_path / "camera"), "fps": 20}
    client = app_factory(api={"metrics_token": TOKEN}, community=community)
    services = client.app.state.services
    [worker] = [w for w in services.background if isinstance(w, CameraWorker)]
    delivered = 1 + still + car_frames

    def passages(body: str) -> float:
        return sum(float(line.rpartition(" ")[2]) for line in body.splitlines()
                   if line.startswith('parkgate_passages_total{') and 'gate="main-in"' in line)

    deadline = time.monotonic() + 60
    body = _scrape(client)
    while (worker.stats.frames_analysed < delivered or passages(body) < 1) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
        body = _scrape(client)
    # Scraped again: the body the loop last read may predate the frame that ended it (a
    # frame's timing is observed before the worker counts it analysed).
    body = _scrape(client)
    assert worker.stats.frames_analysed == delivered, worker.stats
    assert passages(body) == 1

    def timed(stage: str) -> float:
        return _sample(body, "parkgate_frame_stage_seconds_count", gate="main-in", stage=stage,
                       source="camera")

    # Every frame the recogniser read is timed once; the still copies of the empty lane were
    # handed to the pipeline but skipped by the motion gate, so they are not.
    assert timed("recognize") == delivered - still
    assert _sample(body, "parkgate_frame_stage_seconds_bucket", gate="main-in",
                   stage="recognize", source="camera", le="+Inf") == delivered - still
    # One car, one voted passage: its snapshot and decision are timed once, not per frame.
    assert timed("snapshot") == 1
    assert timed("decide_record_barrier") == 1
    assert 'stage="decode"' not in body  # the camera's reader decodes; nothing to time here
    assert 'source="push"' not in body
    assert "沪B7M261" not in body and "B7M261" not in body


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


def test_a_stalled_event_loop_is_counted_with_its_length(
    scraped: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import wait_until

    body = _scrape(scraped)
    assert _sample(body, "parkgate_event_loop_stalls_total") == 0
    assert _sample(body, "parkgate_event_loop_lag_seconds") < 1.0
    # A synchronous call on the app's own loop, as a blocking write would be.
    scraped.portal.call(time.sleep, 1.5)
    wait_until(lambda: _sample(_scrape(scraped), "parkgate_event_loop_stalls_total") == 1,
               10, "the stall to be counted")
    # Counted from the watch's question, which came during the sleep: at least its threshold.
    assert 1.0 <= _sample(_scrape(scraped), "parkgate_event_loop_longest_stall_seconds") < 10
    assert any("event loop has not answered" in r.getMessage() for r in caplog.records)


def test_space_readings_are_counted_by_outcome(scraped: Any) -> None:
    """A sensor whose readings are refused (an unknown space id, garbage) was only counted
    inside the controller and logged, which no dashboard saw; now each outcome is a counter."""
    import json
    from datetime import UTC, datetime

    parking = scraped.app.state.services.parking
    space = next(iter(parking.board.spaces))
    now = datetime.now(UTC).isoformat()
    good = {"space": space, "occupied": True, "ts": now}
    assert parking.ingest_sensor(json.dumps(good).encode()) == "accepted"
    assert parking.ingest_sensor(json.dumps({**good, "space": "NOPE-1"}).encode()) == (
        "unknown_space")
    assert parking.ingest_sensor(b"not json") == "malformed"
    assert parking.ingest_sensor(b"not json either") == "malformed"
    body = _scrape(scraped)
    assert _sample(body, "parkgate_space_readings_total", outcome="accepted") >= 1
    assert _sample(body, "parkgate_space_readings_total", outcome="unknown_space") == 1
    assert _sample(body, "parkgate_space_readings_total", outcome="malformed") == 2
    assert _sample(body, "parkgate_space_readings_total", outcome="topic_mismatch") == 0
