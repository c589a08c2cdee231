"""Space state: sensor payloads, reconciliation with staleness, zone totals, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from controllers.spaces import (
    CameraReading,
    Ingest,
    SensorReading,
    SpaceBoard,
    SpaceKind,
    SpaceRecord,
    SpaceState,
    SpaceStatus,
    StalenessConfig,
    StateSource,
    ZoneCount,
    parse_sensor_payload,
    reconcile,
    zone_availability,
)
from errors import InvalidInputError

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
CFG = StalenessConfig(sensor_max_age_s=600, camera_max_age_s=60, counting_max_age_s=3600)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# --- payloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00Z","battery":87}',
            SensorReading("A-017", True, NOW, 87),
        ),
        (
            b'{"space":"A-017","occupied":false,"ts":"2026-11-28T18:00:00+08:00"}',
            SensorReading("A-017", False, NOW, None),
        ),
        (
            b'{"space":" B-1 ","occupied":false,"ts":"2026-11-28T10:00:00Z","battery":null,'
            b'"rssi":-71}',
            SensorReading("B-1", False, NOW, None),
        ),
        (
            '{"space":"地下-017","occupied":true,"ts":"2026-11-28T10:00:00.000Z"}'.encode(),
            SensorReading("地下-017", True, NOW, None),
        ),
    ],
)
def test_parse_sensor_payload_accepts(payload: bytes, expected: SensorReading) -> None:
    assert parse_sensor_payload(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        b'"A-017"',
        b'{"occupied":true,"ts":"2026-11-28T10:00:00Z"}',  # no space
        b'{"space":"","occupied":true,"ts":"2026-11-28T10:00:00Z"}',
        b'{"space":17,"occupied":true,"ts":"2026-11-28T10:00:00Z"}',
        b'{"space":"' + b"x" * 65 + b'","occupied":true,"ts":"2026-11-28T10:00:00Z"}',
        b'{"space":"A-017","ts":"2026-11-28T10:00:00Z"}',  # no occupied
        b'{"space":"A-017","occupied":1,"ts":"2026-11-28T10:00:00Z"}',
        b'{"space":"A-017","occupied":"true","ts":"2026-11-28T10:00:00Z"}',
        b'{"space":"A-017","occupied":true}',  # no ts
        b'{"space":"A-017","occupied":true,"ts":1764324000}',
        b'{"space":"A-017","occupied":true,"ts":"yesterday"}',
        b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00"}',  # naive
        b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00Z","battery":101}',
        b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00Z","battery":-1}',
        b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00Z","battery":"87"}',
        b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00Z","battery":true}',
        b'{"space":"A-017","occupied":true,"ts":"2026-11-28T10:00:00Z","pad":"'
        + b"x" * 2000
        + b'"}',
    ],
)
def test_parse_sensor_payload_refuses(payload: bytes) -> None:
    with pytest.raises(InvalidInputError):
        parse_sensor_payload(payload)


# --- reconciliation ----------------------------------------------------------------------------

S_OCC_FRESH = SensorReading("A", True, ago(10))
S_FREE_FRESH = SensorReading("A", False, ago(10))
S_OCC_STALE = SensorReading("A", True, ago(601))
S_LOW = SensorReading("A", False, ago(10), battery=15)
C_OCC_FRESH = CameraReading("A", True, ago(5))
C_FREE_FRESH = CameraReading("A", False, ago(5))
C_FREE_STALE = CameraReading("A", False, ago(61))


@pytest.mark.parametrize(
    ("sensor", "camera", "state", "source", "conflict", "low"),
    [
        (None, None, SpaceState.UNKNOWN, StateSource.NONE, False, False),
        (S_OCC_FRESH, None, SpaceState.OCCUPIED, StateSource.SENSOR, False, False),
        (S_FREE_FRESH, None, SpaceState.FREE, StateSource.SENSOR, False, False),
        (None, C_FREE_FRESH, SpaceState.FREE, StateSource.CAMERA, False, False),
        (None, C_OCC_FRESH, SpaceState.OCCUPIED, StateSource.CAMERA, False, False),
        # the sensor wins over the camera, and a disagreement is flagged
        (S_OCC_FRESH, C_OCC_FRESH, SpaceState.OCCUPIED, StateSource.SENSOR, False, False),
        (S_OCC_FRESH, C_FREE_FRESH, SpaceState.OCCUPIED, StateSource.SENSOR, True, False),
        (S_FREE_FRESH, C_OCC_FRESH, SpaceState.FREE, StateSource.SENSOR, True, False),
        # a stale source does not count (and cannot conflict)
        (S_OCC_STALE, C_FREE_FRESH, SpaceState.FREE, StateSource.CAMERA, False, False),
        (S_FREE_FRESH, C_FREE_STALE, SpaceState.FREE, StateSource.SENSOR, False, False),
        (S_OCC_FRESH, C_FREE_STALE, SpaceState.OCCUPIED, StateSource.SENSOR, False, False),
        (S_OCC_STALE, C_FREE_STALE, SpaceState.UNKNOWN, StateSource.NONE, False, False),
        (S_OCC_STALE, None, SpaceState.UNKNOWN, StateSource.NONE, False, False),
        # low battery is reported whatever the state
        (S_LOW, None, SpaceState.FREE, StateSource.SENSOR, False, True),
    ],
)
def test_reconcile(
    sensor: SensorReading | None,
    camera: CameraReading | None,
    state: SpaceState,
    source: StateSource,
    conflict: bool,
    low: bool,
) -> None:
    status = reconcile("A", sensor, camera, NOW, CFG)
    assert (status.state, status.source, status.conflict, status.low_battery) == (
        state,
        source,
        conflict,
        low,
    )


def test_reconcile_at_exact_max_age_is_still_fresh() -> None:
    status = reconcile("A", SensorReading("A", True, ago(600)), None, NOW, CFG)
    assert status.state is SpaceState.OCCUPIED and status.at == ago(600)


def _statuses(free: int, occupied: int, unknown: int) -> list[SpaceStatus]:
    out = []
    for n, state in (
        (free, SpaceState.FREE),
        (occupied, SpaceState.OCCUPIED),
        (unknown, SpaceState.UNKNOWN),
    ):
        out += [SpaceStatus(f"{state}-{i}", state, StateSource.SENSOR, NOW) for i in range(n)]
    return out


@pytest.mark.parametrize(
    ("free", "occupied", "unknown", "count", "counted", "estimate"),
    [
        (3, 5, 2, None, None, 3),  # no counting: promise only what is seen free
        (3, 5, 2, ZoneCount("Z", 10, 6, ago(60)), 4, 4),  # counting fills in unknowns
        (3, 5, 2, ZoneCount("Z", 10, 9, ago(60)), 1, 3),  # never below the seen-free
        (3, 5, 2, ZoneCount("Z", 10, 0, ago(60)), 10, 5),  # never above free + unknown
        (3, 5, 2, ZoneCount("Z", 10, 12, ago(60)), 0, 3),  # over-count clamps to 0 free
        (3, 5, 2, ZoneCount("Z", 10, 6, ago(3601)), None, 3),  # stale counting ignored
        (0, 0, 10, ZoneCount("Z", 10, 7, ago(60)), 3, 3),  # cameras down: counting decides
    ],
)
def test_zone_availability(
    free: int,
    occupied: int,
    unknown: int,
    count: ZoneCount | None,
    counted: int | None,
    estimate: int,
) -> None:
    zone = zone_availability("Z", _statuses(free, occupied, unknown), count, NOW, CFG)
    assert (zone.free, zone.occupied, zone.unknown, zone.spaces) == (
        free,
        occupied,
        unknown,
        free + occupied + unknown,
    )
    assert (zone.counted_free, zone.estimated_free) == (counted, estimate)
    assert zone.occupancy == pytest.approx(1 - estimate / zone.spaces)


def test_zone_without_spaces_has_zero_occupancy() -> None:
    assert zone_availability("Z", [], None, NOW, CFG).occupancy == 0.0


# --- the board: bad input never changes state --------------------------------------------------


def _board() -> SpaceBoard:
    return SpaceBoard(
        [
            SpaceRecord(id="A-001", zone="A", distances_m={"1": 40}),
            SpaceRecord(id="A-002", zone="A", kind=SpaceKind.EV),
            SpaceRecord(id="B-001", zone="B"),
        ],
        CFG,
    )


def _payload(space: str, occupied: bool, at: datetime) -> bytes:
    ts = at.isoformat().replace("+00:00", "Z")
    return f'{{"space":"{space}","occupied":{str(occupied).lower()},"ts":"{ts}"}}'.encode()


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        (b"{garbage", Ingest.MALFORMED),
        (b'{"space":"A-001","occupied":"yes","ts":"2026-11-28T10:00:00Z"}', Ingest.MALFORMED),
        (_payload("Z-999", False, NOW), Ingest.UNKNOWN_SPACE),
        (_payload("A-001", False, NOW + timedelta(minutes=5)), Ingest.FROM_FUTURE),
        (_payload("A-001", False, ago(120)), Ingest.OUT_OF_ORDER),  # older than the last
    ],
)
def test_bad_sensor_input_is_counted_and_changes_nothing(payload: bytes, outcome: Ingest) -> None:
    board = _board()
    assert board.ingest_sensor_payload(_payload("A-001", True, ago(60)), NOW) is Ingest.ACCEPTED
    before = board.views(NOW)
    assert board.ingest_sensor_payload(payload, NOW) is outcome
    assert board.views(NOW) == before
    assert board.rejected[outcome] == 1 and board.accepted == 1


def test_board_sensor_then_camera_then_staleness() -> None:
    board = _board()
    assert board.ingest_sensor_payload(_payload("A-001", True, ago(30)), NOW) is Ingest.ACCEPTED
    assert board.ingest_sensor_payload(_payload("A-001", False, ago(10)), NOW) is Ingest.ACCEPTED
    assert board.apply_camera(CameraReading("A-002", True, ago(5)), NOW) is Ingest.ACCEPTED
    assert board.apply_camera(CameraReading("nope", True, ago(5)), NOW) is Ingest.UNKNOWN_SPACE
    states = {v.id: v.state for v in board.views(NOW)}
    assert states == {
        "A-001": SpaceState.FREE,
        "A-002": SpaceState.OCCUPIED,
        "B-001": SpaceState.UNKNOWN,
    }
    later = NOW + timedelta(seconds=120)  # the camera (60 s) is stale, the sensor is not
    states = {v.id: v.state for v in board.views(later)}
    assert states["A-002"] is SpaceState.UNKNOWN and states["A-001"] is SpaceState.FREE
    zones = board.zones(NOW, {"A": ZoneCount("A", 2, 1, ago(10)), "C": ZoneCount("C", 5, 0, NOW)})
    assert sorted(zones) == ["A", "B", "C"]
    assert zones["A"].estimated_free == 1 and zones["C"].counted_free == 5
    assert board.status("A-001", NOW).source is StateSource.SENSOR
    with pytest.raises(KeyError):
        board.status("nope", NOW)


def test_board_refuses_duplicate_space_ids() -> None:
    with pytest.raises(ValueError, match="A-001"):
        SpaceBoard([SpaceRecord(id="A-001", zone="A"), SpaceRecord(id="A-001", zone="B")])


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "", "zone": "A"},
        {"id": "A-1"},  # no zone
        {"id": "A-1", "zone": "A", "kind": "vip"},
        {"id": "A-1", "zone": "A", "distances_m": {"1": -5}},
        {"id": "A-1", "zone": "A", "distances_m": {"1": float("inf")}},
        {"id": "A-1", "zone": "A", "colour": "blue"},  # extra key
    ],
)
def test_space_record_refuses(fields: dict) -> None:
    with pytest.raises(ValidationError):
        SpaceRecord(**fields)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"space_id": "", "occupied": True, "at": NOW},
        {"space_id": "A", "occupied": True, "at": datetime(2026, 1, 1)},
        {"space_id": "A", "occupied": True, "at": NOW, "battery": 101},
    ],
)
def test_sensor_reading_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SensorReading(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"space_id": "", "occupied": True, "at": NOW},
        {"space_id": "A", "occupied": True, "at": datetime(2026, 1, 1)},
    ],
)
def test_camera_reading_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CameraReading(**kwargs)
