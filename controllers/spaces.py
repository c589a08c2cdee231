"""Which parking spaces are free: per-space sensors, camera bays and zone counting reconciled.

Pure: no camera, broker, database or clock of its own. Callers pass readings and ``now``.

Sources and priority (per space):

1. **Sensor** (ultrasonic / geomagnetic, one per space, over MQTT) when its last reading is
   younger than ``StalenessConfig.sensor_max_age_s``: it sits in the bay and sees nothing else.
2. **Camera** bay state when its last *reliable* frame is younger than
   ``camera_max_age_s`` (``vision.spaces.BayMonitor`` stops advancing the timestamp on frames
   where many bays flip at once, so a shadowed camera ages out by itself).
3. Otherwise **unknown**. Counting never decides one space: it counts cars per zone at the
   gates, so it bounds a zone's free total (``zone_availability``) and is the fallback when
   spaces are unknown.

When a fresh sensor and a fresh camera disagree the sensor wins and the status says
``conflict=True`` so maintenance can look at one or the other.

Bad input (malformed payload, unknown space, reading from the future, out of order) is
counted in ``SpaceBoard.rejected`` and returned as an ``Ingest`` outcome; it never raises
out of ``SpaceBoard.ingest_*`` and never changes a space's state.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from errors import InvalidInputError

MAX_PAYLOAD_BYTES = 1024
MAX_SPACE_ID_LENGTH = 64

# A building is written "3", "3栋", "3幢", "3号楼" or "3座" by different people: households
# are usually typed with the word (the demo's are "3栋"), space distances and driver apps
# often without it, and each must find the other.
_BUILDING_SUFFIXES = ("号楼", "栋", "幢", "座")


def building_key(name: str) -> str:
    """The form a building is matched in: NFKC (full-width "３" is "3"), whitespace
    collapsed, and one trailing 栋/幢/号楼/座 dropped (a name that is only the word stays)."""
    key = " ".join(unicodedata.normalize("NFKC", name).split())
    for suffix in _BUILDING_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key.removesuffix(suffix).rstrip()
    return key


class SpaceState(StrEnum):
    FREE = "free"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"


class SpaceKind(StrEnum):
    STANDARD = "standard"
    ACCESSIBLE = "accessible"  # 无障碍车位
    EV = "ev"  # 充电车位: keep for cars that charge
    VISITOR = "visitor"  # 访客车位
    ASSIGNED = "assigned"  # 产权/租赁车位: one household's own space


class StateSource(StrEnum):
    SENSOR = "sensor"
    CAMERA = "camera"
    NONE = "none"


class Ingest(StrEnum):
    """Outcome of offering one reading to the board. Only ACCEPTED changes anything."""

    ACCEPTED = "accepted"
    MALFORMED = "malformed"
    UNKNOWN_SPACE = "unknown_space"
    FROM_FUTURE = "from_future"
    OUT_OF_ORDER = "out_of_order"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpaceRecord(_Strict):
    """One parking space as configured (or loaded from the database)."""

    id: str = Field(
        description="Stable space id used by sensors and the API, e.g. 'A-017'.",
        min_length=1,
        max_length=MAX_SPACE_ID_LENGTH,
    )
    label: str = Field("", description="Text painted on the ground / shown on displays.")
    zone: str = Field(description="Zone id the space belongs to (counted at the zone's gates).")
    kind: SpaceKind = Field(SpaceKind.STANDARD, description="What the space is for.")
    distances_m: dict[str, float] = Field(
        default_factory=dict,
        description="Walking distance in metres from the space to each building id.",
    )
    assigned_to: str | None = Field(
        None, description="Household/resident key owning the space when kind is 'assigned'."
    )

    @field_validator("distances_m")
    @classmethod
    def _building_keys(cls, distances: dict[str, float]) -> dict[str, float]:
        # Kept in the matching form, so "3栋" in a CSV and "3" in a query are one building.
        folded: dict[str, float] = {}
        written: dict[str, str] = {}
        for name, metres in distances.items():
            key = building_key(name)
            if key in folded:
                raise ValueError(
                    f"distances_m names one building twice: {written[key]!r} and {name!r}"
                )
            folded[key], written[key] = metres, name
        return folded

    @model_validator(mode="after")
    def verify_distances(self) -> SpaceRecord:
        bad = {b: d for b, d in self.distances_m.items() if not (math.isfinite(d) and d >= 0)}
        if bad:
            raise ValueError(f"space {self.id}: distances must be finite and ≥ 0, got {bad}")
        return self


class StalenessConfig(_Strict):
    """How old a reading may be before a source no longer counts."""

    sensor_max_age_s: float = Field(
        900.0, description="A sensor silent longer than this is stale (heartbeat + margin).", gt=0
    )
    camera_max_age_s: float = Field(
        120.0, description="Camera bay state older than its last reliable frame + this.", gt=0
    )
    counting_max_age_s: float = Field(
        86_400.0, description="Zone counts older than this are ignored (counts drift).", gt=0
    )
    future_tolerance_s: float = Field(
        30.0, description="Readings stamped further than this in the future are refused.", ge=0
    )
    low_battery_pct: int = Field(
        15, description="Sensor battery at or below this is reported as low.", ge=0, le=100
    )


@dataclass(frozen=True, slots=True)
class SensorReading:
    space_id: str
    occupied: bool
    at: datetime
    battery: int | None = None

    def __post_init__(self) -> None:
        if not self.space_id:
            raise ValueError("SensorReading.space_id must not be empty")
        if self.at.tzinfo is None:
            raise ValueError("SensorReading.at must be timezone-aware")
        if self.battery is not None and not 0 <= self.battery <= 100:
            raise ValueError(f"SensorReading.battery must be in [0, 100], got {self.battery}")


@dataclass(frozen=True, slots=True)
class CameraReading:
    """A space's state from a camera bay; ``at`` is the time of its last reliable frame."""

    space_id: str
    occupied: bool
    at: datetime
    camera_id: str = ""

    def __post_init__(self) -> None:
        if not self.space_id:
            raise ValueError("CameraReading.space_id must not be empty")
        if self.at.tzinfo is None:
            raise ValueError("CameraReading.at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class ZoneCount:
    """Cars counted inside a zone at its gates (entry minus exit), as of ``at``."""

    zone: str
    capacity: int
    inside: int
    at: datetime

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.inside)


@dataclass(frozen=True, slots=True)
class SpaceStatus:
    space_id: str
    state: SpaceState
    source: StateSource
    at: datetime | None  # time of the reading the state comes from
    conflict: bool = False  # fresh sensor and camera disagree
    low_battery: bool = False


@dataclass(frozen=True, slots=True)
class SpaceView:
    """A configured space with its reconciled state: what guidance ranks."""

    id: str
    zone: str
    kind: SpaceKind
    state: SpaceState
    distances_m: Mapping[str, float]
    assigned_to: str | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class ZoneAvailability:
    zone: str
    spaces: int
    free: int
    occupied: int
    unknown: int
    counted_free: int | None  # from fresh gate counting, else None
    estimated_free: int

    @property
    def occupancy(self) -> float:
        """Fraction of the zone believed occupied (0 when the zone has no spaces)."""
        return 1.0 - self.estimated_free / self.spaces if self.spaces else 0.0


def _parse_ts(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidInputError("'ts' must be an ISO-8601 string")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as err:
        raise InvalidInputError(f"'ts' is not ISO-8601: {value[:40]!r}") from err
    if at.tzinfo is None:
        raise InvalidInputError("'ts' needs a timezone (Z or +08:00): local time is ambiguous")
    return at


def parse_sensor_payload(data: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> SensorReading:
    """Parse one MQTT payload from a per-space sensor.

    Schema (UTF-8 JSON object, at most ``max_bytes``)::

        {"space": "A-017", "occupied": true, "ts": "2026-11-28T10:00:00Z", "battery": 87}

    - ``space``: required non-empty string, ≤ 64 characters.
    - ``occupied``: required JSON boolean (``0``/``1`` or ``"true"`` are refused: a firmware that
      sends them has a bug worth seeing).
    - ``ts``: required ISO-8601 time with a timezone (``Z`` or an offset).
    - ``battery``: optional integer percentage 0–100, or ``null``.
    - Other keys (``rssi``, ``fw``…) are ignored so firmware can add fields.

    Raises ``InvalidInputError`` for anything else.
    """
    if len(data) > max_bytes:
        raise InvalidInputError(f"sensor payload is {len(data)} bytes, limit {max_bytes}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"sensor payload is not UTF-8 JSON: {err}") from err
    if not isinstance(obj, dict):
        raise InvalidInputError("sensor payload must be a JSON object")
    space = obj.get("space")
    if not isinstance(space, str) or not space.strip() or len(space) > MAX_SPACE_ID_LENGTH:
        raise InvalidInputError("'space' must be a non-empty string of ≤ 64 characters")
    occupied = obj.get("occupied")
    if not isinstance(occupied, bool):
        raise InvalidInputError("'occupied' must be true or false")
    at = _parse_ts(obj.get("ts"))
    battery = obj.get("battery")
    if battery is not None and (
        isinstance(battery, bool) or not isinstance(battery, int) or not 0 <= battery <= 100
    ):
        raise InvalidInputError("'battery' must be an integer 0-100 or null")
    return SensorReading(space.strip(), occupied, at, battery)


def _fresh(at: datetime | None, now: datetime, max_age_s: float) -> bool:
    return at is not None and (now - at).total_seconds() <= max_age_s


def reconcile(
    space_id: str,
    sensor: SensorReading | None,
    camera: CameraReading | None,
    now: datetime,
    staleness: StalenessConfig,
) -> SpaceStatus:
    """One space's state from its latest sensor and camera readings (see module docstring)."""
    sensor_ok = sensor is not None and _fresh(sensor.at, now, staleness.sensor_max_age_s)
    camera_ok = camera is not None and _fresh(camera.at, now, staleness.camera_max_age_s)
    low = (
        sensor is not None
        and sensor.battery is not None
        and sensor.battery <= staleness.low_battery_pct
    )
    if sensor_ok and sensor is not None:
        conflict = camera_ok and camera is not None and camera.occupied != sensor.occupied
        state = SpaceState.OCCUPIED if sensor.occupied else SpaceState.FREE
        return SpaceStatus(space_id, state, StateSource.SENSOR, sensor.at, conflict, low)
    if camera_ok and camera is not None:
        state = SpaceState.OCCUPIED if camera.occupied else SpaceState.FREE
        return SpaceStatus(space_id, state, StateSource.CAMERA, camera.at, False, low)
    return SpaceStatus(space_id, SpaceState.UNKNOWN, StateSource.NONE, None, False, low)


def zone_availability(
    zone: str,
    statuses: Iterable[SpaceStatus],
    count: ZoneCount | None,
    now: datetime,
    staleness: StalenessConfig,
) -> ZoneAvailability:
    """A zone's free total: per-space states, bounded by gate counting when it is fresh.

    Known-free spaces were seen free, so the estimate is never below them; unknown spaces may
    be either, so it is never above known-free + unknown. Within those bounds the gate count
    decides. Without a fresh count only the known-free spaces are promised.
    """
    states = Counter(s.state for s in statuses)
    free, occupied, unknown = (
        states[SpaceState.FREE],
        states[SpaceState.OCCUPIED],
        states[SpaceState.UNKNOWN],
    )
    counted = (
        count.free
        if count is not None and _fresh(count.at, now, staleness.counting_max_age_s)
        else None
    )
    estimate = free if counted is None else min(max(counted, free), free + unknown)
    return ZoneAvailability(
        zone, free + occupied + unknown, free, occupied, unknown, counted, estimate
    )


class SpaceBoard:
    """The latest reading per source for each configured space, and counters of bad input.

    Pure and in memory: the runtime feeds it MQTT payloads and camera readings, logs the
    non-ACCEPTED outcomes, and asks it for ``views(now)`` to hand to guidance.
    """

    def __init__(
        self, spaces: Sequence[SpaceRecord], staleness: StalenessConfig | None = None
    ) -> None:
        ids = [s.id for s in spaces]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate space ids: {dupes}")
        self.spaces: dict[str, SpaceRecord] = {s.id: s for s in spaces}
        self.staleness = staleness or StalenessConfig()
        self._sensor: dict[str, SensorReading] = {}
        self._camera: dict[str, CameraReading] = {}
        self.rejected: Counter[Ingest] = Counter()
        self.accepted = 0

    def _check(self, space_id: str, at: datetime, last: datetime | None, now: datetime) -> Ingest:
        if space_id not in self.spaces:
            return Ingest.UNKNOWN_SPACE
        if at - now > timedelta(seconds=self.staleness.future_tolerance_s):
            return Ingest.FROM_FUTURE
        if last is not None and at < last:
            return Ingest.OUT_OF_ORDER  # MQTT QoS 1 redelivery or a reordered queue
        return Ingest.ACCEPTED

    def _count(self, outcome: Ingest) -> Ingest:
        if outcome is Ingest.ACCEPTED:
            self.accepted += 1
        else:
            self.rejected[outcome] += 1
        return outcome

    def apply_sensor(self, reading: SensorReading, now: datetime) -> Ingest:
        last = self._sensor.get(reading.space_id)
        outcome = self._check(reading.space_id, reading.at, last.at if last else None, now)
        if outcome is Ingest.ACCEPTED:
            self._sensor[reading.space_id] = reading
        return self._count(outcome)

    def ingest_sensor_payload(self, data: bytes, now: datetime) -> Ingest:
        """Parse and apply one MQTT payload; never raises."""
        try:
            reading = parse_sensor_payload(data)
        except InvalidInputError:
            return self._count(Ingest.MALFORMED)
        return self.apply_sensor(reading, now)

    def apply_camera(self, reading: CameraReading, now: datetime) -> Ingest:
        last = self._camera.get(reading.space_id)
        outcome = self._check(reading.space_id, reading.at, last.at if last else None, now)
        if outcome is Ingest.ACCEPTED:
            self._camera[reading.space_id] = reading
        return self._count(outcome)

    def status(self, space_id: str, now: datetime) -> SpaceStatus:
        if space_id not in self.spaces:
            raise KeyError(space_id)
        return reconcile(
            space_id, self._sensor.get(space_id), self._camera.get(space_id), now, self.staleness
        )

    def view(self, space_id: str, now: datetime) -> SpaceView:
        rec = self.spaces[space_id]
        state = self.status(space_id, now).state
        return SpaceView(
            rec.id, rec.zone, rec.kind, state, rec.distances_m, rec.assigned_to, rec.label
        )

    def views(self, now: datetime) -> tuple[SpaceView, ...]:
        return tuple(self.view(space_id, now) for space_id in self.spaces)

    def zones(
        self, now: datetime, counts: Mapping[str, ZoneCount] | None = None
    ) -> dict[str, ZoneAvailability]:
        by_zone: dict[str, list[SpaceStatus]] = {}
        for rec in self.spaces.values():
            by_zone.setdefault(rec.zone, []).append(self.status(rec.id, now))
        counts = counts or {}
        zones = sorted(set(by_zone) | set(counts))
        return {
            z: zone_availability(z, by_zone.get(z, []), counts.get(z), now, self.staleness)
            for z in zones
        }
