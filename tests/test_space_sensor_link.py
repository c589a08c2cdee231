"""The per-space sensors' broker link says when it is down, through a real Mosquitto.

The sensor client logged only its subscriptions: a broker that was down, went away or refused
the configured password was silent, and the spaces aged into ``unknown`` (or followed the
gates) with nothing in the log to say why. Now each outage is one line (not one per retry), a
refused connection is an ERROR naming the settings to check, and the return is said too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from services.parking_config import SpaceSensorMqttConfig
from services.space_sensors import MqttSpaceSensors
from tests.private_broker import PrivateBroker

TOPIC = "walk/spaces/+/state"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path)
    yield broker
    broker.stop()


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "services.space_sensors" and text in r.getMessage()]


async def until(done: Callable[[], object], what: Callable[[], object], within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.05)


@pytest.mark.broker
def test_a_broker_down_at_start_then_lost_is_said_once_each_and_its_return_too(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[tuple[bytes, str | None]] = []
    sensors = MqttSpaceSensors(
        SpaceSensorMqttConfig(enabled=True, port=broker.port), TOPIC,
        lambda payload, topic: got.append((payload, topic)),
    )

    async def scenario() -> None:
        with caplog.at_level(logging.INFO, logger="services.space_sensors"):
            await sensors.start()  # nothing listens on the port yet
            await until(lambda: lines(caplog, "unreachable"), lambda: caplog.text)
            await asyncio.sleep(2.5)  # paho retries at 1 s, 2 s: still one line
            broker.start()
            await until(lambda: lines(caplog, "the link is back"), lambda: caplog.text)
            await asyncio.sleep(0.3)  # the subscription's answer
            publish.single("walk/spaces/A-001/state", b"{}", port=broker.port, qos=1)
            await until(lambda: bool(got), lambda: got)
            broker.stop()
            await until(lambda: lines(caplog, "lost the link"), lambda: caplog.text)
            broker.start()
            await until(lambda: len(lines(caplog, "the link is back")) == 2,
                        lambda: caplog.text)
            await sensors.stop()

    asyncio.run(scenario())
    assert len(lines(caplog, "unreachable")) == 1, caplog.text
    assert len(lines(caplog, "lost the link")) == 1, caplog.text
    assert got[0] == (b"{}", "walk/spaces/A-001/state")
    assert all(r.levelno == logging.WARNING
               for r in lines(caplog, "unreachable") + lines(caplog, "lost the link"))
    assert "sensor_max_age_s" in lines(caplog, "unreachable")[0].getMessage()


@pytest.mark.broker
def test_a_refused_password_is_an_error_naming_the_settings_not_a_subscription(
    broker: PrivateBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Mosquitto with no anonymous clients and no password file refuses every client, as a
    broker does a wrong password: before, the client logged "subscribed" all the same."""
    broker.conf.write_text(
        broker.conf.read_text(encoding="utf-8").replace(
            "allow_anonymous true", "allow_anonymous false"),
        encoding="utf-8",
    )
    broker.start()
    sensors = MqttSpaceSensors(
        SpaceSensorMqttConfig(enabled=True, port=broker.port, username="sensors"), TOPIC,
        lambda payload, topic: None,
    )

    async def scenario() -> None:
        with caplog.at_level(logging.INFO, logger="services.space_sensors"):
            await sensors.start()
            await until(lambda: lines(caplog, "refused"), lambda: caplog.text)
            await asyncio.sleep(2.5)  # retried, refused again: still one line
            await sensors.stop()

    asyncio.run(scenario())
    (refused,) = lines(caplog, "refused")
    assert refused.levelno == logging.ERROR
    assert "parking.sensors' username and password" in refused.getMessage()
    assert not lines(caplog, "subscribed"), caplog.text
