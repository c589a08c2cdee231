"""Modbus addresses an installer gets wrong (found walking an install).

An address past 65535, or a barrier's inputs spread over more than one read (2000 inputs),
was taken by the configuration; pymodbus refused it only when building the request, with a
ValueError the input poll did not catch: its task ended unseen and the barrier's presence loop
and limit switches were never read again, with no log line. Now the configuration refuses
them with one line, and a request pymodbus will not build is a HardwareError the poll logs
and survives. An address the board does not have says so, not only "exception_code=2".
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from errors import ConfigError, HardwareError
from hardware.config import BarrierConfig, DisplayConfig, InputConfig
from hardware.modbus import ModbusInputPoller, ModbusLink
from settings import load_settings
from tests.hardware.rigs import ModbusRig, eventually, run_with_rig

BARRIER = TypeAdapter(BarrierConfig)
MODBUS = {"driver": "modbus", "host": "127.0.0.1"}


@pytest.mark.parametrize(
    ("adapter", "data", "says"),
    [
        (BARRIER, {**MODBUS, "presence_input": 70000}, "less than or equal to 65535"),
        (BARRIER, {**MODBUS, "limit_open_input": 65536}, "less than or equal to 65535"),
        (BARRIER, {**MODBUS, "open_channel": 70000}, "open_channel 70000 is not a Modbus coil"),
        (
            BARRIER,
            {**MODBUS, "relay_mode": "pulse", "open_channel": 0, "close_channel": 65536},
            "close_channel 65536 is not a Modbus coil",
        ),
        (
            BARRIER,
            {**MODBUS, "limit_open_input": 0, "limit_closed_input": 1, "presence_input": 2000},
            "must lie within 2000 addresses of each other",
        ),
        (
            TypeAdapter(InputConfig),
            {**MODBUS, "address": 65536},
            "less than or equal to 65535",
        ),
        (
            TypeAdapter(DisplayConfig),
            {**MODBUS, "registers": {"B1": 0, "B2": 70000}},
            "less than or equal to 65535",
        ),
    ],
)
def test_an_address_no_request_can_carry_is_refused(
    adapter: TypeAdapter[Any], data: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        adapter.validate_python(data)


@pytest.mark.parametrize(
    "data",
    [
        {**MODBUS, "open_channel": 65535, "presence_input": 65535},
        {**MODBUS, "limit_open_input": 0, "limit_closed_input": 1, "presence_input": 1999},
        # A manual's 1xxxx numbers are real addresses too: the board answers whether it has them.
        {**MODBUS, "limit_open_input": 10001, "limit_closed_input": 10002},
    ],
)
def test_addresses_one_read_can_carry_are_taken(data: dict[str, Any]) -> None:
    taken = BARRIER.validate_python(data)
    assert {key: getattr(taken, key) for key in data} == data  # as written, none renumbered


def test_the_installer_reads_one_line_naming_the_gate_s_field(tmp_path: Path) -> None:
    config = tmp_path / "parkgate.yaml"
    config.write_text(
        """
community:
  name: t
  zones: [{id: P1, capacity: 10}]
  gates:
    - id: south-in
      kind: vehicle
      direction: in
      zone: P1
      barrier: {driver: modbus, host: 127.0.0.1, presence_input: 70000}
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert len(lines) == 2
    assert "community.gates.0.barrier.modbus.presence_input" in lines[1]
    assert str(config) in lines[1]


def test_a_request_pymodbus_will_not_build_is_a_hardware_error() -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, ModbusRig)
        link = ModbusLink("127.0.0.1", rig.port, 1, 1.0)
        try:
            with pytest.raises(HardwareError, match=r"read_discrete_inputs\(0,\) not sent"):
                await link.call("read_discrete_inputs", 0, count=2500)
            with pytest.raises(HardwareError, match=r"write_coil\(70000, True\) not sent"):
                await link.call("write_coil", 70000, True)
            # Nothing was sent, the link is as good as before.
            await link.call("read_coils", 0, count=1)
        finally:
            await link.close()

    run_with_rig("modbus", scenario)


def test_the_input_poll_survives_a_request_it_cannot_build(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, ModbusRig)
        link = ModbusLink("127.0.0.1", rig.port, 1, 1.0)
        poller = ModbusInputPoller(link, 0.02)
        poller.add("g.limit_open", 0)
        poller.add("g.presence", 2500)  # as the configuration no longer allows
        await poller.start()
        task = poller._task
        assert task is not None
        try:
            await eventually(
                lambda: any("not sent" in r.getMessage() for r in caplog.records),
                5.0,
                "the poll's warning",
            )
            await asyncio.sleep(0.1)
            assert not task.done()  # it died here with the ValueError, unseen
        finally:
            await poller.stop()
            await link.close()

    with caplog.at_level(logging.WARNING, logger="hardware.modbus"):
        run_with_rig("modbus", scenario)


def test_an_address_the_board_lacks_says_so() -> None:
    async def scenario(rig: Any) -> None:
        assert isinstance(rig, ModbusRig)
        link = ModbusLink("127.0.0.1", rig.port, 1, 1.0)
        try:
            with pytest.raises(HardwareError, match="it has no such address") as caught:
                await link.call("read_discrete_inputs", 10001, count=1)  # the rig has 64
            assert "illegal data address" in str(caught.value)
            assert "counted from 0" in str(caught.value)
        finally:
            await link.close()

    run_with_rig("modbus", scenario)
