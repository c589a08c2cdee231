"""Configuration: the demo community by default, a YAML file, env overrides, clear refusals."""

from __future__ import annotations

import copy
import logging
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controllers.schedule import Entrant
from errors import ConfigError
from services.container import log_calendar_years
from settings import Settings, load_settings

COMMUNITY_YAML = """
community:
  name: 海景花园
  zones:
    - {id: P1, name: 地下一层, capacity: 120}
  gates:
    - {id: north-in, kind: vehicle, direction: in, zone: P1,
       camera: {source: "rtsp://10.0.0.5/stream1", fps: 5}}
    - {id: north-out, kind: vehicle, direction: out, zone: P1}
access:
  anti_passback: hard
"""


def test_without_a_file_the_demo_community_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    settings = load_settings()
    assert {g.id for g in settings.community.gates} == {"main-in", "main-out", "ped-1"}
    assert {(z.id, z.capacity) for z in settings.community.zones} == {("A", 40), ("B", 20)}
    assert settings.gate("ped-1").kind == "pedestrian"  # type: ignore[union-attr]
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_yaml_file_describes_the_community(tmp_path: Path) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(COMMUNITY_YAML, encoding="utf-8")
    settings = load_settings(path)
    assert settings.community.name == "海景花园"
    assert settings.gate("north-in").camera.fps == 5  # type: ignore[union-attr]
    assert settings.access.anti_passback == "hard"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(COMMUNITY_YAML, encoding="utf-8")
    monkeypatch.setenv("PARKGATE_CONFIG", str(path))
    monkeypatch.setenv("PARKGATE_ACCESS__ANTI_PASSBACK", "off")
    monkeypatch.setenv("PARKGATE_API__PORT", "9001")
    settings = load_settings()
    assert settings.access.anti_passback == "off"
    assert settings.api.port == 9001
    assert settings.community.name == "海景花园"


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("access:\n  anti_pasback: hard\n", "unknown key 'access.anti_pasback'"),
        ("colour: red\n", "unknown key 'colour'"),
        (
            "community:\n  name: x\n  zones: [{id: A, capacity: 1}]\n"
            "  gates: [{id: g, kind: vehicle, direction: in, zone: Z}]\n",
            "names zone 'Z'",
        ),
        (
            "community:\n  name: x\n  zones: [{id: A, capacity: 1}]\n"
            "  gates: [{id: g, kind: vehicle, direction: in}]\n",
            "vehicle entry gate 'g' needs a zone",
        ),
        (
            "community:\n  name: x\n  zones: [{id: A, capacity: 1}, {id: A, capacity: 2}]\n"
            "  gates: []\n",
            "duplicate zone id",
        ),
        ("access:\n  anti_passback: sometimes\n", "access.anti_passback"),
        ("- just\n- a list\n", "mapping"),
        ("access: [unclosed\n", "not valid"),
    ],
    ids=["typo", "unknown-top", "gate-zone", "entry-without-zone", "dup-zone", "bad-literal",
         "list", "syntax"],
)
def test_bad_files_are_refused_naming_key_and_file(
    tmp_path: Path, yaml_text: str, needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_a_main_exit_two_lots_share_needs_no_zone(tmp_path: Path) -> None:
    path = tmp_path / "shared-exit.yaml"
    path.write_text(
        "community:\n  name: x\n  zones: [{id: A, capacity: 10}, {id: B, capacity: 5}]\n"
        "  gates:\n"
        "    - {id: a-in, kind: vehicle, direction: in, zone: A}\n"
        "    - {id: b-in, kind: vehicle, direction: in, zone: B}\n"
        "    - {id: main-out, kind: vehicle, direction: out}\n",
        encoding="utf-8",
    )
    (main_out,) = [g for g in load_settings(path).community.gates if g.id == "main-out"]
    assert main_out.zone is None


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_a_directory_or_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "conf.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(folder)
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("community:\n  name: 海景花园\n".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_settings(gbk)
    assert str(gbk) in str(info.value)


def test_production_refuses_insecure_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PARKGATE_SECRET_KEY"):
        load_settings(None, environment="production", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="camera API keys"):
        load_settings(
            None,
            environment="production",
            secret_key="x" * 40,
            camera_api_keys={"gate-cam": "short"},
        )
    ok = load_settings(
        None, environment="production", secret_key="x" * 40, data_dir=tmp_path,
        community=WIRED_COMMUNITY,
    )
    assert ok.signing_key() == "x" * 40


# Every gate names its barrier, as production requires.
WIRED_COMMUNITY = {
    "name": "海景花园",
    "zones": [{"id": "P1", "capacity": 120}],
    "gates": [
        {"id": "north-in", "kind": "vehicle", "direction": "in", "zone": "P1",
         "barrier": {"driver": "modbus", "host": "192.0.2.20", "open_channel": 0}},
        {"id": "north-out", "kind": "vehicle", "direction": "out", "zone": "P1",
         "barrier": {"driver": "sim"}},  # written out: a deliberate simulation is accepted
    ],
}


def test_every_broken_rule_is_its_own_line_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin guide's first production configuration (section 12) with no secret key and
    no barrier: only the key was said, and the barrier at the next start."""
    monkeypatch.delenv("PARKGATE_SECRET_KEY", raising=False)
    config = tmp_path / "parkgate.yaml"
    config.write_text(
        "environment: production\n"
        "community:\n"
        "  name: haijing-garden\n"
        "  zones: [{id: P1, name: 地下一层, capacity: 120}]\n"
        "  gates: [{id: north-in, name: 北门入口, kind: vehicle, direction: in, zone: P1}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config, data_dir=tmp_path)
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert lines[1] == (f"  production needs PARKGATE_SECRET_KEY of at least 32 characters in "
                        f"{config}")
    assert lines[2].startswith("  gate 'north-in' has no barrier configured")
    assert lines[2].endswith(f" in {config}") and len(lines) == 3


def test_production_refuses_a_gate_without_a_barrier(tmp_path: Path) -> None:
    """Left out, a gate's barrier is simulated: the console would show a gate opening that
    never moves. Production says so at start instead; development keeps the simulation."""
    unwired = {
        **WIRED_COMMUNITY,
        "gates": [*WIRED_COMMUNITY["gates"],
                  {"id": "back-in", "kind": "vehicle", "direction": "in", "zone": "P1"}],
    }
    with pytest.raises(ConfigError) as info:
        load_settings(None, environment="production", secret_key="x" * 40,
                      data_dir=tmp_path, community=unwired)
    assert "gate 'back-in' has no barrier configured" in str(info.value)
    assert "north" not in str(info.value)
    with pytest.raises(ConfigError, match="gates 'main-in', 'main-out', 'ped-1' have no barrier"):
        load_settings(None, environment="production", secret_key="x" * 40, data_dir=tmp_path)

    development = load_settings(None, data_dir=tmp_path, community=unwired)
    assert development.gate("back-in").barrier.driver == "sim"  # type: ignore[union-attr]


def test_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings(None, data_dir=tmp_path).signing_key()
    again = load_settings(None, data_dir=tmp_path).signing_key()
    assert first == again and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


SCHEDULED_YAML = """
community:
  name: 海景花园
  zones: [{id: P1, capacity: 120}]
  gates:
    - id: back-in
      name: 后门入口
      kind: vehicle
      direction: in
      zone: P1
      schedule:
        resident: ["06:00-23:00"]
        visitor: []
        allow_list: [{hours: "08:00-20:00", days: [mon, tue, wed, thu, fri]}]
    - {id: back-out, kind: vehicle, direction: out, zone: P1}
    - {id: ped-back, kind: pedestrian, direction: in, schedule: {resident: ["05:00-24:00"]}}
"""


def test_gate_schedules_are_read_in_the_community_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(SCHEDULED_YAML, encoding="utf-8")
    settings = load_settings(path)
    assert settings.community.timezone == "Asia/Shanghai"
    gate = settings.gate("back-in")
    assert gate is not None and gate.schedule is not None
    back_in = gate.schedule.build(settings.community.zone_info())
    # Friday 22:30 UTC is Saturday 06:30 in Shanghai: residents yes, delivery vans not today.
    saturday_morning = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)
    assert back_in.admits(Entrant.RESIDENT, saturday_morning)
    assert not back_in.admits(Entrant.RESIDENT, saturday_morning - timedelta(hours=1))
    assert not back_in.admits(Entrant.VISITOR, saturday_morning)
    assert not back_in.admits(Entrant.ALLOW_LIST, saturday_morning + timedelta(hours=3))
    assert back_in.admits(Entrant.ALLOW_LIST, saturday_morning - timedelta(hours=19))  # Fri 11:30
    assert settings.gate("back-out").schedule is None  # type: ignore[union-attr]

    elsewhere = load_settings(path, community={
        **settings.community.model_dump(exclude_unset=True), "timezone": "Asia/Urumqi",
    })
    gate = elsewhere.gate("back-in")
    assert gate is not None and gate.schedule is not None
    urumqi = gate.schedule.build(elsewhere.community.zone_info())
    assert not urumqi.admits(Entrant.RESIDENT, saturday_morning)  # 04:30 on Urumqi's clock


def _scheduled_gate(schedule: str, kind: str = "vehicle", direction: str = "in") -> str:
    zone = ", zone: P1" if kind == "vehicle" else ""
    return (
        "community:\n  name: x\n  zones: [{id: P1, capacity: 1}]\n  gates:\n"
        f"    - {{id: front-in, kind: vehicle, direction: in, zone: P1}}\n"
        f"    - {{id: back-gate, kind: {kind}, direction: {direction}{zone},\n"
        f"       schedule: {schedule}}}\n"
    )


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        (_scheduled_gate('{resident: ["06:00-06:00"]}'),
         ("gate 'back-gate'", "schedule.resident[0]", "end equals start")),
        (_scheduled_gate('{visitor: [{hours: "07:00-22:00", days: [mon, thurs]}]}'),
         ("gate 'back-gate'", "schedule.visitor[0]", "unknown weekday(s) 'thurs'")),
        (_scheduled_gate('{resident: ["6am-11pm"]}'),
         ("gate 'back-gate'", "schedule.resident[0]", "'HH:MM-HH:MM'")),
        (_scheduled_gate('{resident: ["06:00-24:30"]}'),
         ("gate 'back-gate'", "schedule.resident[0]", "end must be from 00:01 to 24:00")),
        (_scheduled_gate("{resident: [23:00]}"),
         ("gate 'back-gate'", "schedule.resident[0]", "write the hours in quotes")),
        (_scheduled_gate('{residents: ["06:00-23:00"]}'),
         ("gate 'back-gate'", "unknown category 'residents'", "resident, visitor, allow_list")),
        (_scheduled_gate('{resident: ["06:00-23:00"]}', direction="out"),
         ("gate 'back-gate' is an exit", "never holds an exit")),
        (_scheduled_gate('{allow_list: ["08:00-20:00"]}', kind="pedestrian"),
         ("gate 'back-gate' is a pedestrian gate", "schedule.allow_list")),
        ("community:\n  name: x\n  timezone: Asia/Beijing\n  zones: []\n  gates: []\n",
         ("unknown time zone 'Asia/Beijing'", "community.timezone")),
        ("community:\n  name: x\n  timezone: Europe/Berlin\n  zones: []\n  gates: []\n",
         ("'Europe/Berlin' changes its clocks", "daylight saving", "community.timezone")),
        ("retention: {snapshot_days: 30, passage_days: 7}\n",
         ("retention.passage_days (7) must be 0 or at least retention.snapshot_days (30)",)),
    ],
    ids=["end-equals-start", "weekday", "time-text", "past-midnight", "unquoted", "category",
         "exit", "pedestrian-allow-list", "timezone", "daylight-saving", "retention-order"],
)
def test_a_bad_schedule_stops_the_start_naming_the_gate_and_the_field(
    tmp_path: Path, yaml_text: str, needles: tuple[str, ...]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    for needle in needles:
        assert needle in str(info.value)
    assert str(path) in str(info.value)


# ---- community.calendar: holidays and 调休 make-up working days -----------------------------

CALENDAR_YAML = """
community:
  name: 海景花园
  zones: [{id: P1, capacity: 120}]
  calendar:
%s
  gates:
    - id: back-in
      kind: vehicle
      direction: in
      zone: P1
      schedule:
        allow_list: [{hours: "08:00-20:00", days: [mon, tue, wed, thu, fri]}]
"""


def _calendar_settings(tmp_path: Path, calendar: str) -> Settings:
    path = tmp_path / "community.yaml"
    path.write_text(CALENDAR_YAML % calendar, encoding="utf-8")
    return load_settings(path)


def _delivery_van_admitted(settings: Settings, local: str) -> bool:
    """Whether the back gate's weekday delivery window lets a van in at ``local`` (Shanghai)."""
    gate = settings.gate("back-in")
    assert gate is not None and gate.schedule is not None
    schedule = gate.schedule.build(
        settings.community.zone_info(), settings.community.calendar.build()
    )
    at = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return schedule.admits(Entrant.ALLOW_LIST, at)


def test_listed_holidays_and_make_up_days_move_a_weekday_window(tmp_path: Path) -> None:
    # Ranges include both ends; YAML reads an unquoted 2026-10-10 as a date, taken as written.
    settings = _calendar_settings(tmp_path, """\
    holidays: ["2026-10-01..2026-10-07", "2026-09-25"]
    workdays: [2026-10-10, "2026-09-20"]""")
    assert not _delivery_van_admitted(settings, "2026-10-01 10:00")  # 国庆 Thursday
    assert not _delivery_van_admitted(settings, "2026-10-07 10:00")  # the range's last day
    assert _delivery_van_admitted(settings, "2026-10-08 10:00")
    assert not _delivery_van_admitted(settings, "2026-09-25 10:00")  # 中秋 Friday
    assert _delivery_van_admitted(settings, "2026-10-10 10:00")  # make-up Saturday
    assert _delivery_van_admitted(settings, "2026-09-20 10:00")  # make-up Sunday
    assert not _delivery_van_admitted(settings, "2026-10-11 10:00")  # an ordinary Sunday

    # Without a calendar the window follows the printed weekday, as before.
    plain = _calendar_settings(tmp_path, "    holidays: []")
    assert _delivery_van_admitted(plain, "2026-10-01 10:00")
    assert not _delivery_van_admitted(plain, "2026-10-10 10:00")


def test_holiday_as_and_workday_as_name_the_weekday_they_are_read_as(tmp_path: Path) -> None:
    settings = _calendar_settings(tmp_path, """\
    holidays: ["2026-10-01"]
    workdays: ["2026-10-10"]
    holiday_as: fri
    workday_as: sun""")
    assert _delivery_van_admitted(settings, "2026-10-01 10:00")  # a holiday kept as a Friday
    assert not _delivery_van_admitted(settings, "2026-10-10 10:00")  # a "workday" as Sunday


def test_the_chinese_calendar_package_gives_the_official_lists_and_listed_dates_win(
    tmp_path: Path,
) -> None:
    settings = _calendar_settings(tmp_path, "    source: chinese_calendar")
    years = settings.community.calendar.official_years()
    assert years is not None and years.start == 2004 and 2026 in years
    assert not _delivery_van_admitted(settings, "2026-10-01 10:00")  # 国庆, from the package
    assert not _delivery_van_admitted(settings, "2026-02-16 10:00")  # 春节 Monday
    assert _delivery_van_admitted(settings, "2026-10-10 10:00")  # its make-up Saturday
    assert _delivery_van_admitted(settings, "2026-02-14 10:00")  # and 春节's

    # The property office has the last word on a date the package also lists.
    overridden = _calendar_settings(tmp_path, """\
    source: chinese_calendar
    holidays: ["2026-10-10"]
    workdays: ["2026-10-02"]""")
    assert not _delivery_van_admitted(overridden, "2026-10-10 10:00")
    assert _delivery_van_admitted(overridden, "2026-10-02 10:00")
    assert not _delivery_van_admitted(overridden, "2026-10-01 10:00")  # the rest still holds


def test_the_start_warns_when_the_package_does_not_cover_this_year(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _calendar_settings(tmp_path, "    source: chinese_calendar")
    years = settings.community.calendar.official_years()
    assert years is not None
    with caplog.at_level(logging.INFO, logger="services.container"):
        log_calendar_years(settings, years[-1])
        log_calendar_years(settings, years[-1] + 1)
    covered, uncovered = caplog.records
    assert covered.levelno == logging.INFO and f"covers 2004-{years[-1]}" in covered.message
    assert uncovered.levelno == logging.WARNING
    assert f"not {years[-1] + 1}" in uncovered.message and "community.calendar" in uncovered.message


@pytest.mark.parametrize(
    ("calendar", "needles"),
    [
        ('    holidays: ["2026-10-01..2026-10-07"]\n    workdays: ["2026-10-07"]',
         ("2026-10-07 in both holidays and workdays", "'community.calendar'")),
        ('    holidays: ["2026-02-30"]',
         ("'2026-02-30' is not a date", "'community.calendar.holidays'")),
        ('    workdays: ["10/10/2026"]',
         ("'10/10/2026' is not a date", "YYYY-MM-DD", "'community.calendar.workdays'")),
        ('    holidays: ["2026-10-07..2026-10-01"]',
         ("'2026-10-07..2026-10-01' runs backwards", "'community.calendar.holidays'")),
        ('    holidays: ["2026-10-01..2027-10-07"]',
         ("spans 372 days", "'community.calendar.holidays'")),
        ("    holidays: [2026-10-01 08:00:00]",
         ("has a time of day", "'community.calendar.holidays'")),
        ("    holidays: [20261001]",
         ("got the number 20261001", "'community.calendar.holidays'")),
        ("    holiday_as: sunday", ("'community.calendar.holiday_as'", "'sun'")),
        ('    holiday: ["2026-10-01"]', ("unknown key 'community.calendar.holiday'",)),
        ("    source: state_council", ("'community.calendar.source'", "'chinese_calendar'")),
    ],
    ids=["in-both-lists", "no-such-date", "date-format", "reversed-range", "year-long-range",
         "date-and-time", "number", "weekday-name", "unknown-key", "unknown-source"],
)
def test_a_bad_calendar_stops_the_start_naming_the_field(
    tmp_path: Path, calendar: str, needles: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigError) as info:
        _calendar_settings(tmp_path, calendar)
    for needle in needles:
        assert needle in str(info.value)


def test_the_package_source_without_the_package_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "chinese_calendar", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match="needs the chinese-calendar package") as info:
        _calendar_settings(tmp_path, "    source: chinese_calendar")
    assert "'community.calendar'" in str(info.value)


def test_push_slots_default_to_a_small_box_and_refuse_nonsense_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    api = load_settings().api
    assert (api.max_concurrent_bursts, api.max_concurrent_frames, api.burst_wait_s) == (4, 4, 2.0)
    path = tmp_path / "community.yaml"
    path.write_text(
        "api: {max_concurrent_bursts: 2, max_concurrent_frames: 6, burst_wait_s: 1.5}\n",
        encoding="utf-8",
    )
    api = load_settings(path).api
    assert (api.max_concurrent_bursts, api.max_concurrent_frames, api.burst_wait_s) == (2, 6, 1.5)
    for field, value in [
        ("max_concurrent_bursts", 0), ("max_concurrent_bursts", 65), ("max_concurrent_bursts", 1.5),
        ("max_concurrent_frames", 0), ("burst_wait_s", 0), ("burst_wait_s", -1),
        ("burst_wait_s", 31),
    ]:
        with pytest.raises(ConfigError, match=f"api.{field}"):
            load_settings(api={field: value})


CAMERA_KEYS = {"cam": "a-camera-key"}


@pytest.mark.parametrize(
    ("push_camera", "alarm_after_s"),
    [
        ("{}", None),  # no heartbeat_s: not watched
        ("{heartbeat_s: 10, key_name: cam}", 30.0),  # offline_alarm_s's 30 s is the longer
        ("{heartbeat_s: 60, key_name: cam}", 180.0),  # three lost or late heartbeats
        ("{heartbeat_s: 5, offline_alarm_s: 12, key_name: cam}", 15.0),
        ("{heartbeat_s: 2, offline_alarm_s: 45, key_name: cam}", 45.0),
    ],
)
def test_a_pushing_camera_is_dark_after_three_heartbeats_or_its_offline_alarm_s(
    tmp_path: Path, push_camera: str, alarm_after_s: float | None
) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(
        "community:\n  name: x\n  zones: [{id: A, capacity: 1}]\n"
        "  gates: [{id: g, kind: vehicle, direction: in, zone: A, "
        f"push_camera: {push_camera}}}]\n",
        encoding="utf-8",
    )
    config = load_settings(path, camera_api_keys=CAMERA_KEYS).community.gates[0].push_camera
    assert config is not None and config.alarm_after_s == alarm_after_s


@pytest.mark.parametrize(
    ("gate", "needle"),
    [
        ("{id: g, kind: vehicle, direction: in, zone: A, camera: {source: '0'}, "
         "push_camera: {heartbeat_s: 10, key_name: cam}}",
         "has both camera (parkgate reads it) and push_camera"),
        ("{id: g, kind: vehicle, direction: in, zone: A, "
         "push_camera: {heartbeat_s: 0, key_name: cam}}", "push_camera.heartbeat_s"),
        ("{id: g, kind: vehicle, direction: in, zone: A, push_camera: {heartbeat: 10}}",
         "unknown key 'community.gates.0.push_camera.heartbeat'"),
        # Any camera's key would do: one whose heartbeat URL names the wrong gate would keep
        # this gate's dead camera looking alive.
        ("{id: g, kind: vehicle, direction: in, zone: A, push_camera: {heartbeat_s: 10}}",
         "gate 'g' has push_camera.heartbeat_s but no push_camera.key_name: name the "
         "camera's key in camera_api_keys"),
        ("{id: g, kind: vehicle, direction: in, zone: A, "
         "push_camera: {heartbeat_s: 10, key_name: cma}}",
         "gate 'g' has push_camera.key_name 'cma', which is not a camera of camera_api_keys "
         "(cam): its heartbeat could never be heard"),
    ],
    ids=["both", "zero", "typo", "no-key-name", "unknown-key-name"],
)
def test_a_push_camera_that_cannot_be_watched_is_refused(
    tmp_path: Path, gate: str, needle: str
) -> None:
    path = tmp_path / "community.yaml"
    path.write_text(
        f"community:\n  name: x\n  zones: [{{id: A, capacity: 1}}]\n  gates: [{gate}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_settings(path, camera_api_keys=CAMERA_KEYS)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("garbage", "not a database URL"),
        ("mysql://user@127.0.0.1/parkgate", "SQLite or PostgreSQL, not mysql"),
        ("postgresql+pg8000://user@127.0.0.1/parkgate", "postgresql+pg8000 driver is not"),
    ],
)
def test_an_unusable_database_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, url: str, needle: str
) -> None:
    """Refused with the settings (exit 2, one line), not at the first connection with a
    SQLAlchemy or ImportError traceback and exit 1."""
    monkeypatch.setenv("PARKGATE_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="database_url") as info:
        load_settings(None)
    assert needle in str(info.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_plain_postgresql_url_uses_the_installed_driver(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """The URL as psql and hosting panels print it: SQLAlchemy's default driver for it,
    psycopg2, is not installed (it was refused as such), psycopg 3 is."""
    monkeypatch.setenv("PARKGATE_DATABASE_URL", f"{scheme}://gate:p%40ss@db.local:5433/parkgate")
    assert load_settings(None).database_url == (
        "postgresql+psycopg://gate:p%40ss@db.local:5433/parkgate")


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_a_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path, suffix: str) -> None:
    """Notepad's UTF-8 with BOM: TOML refused it at line 1, column 1."""
    path = tmp_path / f"parkgate{suffix}"
    text = "[api]\nport = 9001\n" if suffix == ".toml" else "api:\n  port: 9001\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_settings(path).api.port == 9001


def test_an_environment_variable_with_bad_json_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pydantic-settings' SettingsError escaped as a traceback (exit 1)."""
    monkeypatch.setenv("PARKGATE_API", "{bad json")
    with pytest.raises(ConfigError, match='field "api" from source "EnvSettingsSource"') as info:
        load_settings(None)
    assert "PARKGATE_<SECTION>__<KEY>" in str(info.value)


def test_an_empty_data_dir_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """PARKGATE_DATA_DIR= was read as the current directory."""
    monkeypatch.setenv("PARKGATE_DATA_DIR", "")
    with pytest.raises(ConfigError, match="data_dir is empty"):
        load_settings(None)


@pytest.mark.parametrize("name", ["parkgate.ini", "parkgate.json", "parkgate.yaml.bak"])
def test_a_file_of_another_format_is_refused_by_its_suffix(tmp_path: Path, name: str) -> None:
    """Read as YAML whatever its suffix: an .ini holding YAML was taken, one in INI syntax
    was refused as "not valid ini: expected '<document start>'" with YAML's error."""
    path = tmp_path / name
    path.write_text("api:\n  port: 9001\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    said = str(info.value)
    assert "\n" not in said
    assert said.startswith(f"configuration file {path}: {path.suffix} is not a format")
    assert said.endswith("name it .yaml or .yml (YAML) or .toml (TOML)")


@pytest.mark.parametrize(
    ("name", "text"),
    [("parkgate.TOML", "[api]\nport = 9001\n"), ("parkgate.YML", "api:\n  port: 9001\n"),
     ("parkgate", "api:\n  port: 9001\n")],  # no suffix: YAML, as --config <(…) gives
)
def test_the_suffix_is_read_in_any_case(tmp_path: Path, name: str, text: str) -> None:
    """A .TOML was read as YAML: "must hold a mapping of settings at the top level"."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert load_settings(path).api.port == 9001


@pytest.mark.parametrize("name", ["阳光花园/二期", "A+B花园", "花园#1", ""])
def test_a_community_name_that_is_not_one_topic_level_stops_the_city_feed_start(
    name: str,
) -> None:
    """The name is the city topics' second level (docs/mqtt.md): with a slash the feed went
    to parkgate/阳光花园/二期/…, which a hub subscribed to parkgate/+/availability never
    gets; with + or # the broker refused every connection ("Unspecified error", retried
    for ever); empty, every message's community broke the schema's minLength."""
    community = {**WIRED_COMMUNITY, "name": name}
    with pytest.raises(ConfigError, match=r"community\.name"):
        load_settings(None, community=community, mqtt={"enabled": True})
    # Without the city feed the name is only shown on the console.
    if name:
        assert load_settings(None, community=community).community.name == name


def _with_first_gate(gate_id: str) -> dict[str, Any]:
    community: dict[str, Any] = copy.deepcopy(WIRED_COMMUNITY)
    community["gates"][0]["id"] = gate_id
    return community


@pytest.mark.parametrize(
    ("gate_id", "found", "rename"),
    [("north+in", "'+'", "north-in"), ("north#1", "'#'", "north-1"),
     ("north+#", "'#', '+'", "north--"), ("north\0in", "'\\x00'", "northin")],
)
def test_a_gate_id_that_is_not_one_topic_level_stops_the_city_feed_start(
    gate_id: str, found: str, rename: str
) -> None:
    """A gate's id is a level of its state topic (<prefix>/<community>/gates/<gate_id>/state,
    docs/mqtt.md): with + or # paho refused every state of that gate (an error logged per
    movement, the city hub never told it is stuck open); nothing checked it at start."""
    community = _with_first_gate(gate_id)
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=community, mqtt={"enabled": True})
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems  # one line, naming the gate and what to do
    assert problems[0].strip().startswith(f"gate {gate_id!r}: its id is one level of the city")
    assert "parkgate/海景花园/gates/<gate>/state" in problems[0]
    assert f"(found {found})" in problems[0] and f"e.g. {rename!r}" in problems[0]
    # Without the city feed the id is in no topic: a URL carries + and # (%2B, %23).
    assert load_settings(None, community=community).community.gates[0].id == gate_id


@pytest.mark.parametrize("city_feed", [False, True])
def test_a_gate_id_with_a_slash_is_refused_whether_or_not_the_city_feed_is_on(
    city_feed: bool,
) -> None:
    """The API names a gate in one path segment (/api/v1/gates/{gate_id}/actions, /frames,
    /typed-plate, /credentials) and the server decodes %2F before routing: a gate B1/in
    started, was listed on the console, and answered 404 to a guard's open by hand and to
    its camera's pushes; with the city feed its state went to a topic no hub reads."""
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=_with_first_gate("B1/in"), mqtt={"enabled": city_feed})
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert "gate id 'B1/in' must not contain '/'" in problems[0]
    assert "e.g. 'B1-in'" in problems[0] and "'community.gates.0.id'" in problems[0]


@pytest.mark.parametrize(("gate_id", "found"), [("north+in", "'+'"), ("north#1", "'#'")])
def test_a_gate_whose_mqtt_screen_topic_would_hold_a_wildcard_stops_the_start(
    gate_id: str, found: str
) -> None:
    """Without the city feed a gate id may hold + or #, but its lane screen on MQTT is sent
    to parkgate/screens/<gate_id>: paho refused every message (a HardwareError per car, the
    driver never told where to park) and nothing said so at start."""
    community = _with_first_gate(gate_id)
    community["gates"][0]["screen"] = {"driver": "mqtt", "host": "192.0.2.30"}
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=community)
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert problems[0].strip().startswith(
        f"gate {gate_id!r}: its screen's MQTT topic would be 'parkgate/screens/{gate_id}'"
    )
    assert f"holds {found}" in problems[0] and "rename the gate" in problems[0]
    # A screen on HTTP, or one on MQTT whose topic leaves the id out, is fine.
    community["gates"][0]["screen"] = {"driver": "mqtt", "host": "192.0.2.30",
                                       "topic": "lane/north/screen"}
    assert load_settings(None, community=community).community.gates[0].id == gate_id


@pytest.mark.parametrize(
    ("zone_id", "topic", "found"),
    [("P+1", "parkgate/display/{zone_id}", "'+'"), ("P1", "boards/#/{zone_id}", "'#'")],
)
def test_a_board_whose_mqtt_topic_would_hold_a_wildcard_stops_the_start(
    zone_id: str, topic: str, found: str
) -> None:
    """A free-space board on MQTT is sent each zone's count to its topic with the zone id in
    it; with + or # there every count was refused (the board kept its last figure for good)."""
    community: dict[str, Any] = copy.deepcopy(WIRED_COMMUNITY)
    community["zones"][0]["id"] = zone_id
    for gate in community["gates"]:
        gate["zone"] = zone_id
    board = {"id": "east-board", "zones": [zone_id],
             "display": {"driver": "mqtt", "host": "192.0.2.31", "topic": topic}}
    parking = {"spaces": [], "displays": [board]}
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=community, parking=parking)
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems
    said = problems[0]
    assert f"parking.displays 'east-board': zone {zone_id!r} would be shown on MQTT topic" in said
    assert f"holds {found}" in said
    board["display"] = {"driver": "mqtt", "host": "192.0.2.31", "topic": "boards/east"}
    assert load_settings(None, community=community, parking=parking).parking.displays


@pytest.mark.parametrize("named", ["P3", "p1"])  # not configured; another case of P1
def test_a_board_naming_a_zone_not_configured_stops_the_start(named: str) -> None:
    """A board is sent each of its zones' free count by zone id: one the community does not
    configure never got a count, and the board kept its blank (or its last retained figure)
    for good, with nothing in the log."""
    community: dict[str, Any] = copy.deepcopy(WIRED_COMMUNITY)
    zone_ids = sorted(z["id"] for z in community["zones"])
    board = {"id": "east-board", "zones": [zone_ids[0], named], "display": {"driver": "sim"}}
    parking = {"spaces": [], "displays": [board]}
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=community, parking=parking)
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert problems[0].strip().startswith(
        f"parking.displays 'east-board' names zone(s) {named!r}, which are not among the "
        f"zones ({', '.join(zone_ids)})"
    )
    board["zones"] = zone_ids
    assert load_settings(None, community=community, parking=parking).parking.displays


def test_a_modbus_board_without_a_register_for_one_of_its_zones_stops_the_start() -> None:
    """A Modbus board writes each of its zones to that zone's holding register: a zone the
    registers leave out (p1 written for P1) was skipped with a debug line, and the board
    kept its figure for good."""
    community: dict[str, Any] = copy.deepcopy(WIRED_COMMUNITY)
    community["zones"].append({"id": "P2", "capacity": 40})
    display = {"driver": "modbus", "host": "192.0.2.32", "registers": {"p1": 0, "P2": 1}}
    board = {"id": "east-board", "zones": ["P1", "P2"], "display": display}
    parking = {"spaces": [], "displays": [board]}
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=community, parking=parking)
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert problems[0].strip().startswith(
        "parking.displays 'east-board': zone(s) 'P1' have no holding register in "
        "display.registers (P2, p1): the board would never be sent a count for them"
    )
    display["registers"] = {"P1": 0, "P2": 1}
    assert load_settings(None, community=community, parking=parking).parking.displays


@pytest.mark.parametrize(
    ("display", "said"),
    [
        ({"driver": "mqtt", "host": "192.0.2.33", "topic": "board/east"}, "topic and payload do"),
        ({"driver": "http", "url": "http://192.0.2.34/show?n={free}"}, "url does"),
    ],
    ids=["mqtt", "http"],
)
def test_a_board_of_several_zones_that_cannot_tell_them_apart_stops_the_start(
    display: dict[str, str], said: str
) -> None:
    """A board of zones P1 and P2 whose topic and payload (or URL) leave {zone_id} out was
    sent both counts at one place, nothing saying whose: it showed whichever zone changed
    last as its own."""
    community: dict[str, Any] = copy.deepcopy(WIRED_COMMUNITY)
    community["zones"].append({"id": "P2", "capacity": 40})
    board = {"id": "east-board", "zones": ["P1", "P2"], "display": display}
    parking = {"spaces": [], "displays": [board]}
    with pytest.raises(ConfigError) as info:
        load_settings(None, community=community, parking=parking)
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1, problems
    assert problems[0].strip().startswith(
        f"parking.displays 'east-board' shows zones P1, P2 but its {said} not use {{zone_id}}: "
        "each zone's count would be sent to the same place"
    )
    board["zones"] = ["P2"]  # one zone: a fixed topic or URL is that zone's
    assert load_settings(None, community=community, parking=parking).parking.displays
    board["zones"] = ["P1", "P2"]
    if display["driver"] == "mqtt":
        display["payload"] = "{zone_id}={free}"  # the payload may say whose it is
    else:
        display["url"] = "http://192.0.2.34/show?zone={zone_id}&n={free}"
    assert load_settings(None, community=community, parking=parking).parking.displays
