"""The ``parking:`` section of the settings: spaces, their sensors and cameras, guidance, boards.

Kept apart from ``services/parking.py`` so that loading the settings does not import paho or
start anything. Example (YAML)::

    parking:
      spaces:
        - {id: A-001, zone: A, kind: standard, distances_m: {"1": 40, "3": 120}}
        - {id: A-002, zone: A, kind: ev, distances_m: {"1": 45}}
      spaces_csv: /etc/parkgate/spaces.csv   # id,label,zone,kind,assigned_to,dist_<building>…
      sensors: {enabled: true, host: 10.0.0.2, topic: "parkgate/{community}/spaces/+/state"}
      hold_minutes: 3
      displays:
        - {id: east-board, zones: [A, B], display: {driver: mqtt, host: 10.0.0.2}}
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from controllers.spaces import SpaceKind, SpaceRecord, StalenessConfig
from errors import ConfigError
from hardware.config import DisplayConfig
from vision.space_config import CameraBaysConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpaceSensorMqttConfig(_Strict):
    enabled: bool = Field(False, description="Subscribe to per-space sensors over MQTT.")
    host: str = Field("127.0.0.1", description="MQTT broker host the sensors publish to.")
    port: int = Field(1883, description="MQTT broker port.", ge=1, le=65535)
    topic: str = Field(
        "parkgate/{community}/spaces/+/state",
        description="Subscription filter; '{community}' is replaced by the community name. "
        "Payload schema: docs/parking.md.",
    )
    qos: int = Field(1, description="Subscription QoS.", ge=0, le=2)
    username: str | None = Field(None, description="Broker user name, if required.")
    password: SecretStr | None = Field(None, description="Broker password (set via env).")
    simulate: bool | None = Field(
        None,
        description="Feed the spaces from a simulated car park (demo, development). Default: "
        "on only for the built-in demo community without a parking section.",
    )


class DisplayBoardConfig(_Strict):
    id: str = Field(description="Board name used in logs.", min_length=1)
    zones: list[str] = Field(description="Zone ids whose free count the board shows.", min_length=1)
    display: DisplayConfig = Field(description="Driver of the board (sim, mqtt, modbus, http).")


class RateLimitConfig(_Strict):
    enabled: bool = Field(True, description="Limit requests per client IP on public endpoints.")
    rate_per_s: float = Field(20.0, description="Sustained requests per second per IP.", gt=0)
    burst: int = Field(40, description="Requests a client may send at once (bucket size).", ge=1)
    max_clients: int = Field(
        10_000, description="Buckets kept in memory; full idle buckets are dropped first.", ge=1
    )


class ParkingConfig(_Strict):
    spaces: list[SpaceRecord] = Field(
        default_factory=lambda: demo_spaces(),
        description="Parking spaces (id, label, zone, kind, distances_m to buildings, "
        "assigned_to). Default: demo spaces for the demo community's zones A and B.",
    )
    spaces_csv: Path | None = Field(
        None,
        description="CSV of more spaces: columns id, zone, and optionally label, kind, "
        "assigned_to, and dist_<building> (metres) per building.",
    )
    staleness: StalenessConfig = Field(
        default_factory=StalenessConfig, description="When sensor/camera readings age out."
    )
    sensors: SpaceSensorMqttConfig = Field(
        default_factory=SpaceSensorMqttConfig, description="Per-space sensors over MQTT."
    )
    cameras: list[CameraBaysConfig] = Field(
        default_factory=list, description="Cameras watching bays (vision/space_config.py)."
    )
    hold_minutes: float = Field(
        3.0, description="How long a recommended space is held for a driver.", gt=0, le=60
    )
    auto_hold: bool = Field(
        True, description="Hold the best space for a resident as their entry is allowed."
    )
    zone_weight_m: float = Field(
        30.0, description="Guidance: extra metres a full zone counts as (spreads cars).", ge=0
    )
    displays: list[DisplayBoardConfig] = Field(
        default_factory=list, description="Free-space boards (余位屏) and their zones."
    )
    display_refresh_s: float = Field(
        60.0, description="Re-send every board's values this often (boards that rebooted).", gt=0
    )
    overstay_check_s: float = Field(
        60.0, description="How often visitor cars past their pass are looked for.", gt=0
    )
    rate_limit: RateLimitConfig = Field(
        default_factory=RateLimitConfig, description="Per-IP limit on the public endpoints."
    )
    stream_heartbeat_s: float = Field(
        15.0, description="Comment line sent on idle availability streams.", gt=0
    )
    max_streams: int = Field(
        200, description="Concurrent availability streams; more get HTTP 503.", ge=1
    )

    @model_validator(mode="after")
    def verify_boards_and_cameras(self) -> ParkingConfig:
        ids = [c.id for c in self.cameras]
        if len(set(ids)) != len(ids):
            raise ValueError("parking.cameras: camera ids repeat")
        boards = [d.id for d in self.displays]
        if len(set(boards)) != len(boards):
            raise ValueError("parking.displays: board ids repeat")
        return self


def demo_spaces() -> list[SpaceRecord]:
    """A handful of spaces in the demo zones, so guidance works out of the box for every
    building the demo's households live in (3, 5, 8) and building 1."""

    def space(
        sid: str, zone: str, d1: float, d3: float, d5: float, d8: float,
        kind: SpaceKind = SpaceKind.STANDARD,
    ) -> SpaceRecord:
        return SpaceRecord(
            id=sid, label=sid, zone=zone, kind=kind,
            distances_m={"1": d1, "3": d3, "5": d5, "8": d8},
        )

    return [
        space("A-001", "A", 30, 140, 220, 260),
        space("A-002", "A", 35, 135, 215, 255),
        space("A-003", "A", 60, 90, 180, 230, SpaceKind.ACCESSIBLE),
        space("A-004", "A", 80, 60, 150, 210, SpaceKind.EV),
        space("A-005", "A", 110, 40, 120, 190),
        space("B-001", "B", 200, 120, 30, 80),
        space("B-002", "B", 190, 110, 40, 65, SpaceKind.EV),
        space("B-003", "B", 180, 100, 55, 35),
    ]


def read_spaces_csv(path: Path) -> list[SpaceRecord]:
    """Spaces from a CSV file (``ConfigError`` naming the file and line on bad rows)."""
    if not path.is_file():
        raise ConfigError(f"parking.spaces_csv: {path} does not exist")
    records: list[SpaceRecord] = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "zone"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                distances = {
                    key.removeprefix("dist_"): float(value)
                    for key, value in row.items()
                    if key and key.startswith("dist_") and value not in (None, "")
                }
                records.append(
                    SpaceRecord(
                        id=(row.get("id") or "").strip(),
                        label=(row.get("label") or "").strip(),
                        zone=(row.get("zone") or "").strip(),
                        kind=SpaceKind((row.get("kind") or "standard").strip()),
                        distances_m=distances,
                        assigned_to=(row.get("assigned_to") or "").strip() or None,
                    )
                )
            except (ValueError, ValidationError) as err:
                raise ConfigError(f"{path} line {line}: {err}") from err
    return records


DEMO_COMMUNITY = "demo"  # settings.demo_community().name


def uses_builtin_demo(community: str, *, explicit: bool) -> bool:
    """True for the built-in demo community when no ``parking`` section was given."""
    return not explicit and community == DEMO_COMMUNITY


def resolve_spaces(
    parking: ParkingConfig, zone_ids: set[str], *, explicit: bool, community: str
) -> list[SpaceRecord]:
    """The configured spaces (inline + CSV), checked against the community's zones.

    When the ``parking`` section was not given (``explicit`` False) the demo spaces serve
    only the built-in demo community: a real community without spaces configured simply has
    none, rather than failing to start or showing made-up spaces.
    """
    records = list(parking.spaces)
    if parking.spaces_csv is not None:
        records.extend(read_spaces_csv(parking.spaces_csv))
    if not explicit and not (
        uses_builtin_demo(community, explicit=explicit) and {r.zone for r in records} <= zone_ids
    ):
        return []
    verify_space_zones(records, zone_ids)
    if parking.sensors.enabled:
        verify_sensor_topic_levels(records, parking.sensors.topic.replace("{community}", community))
    return records


# What one level of a topic a sensor publishes to cannot hold: "/" makes two levels of it,
# and the broker refuses a published topic with a wildcard.
_NOT_IN_A_TOPIC_LEVEL = "/+#"


def verify_sensor_topic_levels(records: list[SpaceRecord], topic_filter: str) -> None:
    """With the filter's one ``+`` level standing for the space id (the default filter), a
    sensor reports its space on a topic naming it at that level and the reading is refused
    when the two differ (``topic_mismatch``). A space whose id holds ``/``, ``+`` or ``#``
    could not be named there: no reading of its sensor was ever taken, with nothing said at
    the start, and the space stayed unknown."""
    if topic_filter.split("/").count("+") != 1:
        return  # no level names the space: the payload's "space" alone says which it is
    bad = [r.id for r in records if any(c in r.id for c in _NOT_IN_A_TOPIC_LEVEL)]
    if bad:
        raise ConfigError(
            f"parking: space id(s) {', '.join(repr(i) for i in bad)} cannot be reported by a "
            f"sensor: parking.sensors.topic {topic_filter!r} names the space at its '+' "
            "level, which cannot hold '/', '+' or '#'; rename the space(s) (B1/017 as "
            "B1-017)"
        )


def verify_space_zones(records: list[SpaceRecord], zone_ids: set[str]) -> None:
    ids = [r.id for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"parking: duplicate space id(s): {', '.join(dupes)}")
    unknown = sorted({f"{r.id} ({r.zone})" for r in records if r.zone not in zone_ids})
    if unknown:
        raise ConfigError(
            f"parking: space(s) in unknown zones: {', '.join(unknown)}; zones are "
            f"{', '.join(sorted(zone_ids)) or 'none'}"
        )


