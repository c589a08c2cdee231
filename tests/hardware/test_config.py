"""Hardware configuration: the documented YAML examples validate, typos are refused."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from controllers.barrier import FaultPolicy
from hardware import config as cfg
from hardware.base import Barrier
from hardware.registry import create_barrier, create_display, create_input
from main import main

BARRIER: TypeAdapter[Any] = TypeAdapter(cfg.BarrierConfig)
INPUT: TypeAdapter[Any] = TypeAdapter(cfg.InputConfig)
DISPLAY: TypeAdapter[Any] = TypeAdapter(cfg.DisplayConfig)

# The same examples are in the module docstring of hardware/config.py.
BARRIER_EXAMPLES = {
    "sim": """
driver: sim
open_seconds: 10
opening_s: 1.5
""",
    "tasmota": """
driver: mqtt
preset: tasmota
host: 192.168.10.2
port: 1883
username: parkgate
password_env: PARKGATE_MQTT_PASSWORD
device: gate-east
open_channel: 1
presence_topic: stat/gate-east/POWER2
command_timeout_s: 2
retries: 2
on_fault: fail_safe
""",
    "tasmota_pulse": """
driver: mqtt
preset: tasmota
host: 192.168.10.2
device: gate-west
relay_mode: pulse
open_channel: 1
close_channel: 2
pulse_ms: 500
""",
    "shelly": """
driver: mqtt
preset: shelly
host: 192.168.10.2
device: shellyplus1-a8032ab12345
open_channel: 0
""",
    "custom_mqtt": """
driver: mqtt
preset: custom
host: 192.168.10.2
device: barrier7
command_topic: site/{device}/relay/{channel}/set
state_topic: site/{device}/relay/{channel}
payload_on: "1"
payload_off: "0"
state_on: "1"
state_off: "0"
availability_topic: site/{device}/status
""",
    "modbus": """
driver: modbus
host: 192.168.10.20
unit_id: 1
relay_mode: pulse
open_channel: 0
close_channel: 1
pulse_ms: 300
limit_open_input: 0
limit_closed_input: 1
presence_input: 2
poll_interval_s: 0.1
on_fault: fail_secure
""",
    "gpio": """
driver: gpio
open_channel: 17
active_high: false
feedback_pin: 27
presence_pin: 22
limit_open_pin: 23
limit_closed_pin: 24
""",
    "http": """
driver: http
on_url: http://192.168.10.30/relay/{channel}?turn=on
off_url: http://192.168.10.30/relay/{channel}?turn=off
open_channel: 0
expect_body: '"ison"'
status_url: http://192.168.10.30/relay/{channel}
status_expect_body: '"ison"'
poll_interval_s: 1
presence:
  driver: mqtt
  host: 192.168.10.2
  topic: loops/east/presence
""",
}


@pytest.mark.parametrize("name", BARRIER_EXAMPLES)
def test_barrier_examples_validate_and_build(name: str) -> None:
    config = BARRIER.validate_python(yaml.safe_load(BARRIER_EXAMPLES[name]))
    barrier = create_barrier("east", config)  # builds only; nothing connects before start()
    assert isinstance(barrier, Barrier)
    assert barrier.gate_id == "east"


def test_docstring_carries_the_examples() -> None:
    doc = cfg.__doc__ or ""
    for text in BARRIER_EXAMPLES.values():
        for line in text.strip().splitlines():
            assert line in doc, line


def test_defaults_are_a_simulated_barrier() -> None:
    config = cfg.SimBarrierConfig()
    assert config.driver == "sim"
    assert config.timing().on_fault is FaultPolicy.FAIL_SAFE
    assert config.timing().open_seconds == 10.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"driver": "sim", "open_second": 5}, "extra"),
        ({"driver": "mqtt", "device": "d", "preset": "custom"}, "command_topic"),
        (
            {
                "driver": "mqtt",
                "device": "d",
                "preset": "custom",
                "command_topic": "site/{device}/relay/{channel}",
                "state_topic": "site/{device}/relay/{channel}",
            },
            r"one topic \(site/d/relay/1\) .* take its own command for the relay's answer",
        ),
        ({"driver": "sim", "relay_mode": "pulse"}, "close_channel"),
        ({"driver": "zigbee"}, "driver"),
        ({"driver": "sim", "on_fault": "explode"}, "on_fault"),
        ({"driver": "modbus"}, "host"),
        ({"driver": "sim", "command_timeout_s": 0}, "command_timeout_s"),
        (
            {"driver": "http", "on_url": "u", "off_url": "u", "status_url": "http://x/{relay}"},
            "status_url may use only",
        ),
        (
            {"driver": "http", "on_url": "u", "off_url": "u", "poll_interval_s": 0},
            "poll_interval_s",
        ),
    ],
)
def test_invalid_configs_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BARRIER.validate_python(data)


def _models() -> list[type[BaseModel]]:
    return [
        obj
        for obj in vars(cfg).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == cfg.__name__
    ]


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_every_field_is_described_and_unknown_keys_forbidden(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"


def test_inputs_and_displays_build_from_config() -> None:
    for data in (
        {"driver": "sim"},
        {"driver": "mqtt", "topic": "fire/panel"},
        {"driver": "modbus", "host": "10.0.0.2", "address": 7},
        {"driver": "gpio", "pin": 5, "pin_factory": "mock"},
    ):
        inp = create_input("fire", INPUT.validate_python(data))
        assert inp.name == "fire"
        assert inp.value in (None, False)
    for board in (
        {"driver": "sim"},
        {"driver": "mqtt"},
        {"driver": "modbus", "host": "10.0.0.3", "registers": {"B1": 0}},
        {"driver": "http", "url": "http://10.0.0.4/show?z={zone_id}&n={free}"},
    ):
        create_display("board", DISPLAY.validate_python(board))


def test_http_status_url_reads_the_open_channel_and_is_off_by_default() -> None:
    base = {"driver": "http", "on_url": "u", "off_url": "u", "open_channel": 2}
    assert BARRIER.validate_python(base).resolved_status_url() is None
    polled = BARRIER.validate_python({**base, "status_url": "http://10.0.0.5/relay/{channel}"})
    assert polled.resolved_status_url() == "http://10.0.0.5/relay/2"


def test_unknown_config_objects_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        create_barrier("g", object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        create_input("i", object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        create_display("d", object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("close_after_pass_s", "tailgate_gap_s", "refused"),
    [
        (1.0, 0.5, False),  # the defaults
        (0.6, 0.5, False),
        (None, 0.5, False),  # 车过落杆 off: nothing to race
        (None, 5.0, False),
        (0.5, 0.5, True),  # equal: the arm starts down as the gap would make it a second car
        (0.3, 0.5, True),
        (0.0, 0.0, True),
        (1.0, 2.0, True),
    ],
)
@pytest.mark.parametrize("driver", [{"driver": "sim"}, {"driver": "modbus", "host": "10.0.0.3"}])
def test_close_after_pass_must_outlast_the_tailgate_gap(
    driver: dict[str, Any], close_after_pass_s: float | None, tailgate_gap_s: float, refused: bool
) -> None:
    """An arm closing no later than the gap that makes two vehicles of one would come down
    between a car and its follower before the follower counted: 跟车 could not work."""
    data = {**driver, "close_after_pass_s": close_after_pass_s, "tailgate_gap_s": tailgate_gap_s}
    if not refused:
        assert BARRIER.validate_python(data).timing().close_after_pass_s == close_after_pass_s
        return
    with pytest.raises(ValidationError) as info:
        BARRIER.validate_python(data)
    said = str(info.value)
    assert f"close_after_pass_s ({close_after_pass_s:g}) must be more than " in said
    assert f"tailgate_gap_s ({tailgate_gap_s:g})" in said


def test_the_cli_refuses_such_a_barrier_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "community.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "community:\n"
        "  name: 海景花园\n"
        "  zones: [{id: P1, capacity: 10}]\n"
        "  gates:\n"
        "    - {id: north-in, kind: vehicle, direction: in, zone: P1,\n"
        "       barrier: {driver: sim, close_after_pass_s: 0.3, tailgate_gap_s: 0.5}}\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct-horse-battery\n"))
    capsys.readouterr()

    code = main(
        [
            "--config",
            str(config),
            "create-user",
            "--username",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ]
    )

    assert code == 2
    said = capsys.readouterr().err
    (problem,) = [line for line in said.splitlines() if "close_after_pass_s" in line]
    assert "close_after_pass_s (0.3) must be more than tailgate_gap_s (0.5)" in problem
    assert "community.gates.0.barrier" in problem and str(config) in problem
    assert "Traceback" not in said
    assert not (tmp_path / "data").exists()  # refused before anything was created
