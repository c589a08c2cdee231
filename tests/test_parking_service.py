"""ParkingService against the real Mosquitto broker and database; its small pure helpers."""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from controllers.spaces import SpaceKind
from errors import ConfigError
from models.db import transaction
from models.events import Alarm
from models.people import Household
from models.vehicles import Presence, VisitorPass
from services.availability_cache import TokenBucketLimiter, etag_matches, retry_after_header
from services.parking import topic_space
from services.parking_config import ParkingConfig, demo_spaces, read_spaces_csv, resolve_spaces
from tests.conftest import SHARED_DATA, add_user

BROKER = ("127.0.0.1", 1883)


def broker_up() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def space_state(client: Any, space: str) -> str:
    return str(client.get(f"/api/v1/availability/spaces/{space}").json()["state"])


# ---- sensors over the real broker -------------------------------------------------------------


@pytest.mark.broker
@pytest.mark.skipif(not broker_up(), reason="no MQTT broker on 127.0.0.1:1883")
def test_sensor_payloads_over_mqtt_change_spaces_and_bad_ones_do_not(app_factory: Any) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    client = app_factory(
        parking={
            "sensors": {"enabled": True, "topic": prefix + "/{community}/spaces/+/state"},
            "rate_limit": {"enabled": False},  # the test polls faster than a phone would
        }
    )
    parking = client.app.state.services.parking
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect(*BROKER)
    publisher.loop_start()

    def send(space_in_topic: str, payload: bytes | dict[str, Any]) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        topic = f"{prefix}/demo/spaces/{space_in_topic}/state"
        publisher.publish(topic, body, qos=1).wait_for_publish(5)

    def reading(space: str, occupied: Any) -> dict[str, Any]:
        return {"space": space, "occupied": occupied, "ts": datetime.now(UTC).isoformat(),
                "battery": 80, "rssi": -71}

    try:
        # The subscription is made on connect; resend until the service has heard it.
        deadline = time.monotonic() + 10
        while space_state(client, "A-001") != "occupied":
            assert time.monotonic() < deadline, "sensor payload never reached the service"
            send("A-001", reading("A-001", True))
            time.sleep(0.3)

        send("A-002", b"{not json")
        send("A-002", reading("A-002", 1))  # 0/1 instead of a boolean: a firmware bug
        send("A-002", {"space": "A-002", "occupied": False})  # no timestamp
        send("Z-999", reading("Z-999", False))  # not a configured space
        send("A-002", reading("A-003", False))  # topic and payload disagree
        send("A-005", reading("A-005", False))  # sentinel: everything before it was handled
        wait_until(lambda: space_state(client, "A-005") == "free", what="sentinel")

        assert space_state(client, "A-001") == "occupied"
        assert space_state(client, "A-002") == "unknown"
        assert space_state(client, "A-003") == "unknown"
        stats = parking.stats()
        assert stats["rejected"]["malformed"] == 3
        assert stats["rejected"]["unknown_space"] == 1
        assert stats["rejected"]["topic_mismatch"] == 1
        assert client.get("/healthz").status_code == 200  # nothing crashed
    finally:
        publisher.loop_stop()
        publisher.disconnect()


def test_a_sensor_reporting_a_low_battery_is_said_once_and_its_replacement_too(
    app_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/parking.md: a battery at or below staleness.low_battery_pct "is reported low".
    It was reported nowhere (not the API, the log nor the metrics), so a sensor went silent
    and its space unknown with no warning before. The payloads go through the path the MQTT
    client hands them to."""
    client = app_factory(parking={"sensors": {"simulate": False}})
    parking = client.app.state.services.parking
    topic = parking.topic.replace("+", "A-001")
    start = datetime.now(UTC) - timedelta(seconds=10)

    def send(seconds: int, battery: int | None) -> None:
        at = (start + timedelta(seconds=seconds)).isoformat()
        body = {"space": "A-001", "occupied": False, "ts": at, "battery": battery}
        assert parking.ingest_sensor(json.dumps(body).encode(), topic) == "accepted"

    def said() -> list[tuple[int, str]]:
        return [(r.levelno, r.getMessage()) for r in caplog.records
                if r.name == "services.parking" and "battery" in r.getMessage()]

    caplog.set_level(logging.INFO, logger="services.parking")
    send(0, 80)
    send(1, None)
    assert said() == []
    send(2, 15)  # the default threshold, 15 %: low
    send(3, 9)
    send(4, None)  # a reading without a battery says nothing of it
    assert said() == [(logging.WARNING, (
        "space sensor A-001 reports its battery at 15% (staleness.low_battery_pct 15): "
        "replace it before it goes silent and the space shows as unknown"))]
    send(5, 100)
    send(6, 98)
    assert said()[1:] == [
        (logging.INFO, "space sensor A-001 reports its battery at 100% again (replaced)")]
    assert space_state(client, "A-001") == "free"


# ---- overstay -------------------------------------------------------------------------------


def test_a_visitor_inside_after_the_pass_ended_raises_one_overstay_alarm(
    app_factory: Any,
) -> None:
    client = app_factory(parking={"overstay_check_s": 0.1})
    services = client.app.state.services

    async def first_alarm() -> dict[str, Any]:
        async with services.bus.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.type == "alarm":
                    return dict(event.data)

    listeners = services.bus.subscriber_count
    alarm_event = client.portal.start_task_soon(first_alarm)
    wait_until(lambda: services.bus.subscriber_count > listeners, what="bus subscription")
    now = datetime.now(UTC)
    with transaction(services.sessions) as session:
        host = Household(building="3", unit="502")
        session.add(host)
        session.flush()
        hour = timedelta(hours=1)
        expired = VisitorPass(plate="粤B0VER1", host_household_id=host.id,
                              valid_from=now - 5 * hour, valid_to=now - hour)
        current = VisitorPass(plate="粤B0K222", host_household_id=host.id,
                              valid_from=now - hour, valid_to=now + 2 * hour)
        session.add_all([expired, current])
        session.flush()
        session.add_all([
            Presence(plate="粤B0VER1", zone_id="A", pass_id=expired.id,
                     entered_at=now - timedelta(hours=4)),
            Presence(plate="粤B0K222", zone_id="A", pass_id=current.id,
                     entered_at=now - timedelta(minutes=30)),
            Presence(plate="粤B0WN33", zone_id="A", household_id=host.id,
                     entered_at=now - timedelta(days=3)),  # a resident: no pass, no limit
        ])

    def overstays() -> list[Alarm]:
        with services.sessions() as session:
            return list(session.scalars(select(Alarm).where(Alarm.kind == "overstay")))

    wait_until(lambda: len(overstays()) == 1, what="an overstay alarm")
    time.sleep(0.5)  # several more checks run
    alarms = overstays()
    assert len(alarms) == 1
    assert "粤B0VER1" in alarms[0].message and alarms[0].zone_id == "A"
    assert services.parking.check_overstays() == []  # already raised
    published = alarm_event.result(timeout=5)
    assert (published["kind"], published["id"]) == ("overstay", alarms[0].id)
    listed = client.get(
        "/api/v1/alarms", headers={"Authorization": f"Bearer {add_user(client, 'g', 'guard')}"}
    )
    assert any(a["kind"] == "overstay" for a in listed.json()["items"])


# ---- boards ---------------------------------------------------------------------------------


def test_boards_show_each_zones_free_count_and_follow_corrections(app_factory: Any) -> None:
    client = app_factory(
        parking={"displays": [{"id": "east", "zones": ["A", "B"], "display": {"driver": "sim"}}]}
    )
    board = client.app.state.services.parking.boards["east"]
    wait_until(lambda: board.shown == {"A": 40, "B": 20}, what="boards at start")
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    response = client.put(
        "/api/v1/zones/B/occupancy", json={"occupied": 6, "reason": "counted"}, headers=headers
    )
    assert response.status_code == 200
    wait_until(lambda: board.shown.get("B") == 14, what="board update")
    assert board.history.count(("A", 40)) == 1  # unchanged zones are not re-sent


# ---- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("parkgate/demo/spaces/+/state", "parkgate/demo/spaces/A-001/state", "A-001"),
        ("parkgate/demo/spaces/+/state", "parkgate/demo/spaces/A-001/extra/state", None),
        ("parkgate/+/spaces/+/state", "parkgate/demo/spaces/A-001/state", None),
        ("parkgate/demo/spaces/#", "parkgate/demo/spaces/A-001", None),
    ],
)
def test_space_id_is_taken_from_the_single_wildcard_level(
    topic_filter: str, topic: str, expected: str | None
) -> None:
    assert topic_space(topic_filter, topic) == expected


def test_token_bucket_allows_a_burst_then_the_sustained_rate() -> None:
    clock = [0.0]
    limiter = TokenBucketLimiter(2.0, 3, max_clients=2, clock=lambda: clock[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5) and retry_after_header(wait) == "1"
    assert limiter.take("b") == 0.0  # buckets are per client
    clock[0] += 0.5
    assert limiter.take("a") == 0.0
    clock[0] += 100
    limiter.take("c")
    limiter.take("d")
    assert len(limiter._buckets) <= 2  # the memory bound is the point


@pytest.mark.parametrize(
    ("header", "matches"),
    [(None, False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True), ("*", True),
     ('"abd"', False), ("", False)],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


def test_spaces_csv_is_read_and_bad_rows_name_the_line(tmp_path: Path) -> None:
    good = tmp_path / "spaces.csv"
    good.write_text(
        "id,label,zone,kind,assigned_to,dist_1,dist_3\n"
        "P1-001,1号,A,ev,,12.5,80\n"
        "P1-002,,B,assigned,household:4,,60\n",
        encoding="utf-8",
    )
    first, second = read_spaces_csv(good)
    assert (first.id, first.label, first.kind, first.distances_m) == (
        "P1-001", "1号", SpaceKind.EV, {"1": 12.5, "3": 80.0}
    )
    assert (second.assigned_to, second.distances_m) == ("household:4", {"3": 60.0})

    bad = tmp_path / "bad.csv"
    bad.write_text("id,zone,kind,dist_1\nX-1,A,standard,5\nX-2,A,rocket,5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3"):
        read_spaces_csv(bad)
    (tmp_path / "nozone.csv").write_text("id\nX\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing column"):
        read_spaces_csv(tmp_path / "nozone.csv")


def test_demo_spaces_serve_only_the_builtin_demo_community() -> None:
    config = ParkingConfig()
    assert resolve_spaces(config, {"A", "B"}, explicit=False, community="demo") == demo_spaces()
    # Another community without a parking section has no spaces, even with zones A and B.
    assert resolve_spaces(config, {"A", "B"}, explicit=False, community="海景花园") == []
    assert resolve_spaces(config, {"P1"}, explicit=False, community="demo") == []
    with pytest.raises(ConfigError, match="unknown zones"):
        resolve_spaces(config, {"P1"}, explicit=True, community="海景花园")


@pytest.mark.parametrize("space_id", ["B1/017", "B1+017", "B1#017"])
def test_a_space_no_sensor_topic_can_name_stops_the_start_with_sensors_on(space_id: str) -> None:
    """The sensors' filter names the space at its one '+' level (parkgate/<community>/spaces/
    +/state): a sensor of B1/017 publishing to …/spaces/B1/017/state is two levels there and
    never reached parkgate, and one naming it another way is refused as topic_mismatch, so
    the space stayed unknown for good with nothing said."""
    spaces = [{"id": "B1-001", "zone": "B"}, {"id": space_id, "zone": "B"}]
    config = ParkingConfig.model_validate({"spaces": spaces, "sensors": {"enabled": True}})
    with pytest.raises(ConfigError) as info:
        resolve_spaces(config, {"B"}, explicit=True, community="海景花园")
    assert str(info.value) == (
        f"parking: space id(s) {space_id!r} cannot be reported by a sensor: "
        "parking.sensors.topic 'parkgate/海景花园/spaces/+/state' names the space at its '+' "
        "level, which cannot hold '/', '+' or '#'; rename the space(s) (B1/017 as B1-017)"
    )
    # Without sensors (cameras, or none) such an id is fine, as it is under a filter whose
    # levels do not name the space (the payload's "space" says which it is).
    without = ParkingConfig.model_validate({"spaces": spaces})
    assert len(resolve_spaces(without, {"B"}, explicit=True, community="海景花园")) == 2
    by_payload = ParkingConfig.model_validate(
        {"spaces": spaces, "sensors": {"enabled": True, "topic": "site/spaces/#"}})
    assert len(resolve_spaces(by_payload, {"B"}, explicit=True, community="海景花园")) == 2


# ---- bay cameras ------------------------------------------------------------------------------

UFPR05 = SHARED_DATA / "parking" / "ufpr05"


@pytest.mark.skipif(not (UFPR05 / "sequence1").is_dir(), reason="UFPR05 frames not available")
def test_a_bay_camera_sets_space_states_from_real_frames(
    app_factory: Any, tmp_path: Path
) -> None:
    import shutil

    import cv2

    from vision.space_dataset import common_bays, find_empty_reference, labelled_frames
    from vision.spaces import BayClassifier

    calibration = labelled_frames([UFPR05 / "sequence1"])  # another day than the one watched
    watched = labelled_frames([UFPR05 / "sequence2"])[-1]
    bays = common_bays([*calibration, watched])
    reference = find_empty_reference([UFPR05 / "sequence1"])
    assert reference is not None
    ref_image = cv2.imread(str(reference))
    height, width = ref_image.shape[:2]
    classifier = BayClassifier(bays, width, height)
    classifier.calibrate([f.read() for f in calibration], [f.occupied for f in calibration],
                         ref_image)
    classifier.save(tmp_path / "lot.npz")
    drop = tmp_path / "drop"  # a camera that uploads snapshots into a folder
    drop.mkdir()
    shutil.copy(watched.image_path, drop / watched.image_path.name)

    client = app_factory(parking={
        "rate_limit": {"enabled": False},  # the test polls faster than a phone would
        "spaces": [{"id": f"L-{b.id}", "zone": "A"} for b in bays],
        "cameras": [{
            "id": "lot", "source": str(drop), "frame_width": width, "frame_height": height,
            "bays_xml": str(watched.xml_path), "reference_image": str(reference),
            "model_path": str(tmp_path / "lot.npz"),
            "bay_spaces": {b.id: f"L-{b.id}" for b in bays},
            "every_s": 0.05, "smoothing": {"window": 1, "min_agree": 1},
        }],
    })

    def states() -> dict[str, dict[str, Any]]:
        body = client.get("/api/v1/availability/spaces").json()
        return {s["id"]: s for s in body["spaces"]}

    wait_until(lambda: all(s["source"] == "camera" for s in states().values()), timeout=20,
               what="camera states")
    seen = states()
    truth = {f"L-{b.id}": occ for b, occ in zip(bays, watched.occupied, strict=True)}
    agree = sum((seen[sid]["state"] == "occupied") == occ for sid, occ in truth.items())
    assert agree / len(truth) >= 0.9, f"{agree}/{len(truth)} bays agree with the labels"


@pytest.mark.skipif(not (UFPR05 / "sequence1").is_dir(), reason="UFPR05 frames not available")
def test_a_bay_frame_of_another_size_is_refused_naming_its_camera(
    app_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found dropping a real lot photo at half size into a bay camera's folder: the frame was
    skipped with "bay frame rejected (1 so far): frame is 640x360 but the bays were calibrated
    for 1280x720", which did not say which camera, on a site with one per lot or level."""
    import cv2

    from vision.space_dataset import find_empty_reference, labelled_frames
    from vision.spaces import BayClassifier

    calibration = labelled_frames([UFPR05 / "sequence1"])
    reference = find_empty_reference([UFPR05 / "sequence1"])
    assert reference is not None
    ref_image = cv2.imread(str(reference))
    height, width = ref_image.shape[:2]
    bays = calibration[0].bays
    classifier = BayClassifier(bays, width, height)
    classifier.calibrate([f.read() for f in calibration], [f.occupied for f in calibration],
                         ref_image)
    classifier.save(tmp_path / "lot.npz")
    drop = tmp_path / "drop"
    drop.mkdir()
    small = cv2.resize(calibration[-1].read(), (width // 2, height // 2))
    assert cv2.imwrite(str(drop / "small.jpg"), small)

    caplog.set_level(logging.INFO, logger="vision.spaces")
    app_factory(parking={
        "spaces": [{"id": f"L-{b.id}", "zone": "A"} for b in bays],
        "cameras": [{
            "id": "lot-east", "source": str(drop), "frame_width": width,
            "frame_height": height, "bays_xml": str(calibration[0].xml_path),
            "reference_image": str(reference), "model_path": str(tmp_path / "lot.npz"),
            "bay_spaces": {b.id: f"L-{b.id}" for b in bays}, "every_s": 0.05,
        }],
    })

    def refused() -> list[str]:
        return [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]

    wait_until(lambda: bool(refused()), timeout=20, what="the frame refused")
    assert refused() == [
        f"bay camera lot-east: bay frame rejected (1 in a row, 1 so far): frame is {width // 2}x"
        f"{height // 2} but the bays were calibrated for {width}x{height}"
    ]


def test_unknown_parking_keys_are_refused_naming_the_key() -> None:
    from settings import load_settings

    with pytest.raises(ConfigError, match=r"parking\.bogus"):
        load_settings(None, parking={"bogus": 1})
    with pytest.raises(ConfigError, match="hold_minutes"):
        load_settings(None, parking={"hold_minutes": 0})


def test_zone_cache_reads_once_for_many_requests_and_never_serves_an_old_commit(
    make_settings: Any,
) -> None:
    import asyncio

    from models.db import create_db_engine, make_session_factory, migrate
    from models.site import Zone
    from services.availability_cache import AvailabilityCache
    from services.site import sync_site

    settings = make_settings()
    engine = create_db_engine(settings.resolved_database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        sync_site(session, settings.community)
    clock = [0.0]
    cache = AvailabilityCache(sessions, max_age_s=2.0, clock=lambda: clock[0])

    def occupied_a(snap: Any) -> int:
        return int(next(z["occupied"] for z in snap.data["zones"] if z["id"] == "A"))

    async def scenario() -> None:
        first = await cache.current()
        assert cache.rebuilds == 1
        # Many requests at once on an old (not outdated) snapshot: served as is, one refresh.
        clock[0] = 5.0
        served = await asyncio.gather(*(cache.current() for _ in range(20)))
        assert all(s is first for s in served)
        await asyncio.sleep(0.5)
        assert cache.rebuilds == 2
        # A commit to a zone: every request waits for, and gets, the new count; one read.
        with transaction(sessions) as session:
            session.get(Zone, "A").occupied = 9  # type: ignore[union-attr]
        served = await asyncio.gather(*(cache.current() for _ in range(20)))
        assert {occupied_a(s) for s in served} == {9}
        assert cache.rebuilds == 3
        assert cache.body(lambda d: b"x", served[0]) is cache.body(lambda d: b"y", served[0])

    try:
        asyncio.run(scenario())
    finally:
        cache.close()
        engine.dispose()
