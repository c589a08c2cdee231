"""parkgate's one settings model.

Sources, highest priority first: keyword arguments, ``PARKGATE_*`` environment variables
(nested with ``__``, e.g. ``PARKGATE_API__PORT=9000``), then the YAML/TOML file named by
``--config`` or ``PARKGATE_CONFIG``. With no file, the built-in demo community is used.
Unknown keys are refused with a message naming the key and the file.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from api.console.config import ConsoleConfig
from errors import ConfigError
from hardware.config import (
    BarrierConfig,
    HttpDisplayConfig,
    InputConfig,
    ModbusDisplayConfig,
    MqttDisplayConfig,
    MqttScreenConfig,
    ScreenConfig,
    SimBarrierConfig,
    SimInputConfig,
    SimScreenConfig,
)
from services.calendar_config import CalendarConfig
from services.disk_space import StorageConfig
from services.parking_config import ParkingConfig
from services.schedule_config import ScheduleConfig, schedule_problem
from vision.face_config import FaceRecognitionConfig
from vision.plate_config import PlateRecognitionConfig, PlateVotingConfig

_CONFIG_FILE: ContextVar[Path | None] = ContextVar("parkgate_config_file", default=None)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneConfig(_Strict):
    id: str = Field(description="Zone identifier used in the API, e.g. 'A' or 'B1'.", min_length=1)
    name: str = Field("", description="Human name shown on the console and display boards.")
    capacity: int = Field(description="Number of parking spaces in the zone.", ge=0)


class CameraConfig(_Strict):
    source: str = Field(
        description=(
            "Where frames come from: rtsp://…, http(s)://… (MJPEG or snapshot), a USB index "
            "('0'), a video file path, or a folder of images."
        )
    )
    fps: float = Field(4.0, description="Frames per second to analyse.", gt=0, le=30)
    reconnect_min_s: float = Field(1.0, description="First reconnect back-off delay.", gt=0)
    reconnect_max_s: float = Field(30.0, description="Largest reconnect back-off delay.", gt=0)
    motion_gate: bool = Field(
        True,
        description=(
            "Skip reading frames while the lane is empty and still (an idle camera would "
            "otherwise keep a core busy); a car at the barrier is always read."
        ),
    )
    offline_alarm_s: float = Field(
        30.0,
        description=(
            "A camera whose source answers no read for this long (cannot be opened, stream "
            "stopped, every frame corrupt) raises a camera_offline alarm and shows as down "
            "in /healthz; residents' cars then wait for the guard."
        ),
        ge=5,
    )
    open_timeout_s: float = Field(
        10.0,
        description=(
            "How long connecting to a stream camera (rtsp://, MJPEG) may take, the RTSP "
            "handshake and FFmpeg's first frames included: a camera that accepts the "
            "connection but never answers is given up after this and retried with back-off. "
            "FFmpeg reads about 28 frames before it reports the stream open (2.8 s at "
            "10 fps): a camera sending under 3 fps needs more than the default."
        ),
        gt=0,
        le=120,
    )
    read_timeout_s: float = Field(
        10.0,
        description=(
            "How long a stream camera may send nothing before the connection is dropped and "
            "reopened (a pulled cable leaves the TCP session open). OpenCV's FFmpeg reader "
            "retries a timed-out read, so a silent stream is noticed after up to 3 times this."
        ),
        gt=0,
        le=120,
    )


# A pushing camera's silence is an outage only past this many of its heartbeat intervals: one
# keep-alive lost on the network, and the next one late, must not call the guards.
HEARTBEATS_MISSED = 3


class PushCameraConfig(_Strict):
    """A camera that pushes its frames to the API (``POST /api/v1/gates/{id}/frames``)."""

    heartbeat_s: float | None = Field(
        None,
        description=(
            "How often the camera is heard at the least: the keep-alive (heartbeat) interval "
            "set in the camera, which posts to POST /api/v1/gates/{id}/heartbeat; a pushed "
            "frame counts too. Unset: the camera is not watched (/healthz lists it, once "
            "heard, with watched: false)."
        ),
        gt=0,
        le=3600,
    )
    key_name: str | None = Field(
        None,
        description=(
            "The camera's name in camera_api_keys (the name, not the key). Only that key's "
            "heartbeats and frames say this gate's camera is alive; a heartbeat, frame or "
            "PIN/QR credential (POST /api/v1/gates/{id}/credentials) with another camera's "
            "key is refused: a camera whose URL names the wrong gate would hide this one's "
            "outage or open its barrier, and one leaked key would guess PINs at every gate. "
            "A keypad or QR reader posts with this key too: there is no key of its own for "
            "it (a face terminal's keypad is the same device). Needed with heartbeat_s."
        ),
        min_length=1,
    )
    offline_alarm_s: float = Field(
        30.0,
        description=(
            "As camera.offline_alarm_s: silence before the camera_offline alarm. The alarm "
            f"comes after the longer of this and {HEARTBEATS_MISSED} heartbeat intervals."
        ),
        # Lower than a read camera's 5 s: there is no reconnect back-off to sit out.
        ge=1,
    )

    @property
    def alarm_after_s(self) -> float | None:
        """Silence that raises the alarm; None when the camera is not watched."""
        if self.heartbeat_s is None:
            return None
        return max(self.offline_alarm_s, HEARTBEATS_MISSED * self.heartbeat_s)


class RegionConfig(_Strict):
    x1: float = Field(0.0, description="Left edge as a fraction of the frame width.", ge=0, le=1)
    y1: float = Field(0.0, description="Top edge as a fraction of the frame height.", ge=0, le=1)
    x2: float = Field(1.0, description="Right edge as a fraction of the frame width.", ge=0, le=1)
    y2: float = Field(1.0, description="Bottom edge as a fraction of the frame height.", ge=0, le=1)

    @model_validator(mode="after")
    def verify_ordered(self) -> RegionConfig:
        if not (self.x2 > self.x1 and self.y2 > self.y1):
            raise ValueError("region needs x1 < x2 and y1 < y2")
        return self


class GateConfig(_Strict):
    id: str = Field(description="Gate identifier used in URLs, e.g. 'main-in'.", min_length=1)
    name: str = Field("", description="Human name shown on the console.")
    kind: Literal["vehicle", "pedestrian"] = Field(description="Vehicle barrier or pedestrian.")
    direction: Literal["in", "out"] = Field(description="Whether passing enters or leaves.")
    zone: str | None = Field(None, description=(
        "Zone a vehicle gate counts into (required for an entry). An exit may have none (a "
        "main exit two lots share): a car leaving takes one off the zone that counted it in."))
    camera: CameraConfig | None = Field(None, description="Camera watching the gate, if any.")
    push_camera: PushCameraConfig | None = Field(
        None,
        description=(
            "A gate whose camera (a plate camera, or a face terminal at a pedestrian gate) "
            "pushes frames to the API instead (no camera): how often it is heard, so that "
            "its silence raises camera_offline."
        ),
    )
    region: RegionConfig | None = Field(None, description="Part of the frame plates are read in.")
    barrier: BarrierConfig = Field(
        default_factory=SimBarrierConfig,
        description=(
            "Driver for the barrier or gate motor. Left out, a simulated one: refused in "
            "production (write driver: sim to mean it)."
        ),
    )
    schedule: ScheduleConfig | None = Field(
        None,
        description=(
            "Opening hours per kind of entrant, in community.timezone; outside them an entry "
            "goes to a guard (services/schedule_config.py). None: open at any hour."
        ),
    )
    screen: ScreenConfig | None = Field(
        None,
        description=(
            "The screen beside the gate (车道屏, a face terminal's screen) that tells the person "
            "at it what was decided and where to park: driver sim, mqtt or http "
            "(hardware/config.py). None: the gate has no screen."
        ),
    )

    @field_validator("id")
    @classmethod
    def _one_path_segment(cls, gate_id: str) -> str:
        # The API names a gate in one path segment (/api/v1/gates/<id>/actions, …/frames,
        # …/typed-plate, …/credentials) and the server decodes %2F before routing: a gate
        # with a slash answered 404 to its camera's pushes and to a guard's open by hand,
        # city feed or not. "+" and "#" pass through a URL; they are refused only where they
        # become a topic level (verify_city_topic_level).
        if "/" in gate_id:
            raise ValueError(
                f"gate id {gate_id!r} must not contain '/': the API addresses a gate as "
                f"/api/v1/gates/<id>/… (its camera, a guard's open by hand), which a slash "
                f"breaks: rename it, e.g. {gate_id.replace('/', '-')!r}"
            )
        return gate_id

    @field_validator("schedule", mode="wrap")
    @classmethod
    def _schedule_errors_name_the_gate(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        try:
            return handler(value)
        except ValidationError as err:
            gate = info.data.get("id", "?")
            problems = "; ".join(schedule_problem(e) for e in err.errors())
            raise ValueError(f"gate {gate!r}: {problems}") from err


class CommunityConfig(_Strict):
    name: str = Field(description="Community name, used in MQTT topics and the console.")
    timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone of the community's wall clock; gate schedules are read in it.",
    )
    calendar: CalendarConfig = Field(
        default_factory=CalendarConfig,
        description=(
            "Public holidays and 调休 make-up working days, which gate schedules read as another "
            "weekday (services/calendar_config.py). Default: none, every date is its weekday."
        ),
    )
    zones: list[ZoneConfig] = Field(description="Parking zones with their capacity.")
    gates: list[GateConfig] = Field(description="Vehicle and pedestrian gates.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as 'Asia/Shanghai'"
            ) from err
        # Schedules, report hours and the pass form take a local day as 24 hours at one
        # offset: a zone that changes its clocks would put some of them an hour out.
        year = datetime.now(UTC).year
        offsets = {zone.utcoffset(datetime(year, month, 1)) for month in range(1, 13)}
        if len(offsets) > 1:
            raise ValueError(
                f"time zone {name!r} changes its clocks during the year (daylight saving), "
                "which parkgate does not handle: use a zone with one offset, such as "
                "'Asia/Shanghai' or 'Asia/Urumqi'"
            )
        return name

    def zone_info(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AccessConfig(_Strict):
    anti_passback: Literal["off", "soft", "hard"] = Field(
        "soft",
        description=(
            "Entering twice without leaving: off ignores it, soft allows and flags, hard denies "
            "entry (exits then go to a guard rather than trapping a car)."
        ),
    )
    residents_when_full: Literal["allow", "deny"] = Field(
        "allow", description="Whether residents may still enter a full zone (visitors never)."
    )
    min_plate_confidence: float = Field(
        0.80, description="Reads below this go to a guard instead of deciding.", ge=0, le=1
    )
    fuzzy_max_distance: int = Field(
        1, description="Edit distance allowed between a read and a registered plate.", ge=0, le=2
    )
    fuzzy_province_tolerance: bool = Field(
        False, description="Let a misread province character still match a registered plate."
    )
    fuzzy_province_unsure_below: float = Field(
        0.7,
        description=(
            "Only when the reader's confidence in the province character is below this, let "
            "a plate match a registered one that differs just there (川 on a small or dirty "
            "plate is often read 皖 or 鄂). Exact matches always win; two candidates refuse. "
            "0 turns it off."
        ),
        ge=0,
        le=1,
    )
    offline_decisions: bool = Field(
        True,
        description=(
            "While the database is unreachable, decide vehicles from the last snapshot of "
            "who may pass (else every vehicle goes to a guard). Passages are journalled "
            "locally either way and written to the database when it answers again."
        ),
    )
    offline_refresh_s: float = Field(
        30.0, description="How often the offline snapshot is refreshed.", gt=0, le=3600
    )
    offline_logins: bool = Field(
        True,
        description=(
            "Keep the active staff accounts (name, role, argon2 hash) in "
            "data_dir/journal/staff_accounts.json (mode 600), so guards can log in after a "
            "restart during a database outage. Off: nothing is written (an earlier file is "
            "removed) and after such a restart nobody can log in until the database answers."
        ),
    )
    offline_logins_max_age_days: float = Field(
        7.0,
        description=(
            "A staff accounts file older than this (the controller was off that long, or the "
            "data directory was restored from a backup) is not used: accounts deactivated "
            "since would log in on it. It is rewritten hourly while the database answers "
            "(hence at least 1 day)."
        ),
        ge=1,
    )
    offline_retry_s: float = Field(
        5.0, description="How often a journal waiting for the database is retried.", gt=0,
        le=600,
    )


class ApiConfig(_Strict):
    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, description="HTTP port.", ge=1, le=65535)
    max_upload_bytes: int = Field(10_000_000, description="Largest frame body accepted.", gt=0)
    max_image_pixels: int = Field(40_000_000, description="Largest decoded image.", gt=0)
    max_burst_pixels: int = Field(
        100_000_000,
        description=(
            "Largest total of decoded pixels in one pedestrian-gate burst: its frames are all "
            "held for liveness, so this bounds the memory one request can take (~3 bytes a "
            "pixel). 100 MP is 48 frames of 1080p or 12 of 4K."
        ),
        gt=0,
    )
    max_concurrent_bursts: int = Field(
        4,
        description=(
            "Pedestrian-gate bursts decoded and checked at once in the whole process: each "
            "may hold up to max_burst_pixels (~300 MB), and the face engine takes them one "
            "at a time anyway. One more waits up to burst_wait_s for a slot, then gets 503 "
            "with Retry-After. 4 suits a 2-core box."
        ),
        ge=1,
        le=64,
    )
    max_concurrent_frames: int = Field(
        4,
        description=(
            "Vehicle-gate frames pushed to the API and decoded and read at once in the whole "
            "process (each up to max_image_pixels, ~120 MB); slots of their own, so a crowd "
            "at the pedestrian gates never holds up a car. One more waits up to burst_wait_s, "
            "then gets 503 with Retry-After. Cameras streamed by parkgate's own workers do "
            "not count."
        ),
        ge=1,
        le=64,
    )
    burst_wait_s: float = Field(
        2.0,
        description=(
            "How long a pushed burst or frame waits for a free slot before it is refused "
            "with 503: a resident or a driver at a gate will not wait much longer than that."
        ),
        gt=0,
        le=30,
    )
    token_ttl_minutes: int = Field(720, description="Lifetime of a login token.", gt=0)
    event_heartbeat_s: float = Field(
        15.0,
        description=(
            "Seconds of quiet after which the console's event stream says it is still alive. "
            "The booth page counts a stream silent for two of these (plus 2 s) as lost, shows "
            "it disconnected and connects again: a network that drops packets instead of "
            "refusing them ends no connection, and the page would wait on a dead stream."
        ),
        ge=0.2,
        le=300,
    )
    metrics_token: SecretStr | None = Field(
        None,
        description=(
            "Bearer token Prometheus scrapes GET /metrics with (its scrape config's "
            "'authorization: credentials'); set via PARKGATE_API__METRICS_TOKEN, at least 24 "
            "characters. Unset: /metrics answers only an admin's login."
        ),
    )

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        # Scrapes come over the network, often unencrypted inside a site: a short token
        # is the one thing standing between anyone on that network and the gate states.
        if token is not None and len(token.get_secret_value()) < 24:
            raise ValueError("api.metrics_token must be at least 24 characters")
        return token
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description=(
            "Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed, "
            "so rate limits and the console's login throttle see the real client rather than "
            "the proxy. Empty: trust no header. '*' trusts every peer: only when the server "
            "is reachable through a proxy that overwrites the header."
        ),
    )


class MqttPublishConfig(_Strict):
    enabled: bool = Field(False, description="Publish events and availability to MQTT.")
    host: str = Field("127.0.0.1", description="MQTT broker host.")
    port: int = Field(1883, description="MQTT broker port.", ge=1, le=65535)
    topic_prefix: str = Field("parkgate", description="Topics are <prefix>/<community>/….")
    username: str | None = Field(None, description="Broker user name, if required.")
    password: SecretStr | None = Field(None, description="Broker password (set via env).")
    publish_plates: bool = Field(
        False, description="Send full plates to the city hub; off sends them masked (PIPL)."
    )
    queue_limit: int = Field(
        10_000,
        description=(
            "Passages and alarms kept in memory while the broker is unreachable (or slower than "
            "the gates); beyond it the oldest are dropped and counted. Retained availability "
            "and gate states keep only their latest message and do not count."
        ),
        ge=1,
        le=1_000_000,
    )
    durable_queue: bool = Field(
        True,
        description=(
            "Keep passages and alarms waiting for the broker in <data_dir>/journal/"
            "city_mqtt.jsonl too, so a restart or crash during a broker outage sends them at "
            "the next start; off keeps them in memory only (and removes that file)."
        ),
    )
    reconnect_min_s: float = Field(1.0, description="First reconnect back-off delay.", gt=0)
    reconnect_max_s: float = Field(30.0, description="Largest reconnect back-off delay.", gt=0)
    protocol: Literal["auto", "5", "3.1.1"] = Field(
        "auto",
        description=(
            "MQTT version spoken to the broker. 5 names this controller on its status (and "
            "last will) in a user property, so a hub can tell whose status it is when two "
            "controllers share a community name; 3.1.1 for a broker older than MQTT 5 "
            "(Mosquitto before 1.6), the status then naming no controller. auto: 5, and "
            "3.1.1 from the broker's refusal of 5 on (one WARNING), so an upgrade does not "
            "cut the feed to an old broker."
        ),
    )


class SafetyConfig(_Strict):
    fire_alarm: InputConfig | None = Field(
        default_factory=SimInputConfig,
        description=(
            "Contact from the fire panel. Active: every gate opens and holds until an admin "
            "clears it. The default simulated contact is set from the API (drills, panic)."
        ),
    )


class RetentionConfig(_Strict):
    snapshot_days: int = Field(
        30, description="Snapshots older than this many days are deleted (PIPL).", ge=1
    )
    passage_days: int = Field(
        365,
        description=(
            "Passages older than this many days lose their plate, vehicle, household, "
            "resident, pass and details, keeping time, gate, decision and reason for the "
            "reports; the alarms of that time lose their message and visitor passes ended "
            "that long ago are deleted (PIPL). The audit log is kept whole. 0 keeps everything."
        ),
        ge=0,
    )

    @model_validator(mode="after")
    def _snapshots_go_first(self) -> RetentionConfig:
        # A passage forgets its snapshot's path when anonymised: the file must be gone by then.
        if 0 < self.passage_days < self.snapshot_days:
            raise ValueError(
                f"retention.passage_days ({self.passage_days}) must be 0 or at least "
                f"retention.snapshot_days ({self.snapshot_days})"
            )
        return self


def demo_community() -> CommunityConfig:
    """The built-in community used when no configuration file is given."""
    return CommunityConfig(
        name="demo",
        zones=[
            ZoneConfig(id="A", name="A区地面", capacity=40),
            ZoneConfig(id="B", name="B区地下", capacity=20),
        ],
        gates=[
            # Simulated screens: the demo shows what each gate's screen would tell people.
            GateConfig(id="main-in", name="东门入口", kind="vehicle", direction="in", zone="A",
                       screen=SimScreenConfig()),
            GateConfig(id="main-out", name="东门出口", kind="vehicle", direction="out",
                       zone="A", screen=SimScreenConfig()),
            GateConfig(id="ped-1", name="东门人行", kind="pedestrian", direction="in",
                       screen=SimScreenConfig()),
        ],
    )


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the YAML or TOML file chosen for this load, lowest priority."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get()
        if path is None:
            return {}
        return read_config_file(path)


CONFIG_SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}


def _config_kind(path: Path) -> str:
    """YAML or TOML by the file's suffix, in any case. A file without one is read as YAML
    (``--config <(…)`` is /dev/fd/63); any other suffix is refused, not guessed: an .ini or a
    .json was read as YAML, its INI syntax refused as "not valid ini: expected '<document
    start>'" and a .TOML's as "must hold a mapping"."""
    if not path.suffix:
        return "YAML"
    kind = CONFIG_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"configuration file {path}: {path.suffix} is not a format parkgate reads; "
            "name it .yaml or .yml (YAML) or .toml (TOML)"
        )
    return kind


def read_config_file(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"configuration file {path} is a directory, not a file")
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist")
    kind = _config_kind(path)
    try:
        # utf-8-sig: Windows Notepad may save with a byte-order mark, which TOML refuses as
        # "Invalid statement (at line 1, column 1)".
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        # A file saved by a Windows editor in GBK, or a binary picked by mistake: one line
        # naming the file, not a traceback.
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from err
    try:
        data = tomllib.loads(text) if kind == "TOML" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path} is not valid {kind}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings at the top level")
    return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARKGATE_", env_nested_delimiter="__", extra="forbid"
    )

    environment: Literal["development", "production"] = Field(
        "development", description="production refuses insecure defaults."
    )
    data_dir: Path = Field(Path("data"), description="Database, snapshots and keys live here.")

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_given(cls, value: Any) -> Any:
        # PARKGATE_DATA_DIR= (empty, a half-edited env file) read as ".": the database and
        # keys would be made in whatever directory the command ran from.
        if isinstance(value, str) and not value.strip():
            raise ValueError("data_dir is empty: give a directory, or leave it out for 'data'")
        return value
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite at <data_dir>/parkgate.db."
    )

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str | None) -> str | None:
        # Checked with the rest of the settings: a typo'd URL or another database's driver
        # otherwise surfaced as SQLAlchemy's or an ImportError's traceback at the first
        # connection, exit 1.
        if not url:
            return url
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            parsed = make_url(url)
        except ArgumentError as err:
            raise ValueError(
                "not a database URL: use postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME, "
                "or leave it out for SQLite in data_dir"
            ) from err
        if parsed.drivername in ("postgresql", "postgres"):
            # The form libpq, psql and most hosting panels print; SQLAlchemy's default driver
            # for it (psycopg2) is not installed, psycopg 3 is.
            return parsed.set(drivername="postgresql+psycopg").render_as_string(
                hide_password=False)
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                f"parkgate runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}: use "
                "postgresql+psycopg://…, or leave it out for SQLite in data_dir"
            )
        try:
            parsed.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError) as err:
            raise ValueError(
                f"the {parsed.drivername} driver is not installed: use postgresql+psycopg://…"
            ) from err
        return url
    allow_new_database: bool = Field(
        False,
        description=(
            "Start on a new, empty database although data_dir shows one was used before (its "
            "SQLite file is missing, or the database is empty). Off, parkgate refuses to "
            "start instead, so passages are not lost and ids do not start again at 1 "
            "unnoticed. Also `--allow-new-database`."
        ),
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs login tokens; generated into data_dir in development."
    )
    camera_api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="Camera name → API key for the frame push endpoint."
    )
    community: CommunityConfig = Field(
        default_factory=demo_community, description="Zones and gates of the community."
    )
    access: AccessConfig = Field(default_factory=AccessConfig, description="Decision rules.")
    plates: PlateRecognitionConfig = Field(
        default_factory=PlateRecognitionConfig, description="Plate recognition."
    )
    plate_voting: PlateVotingConfig = Field(
        default_factory=PlateVotingConfig,
        description="Camera workers: how frames of one car are voted into one sighting.",
    )
    faces: FaceRecognitionConfig = Field(
        default_factory=FaceRecognitionConfig, description="Face entry at pedestrian gates."
    )
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API.")
    mqtt: MqttPublishConfig = Field(
        default_factory=MqttPublishConfig, description="City-platform event publishing."
    )
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig,
        description="Guard console: idle time-out, cookie Secure/SameSite, default language.",
    )
    safety: SafetyConfig = Field(default_factory=SafetyConfig, description="Fire alarm.")
    log_full_plates: bool = Field(
        False,
        description=(
            "Log plates whole. Off: log lines carry 闽A1***5 and the passage id "
            "(plate_privacy.py): the log outlives retention.passage_days in journald or a log "
            "collector."
        ),
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="How long personal data is kept."
    )
    parking: ParkingConfig = Field(
        default_factory=ParkingConfig, description="Spaces, sensors, guidance, boards (issue 7)."
    )
    storage: StorageConfig = Field(
        default_factory=StorageConfig,
        description="Free space on data_dir's disk: low-space alarm, snapshots deleted first, "
        "a reserve for the journals.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @model_validator(mode="after")
    def _verify(self) -> Settings:
        # Every rule is checked and each broken one is its own line: a first production start
        # without the secret key and without barriers said only the key, then the barriers at
        # the next try.
        problems: list[str] = []
        community = self.community
        for verify in (
            lambda: verify_unique_ids(community),
            lambda: verify_gate_zones(community),
            lambda: verify_gate_schedules(community),
            lambda: verify_push_cameras(self),
            lambda: verify_production_secrets(self),
            lambda: verify_production_barriers(self),
            lambda: verify_city_topic_level(self),
            lambda: verify_device_topics(self),
            lambda: verify_board_zones(self),
        ):
            try:
                verify()
            except ValueError as err:
                problems.append(str(err))
        if problems:
            raise ConfigProblems(problems)
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'parkgate.db').resolve()}"

    def gate(self, gate_id: str) -> GateConfig | None:
        return next((g for g in self.community.gates if g.id == gate_id), None)

    def signing_key(self) -> str:
        """The token signing key; in development one is generated once and kept in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.data_dir / "secret_key"
        if key_file.is_file():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def verify_unique_ids(community: CommunityConfig) -> None:
    for label, ids in (
        ("zone", [z.id for z in community.zones]),
        ("gate", [g.id for g in community.gates]),
    ):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate {label} id(s): {', '.join(duplicates)}")


def verify_gate_zones(community: CommunityConfig) -> None:
    zone_ids = {z.id for z in community.zones}
    for gate in community.gates:
        # An exit may count into no zone (a main exit two lots share): each car leaving by it
        # comes off the zone that counted it in. An entry must say where the car is counted.
        if gate.kind == "vehicle" and gate.direction == "in" and gate.zone is None:
            raise ValueError(
                f"vehicle entry gate {gate.id!r} needs a zone (the zone its cars are counted in)"
            )
        if gate.zone is not None and gate.zone not in zone_ids:
            raise ValueError(
                f"gate {gate.id!r} names zone {gate.zone!r}, which is not among the zones "
                f"({', '.join(sorted(zone_ids)) or 'none'})"
            )


def verify_board_zones(settings: Settings) -> None:
    """A free-space board is sent the free count of each zone it names, looked up by id: a
    zone not configured (a typo, a different case, a zone retired since), or on a Modbus
    board one without a register, had no count sent, so the board kept its blank or its last
    figure (an MQTT board's is retained on the broker) for good, with nothing in the log."""
    zone_ids = {z.id for z in settings.community.zones}
    for board in settings.parking.displays:
        unknown = [zone for zone in board.zones if zone not in zone_ids]
        if unknown:
            raise ValueError(
                f"parking.displays {board.id!r} names zone(s) "
                f"{', '.join(repr(z) for z in unknown)}, which are not among the zones "
                f"({', '.join(sorted(zone_ids)) or 'none'}): the board would never be sent a "
                "count for them"
            )
        display = board.display
        templates = (
            (display.topic, display.payload) if isinstance(display, MqttDisplayConfig)
            else (display.url,) if isinstance(display, HttpDisplayConfig)
            else None
        )
        if templates is not None and len(board.zones) > 1 and not any(
            "{zone_id}" in template for template in templates
        ):
            # Every zone's count went to the one topic (or URL) with nothing saying whose:
            # the board showed whichever zone changed last as if it were its own.
            raise ValueError(
                f"parking.displays {board.id!r} shows zones {', '.join(board.zones)} but its "
                f"{'topic and payload do' if len(templates) == 2 else 'url does'} not use "
                "{zone_id}: each zone's count would be sent to the same place, the board "
                "unable to tell whose it is; put {zone_id} in it, or one board per zone"
            )
        if isinstance(board.display, ModbusDisplayConfig):
            # A Modbus board writes each zone to its register; a zone with none was skipped
            # (a debug line) and the board kept its figure for good.
            missing = [zone for zone in board.zones if zone not in board.display.registers]
            if missing:
                raise ValueError(
                    f"parking.displays {board.id!r}: zone(s) "
                    f"{', '.join(repr(z) for z in missing)} have no holding register in "
                    f"display.registers ({', '.join(sorted(board.display.registers)) or 'none'}"
                    "): the board would never be sent a count for them"
                )


def verify_gate_schedules(community: CommunityConfig) -> None:
    for gate in community.gates:
        if gate.schedule is None:
            continue
        if gate.direction == "out":
            raise ValueError(
                f"gate {gate.id!r} is an exit: a schedule never holds an exit (nobody is "
                "trapped inside); remove its schedule"
            )
        if gate.kind == "pedestrian" and gate.schedule.allow_list is not None:
            raise ValueError(
                f"gate {gate.id!r} is a pedestrian gate: schedule.allow_list is for "
                "allow-listed vehicles; use resident and visitor"
            )


def verify_push_cameras(settings: Settings) -> None:
    for gate in settings.community.gates:
        push = gate.push_camera
        if push is None:
            continue
        if gate.camera is not None:
            raise ValueError(
                f"gate {gate.id!r} has both camera (parkgate reads it) and push_camera (it "
                "pushes frames): keep the one that matches how the camera delivers"
            )
        if push.heartbeat_s is not None and push.key_name is None:
            raise ValueError(
                f"gate {gate.id!r} has push_camera.heartbeat_s but no push_camera.key_name: "
                "name the camera's key in camera_api_keys, so that only this camera's "
                "heartbeat says it is alive"
            )
        if push.key_name is not None and push.key_name not in settings.camera_api_keys:
            names = ", ".join(sorted(settings.camera_api_keys)) or "none are set"
            raise ValueError(
                f"gate {gate.id!r} has push_camera.key_name {push.key_name!r}, which is not a "
                f"camera of camera_api_keys ({names}): its heartbeat could never be heard"
            )


def verify_production_barriers(settings: Settings) -> None:
    """In production a gate without a barrier would silently drive a simulated one: a real
    barrier that never moves while the console shows it opening."""
    if settings.environment != "production":
        return
    missing = [g.id for g in settings.community.gates if "barrier" not in g.model_fields_set]
    if missing:
        names = ", ".join(repr(gate_id) for gate_id in missing)
        which = f"gate {names} has" if len(missing) == 1 else f"gates {names} have"
        raise ValueError(
            f"{which} no barrier configured: production does not simulate one (give each "
            "gate barrier: {driver: …}; driver: sim only where no barrier is meant)"
        )


# What one MQTT topic level cannot hold: "/" splits levels, "+" and "#" are wildcards (a
# broker refuses them in a topic it is sent, the last will included), NUL is not allowed.
_NOT_IN_A_TOPIC_LEVEL = "/+#\0"


def _characters_of(value: str, refused: str) -> str | None:
    """The characters of ``refused`` that ``value`` holds, as said to the operator ("'+',
    '#'"), or None."""
    bad = sorted({c for c in value if c in refused})
    return ", ".join(repr(c) for c in bad) if bad else None


def _topic_level_problem(value: str) -> str | None:
    """What keeps ``value`` from being one MQTT topic level ("'+', '#'"), or None."""
    return _characters_of(value, _NOT_IN_A_TOPIC_LEVEL) or (None if value else "an empty name")


def _one_level(value: str) -> str:
    """``value`` with a dash for each "/", "+" or "#" and no NUL (a suggested rename)."""
    return "".join("-" if c in "/+#" else c for c in value.replace("\0", ""))


def verify_city_topic_level(settings: Settings) -> None:
    """With the city feed on, ``community.name`` and each gate id are one level of its topics
    (docs/mqtt.md: ``<prefix>/<community>/…``, ``…/gates/<gate_id>/state``): a slash made
    more levels, which a hub subscribed to ``<prefix>/+/availability`` (or
    ``…/gates/+/state``) never gets; ``+`` or ``#`` made the broker refuse every connection
    (in the community's last will) or paho refuse the gate's every state; an empty name broke
    every message's schema. Refused at start rather than published where nobody reads it.
    Zones, spaces and the controller id are in payloads, not topics, and are not checked."""
    if not settings.mqtt.enabled:
        return
    prefix = settings.mqtt.topic_prefix
    name = settings.community.name
    found = _topic_level_problem(name)
    if found:
        raise ValueError(
            f"community.name {name!r} is one level of the city MQTT topics "
            f"({prefix}/<community>/…) and must be non-empty without '/', "
            f"'+', '#' or NUL (found {found}): rename it, e.g. 阳光花园二期"
        )
    for gate in settings.community.gates:
        found = _topic_level_problem(gate.id)
        if found:
            raise ValueError(
                f"gate {gate.id!r}: its id is one level of the city MQTT topics "
                f"({prefix}/{name}/gates/<gate>/state) and must be non-empty without '/', "
                f"'+', '#' or NUL (found {found}): rename it, e.g. {_one_level(gate.id)!r}"
            )


# What a topic a message is published to cannot hold: the broker (and paho before it) refuses
# wildcards and NUL there. "/" is fine: a device subscribes to the levels it is given.
_NOT_IN_A_PUBLISHED_TOPIC = "+#\0"


def verify_device_topics(settings: Settings) -> None:
    """A gate's lane screen and a free-space board on MQTT are sent to a topic made from the
    gate's or zone's id; an id with "+" or "#" made paho refuse every message to that screen
    or board (a HardwareError per car, the screen dark for good). The gates' own ids need this
    only without the city feed (verify_city_topic_level refuses them with it)."""
    for gate in settings.community.gates:
        if not isinstance(gate.screen, MqttScreenConfig):
            continue
        topic = gate.screen.resolved_topic(gate.id)
        found = _characters_of(topic, _NOT_IN_A_PUBLISHED_TOPIC)
        if found:
            raise ValueError(
                f"gate {gate.id!r}: its screen's MQTT topic would be {topic!r}, which holds "
                f"{found} (not allowed in a topic a message is sent to): rename the gate, e.g. "
                f"{_one_level(gate.id)!r}"
            )
    for board in settings.parking.displays:
        if not isinstance(board.display, MqttDisplayConfig):
            continue
        for zone in board.zones:
            try:
                topic = board.display.topic.format(zone_id=zone, free=0)
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(
                    f"parking.displays {board.id!r}: topic may use only {{zone_id}}, got "
                    f"{board.display.topic!r}"
                ) from err
            found = _characters_of(topic, _NOT_IN_A_PUBLISHED_TOPIC)
            if found:
                raise ValueError(
                    f"parking.displays {board.id!r}: zone {zone!r} would be shown on MQTT topic "
                    f"{topic!r}, which holds {found} (not allowed in a topic a message is sent "
                    f"to): rename the zone or set the board's topic without it"
                )


def verify_production_secrets(settings: Settings) -> None:
    if settings.environment != "production":
        return
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if len(key) < 32:
        raise ValueError("production needs PARKGATE_SECRET_KEY of at least 32 characters")
    weak = [name for name, k in settings.camera_api_keys.items() if len(k.get_secret_value()) < 24]
    if weak:
        raise ValueError(f"production camera API keys must be >= 24 characters: {', '.join(weak)}")


class ConfigProblems(ValueError):
    """Several broken cross-field rules at once, each said on its own line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _format_errors(err: ErrorDetails, source: str) -> list[str]:
    problems = err.get("ctx", {}).get("error")
    if isinstance(problems, ConfigProblems):
        return [f"{problem} in {source}" for problem in problems.problems]
    return [_format_error(err, source)]


def _format_error(err: ErrorDetails, source: str) -> str:
    location = ".".join(str(p) for p in err.get("loc", ()))
    if err.get("type") == "extra_forbidden":
        return f"unknown key {location!r} in {source}"
    where = f" at {location!r}" if location else ""
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{message}{where} in {source}"


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the file (argument or PARKGATE_CONFIG), env and overrides.

    Raises ConfigError with one line per problem, naming the key and the file.
    """
    if config_file is None and os.environ.get("PARKGATE_CONFIG"):
        config_file = os.environ["PARKGATE_CONFIG"]
    path = Path(config_file) if config_file is not None else None
    source = str(path) if path is not None else "environment/defaults"
    token = _CONFIG_FILE.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as err:
        lines = [line for e in err.errors() for line in _format_errors(e, source)]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from err
    except SettingsError as err:
        # PARKGATE_API='{bad json': pydantic-settings' own error, a traceback without this.
        cause = f": {err.__cause__}" if err.__cause__ else ""
        raise ConfigError(
            f"invalid configuration:\n  {err}{cause}; a PARKGATE_<SECTION> variable holds "
            "JSON, or set one key with PARKGATE_<SECTION>__<KEY>"
        ) from err
    finally:
        _CONFIG_FILE.reset(token)
