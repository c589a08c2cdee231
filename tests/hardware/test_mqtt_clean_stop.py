"""A clean stop of parkgate is not a broker outage in the log (found walking an install: every
stop logged "WARNING … disconnected from 127.0.0.1:1883: disconnected" for each MQTT relay)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from hardware.config import MqttInputConfig
from hardware.mqtt import MqttConnection
from tests.private_broker import PrivateBroker

pytestmark = pytest.mark.broker


async def until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def test_our_own_disconnect_is_info_and_a_lost_broker_still_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    config = MqttInputConfig(driver="mqtt", port=broker.port, topic="t", reconnect_max_s=0.5)

    def said(level: int) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name == "hardware.mqtt" and r.levelno == level and "disconnected" in r.getMessage()
        ]

    async def scenario() -> None:
        stopped = MqttConnection(config, "pg-clean-stop")
        await stopped.connect()
        await stopped.wait_connected(10)
        await stopped.disconnect()
        await until(lambda: said(logging.INFO))
        assert said(logging.WARNING) == []
        assert "(stopping)" in said(logging.INFO)[0]

        # The broker going away is still a warning, also after a reconnect of the same object.
        lost = MqttConnection(config, "pg-broker-lost")
        await lost.connect()
        await lost.wait_connected(10)
        broker.stop()
        try:
            await until(lambda: said(logging.WARNING))
            assert "pg-broker-lost" in said(logging.WARNING)[0]
        finally:
            await lost.disconnect()

    try:
        with caplog.at_level(logging.INFO, logger="hardware.mqtt"):
            asyncio.run(scenario())
    finally:
        broker.stop()
