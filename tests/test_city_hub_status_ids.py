"""A community's ``status`` names its controller (an MQTT 5 user property), through a real
broker.

Before, the status (plain ``online``/``offline``, the last will among them) named no
controller: while a second controller published under a community's name the hub took no
status at all, so the first one going offline did not show, and the second's very first
``online`` (sent before any message with its id) was taken. Now the hub takes a status only
from the controller it keeps for the community, and a status without an id (a controller
older than it, or one set to MQTT 3.1.1) is read as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest

from controllers.events import EventBus
from services.city_hub import Accepted, CityHub, run_hub
from services.city_mqtt import CityPublisher
from settings import MqttPublishConfig
from tests.private_broker import PrivateBroker
from tests.test_city_hub import availability, passage

NAME = "阳光花园"
FIRST, SECOND = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
Status = tuple[str, str | None]  # the payload, the controller its property names


class StatusesSeen(CityHub):
    """The hub, noting each status message it is handed, so a test waits for the one it
    sent instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[Status] = []

    def take(
        self, topic: str, payload: bytes, *, controller: str | None = None
    ) -> Accepted | None:
        taken = super().take(topic, payload, controller=controller)
        if topic.endswith("/status"):
            self.statuses.append((payload.decode(), controller))
        return taken

    def online(self) -> bool | None:
        return self.communities[NAME].online

    def clashes(self) -> int:
        return self.communities[NAME].clashes


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@contextlib.contextmanager
def running(hub: CityHub, broker: PrivateBroker, client_id: str = "hub-status") -> Iterator[None]:
    """``run_hub`` feeding ``hub`` until the block ends."""
    stop, subscribed = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_hub, args=(hub, "127.0.0.1", broker.port),
        kwargs={"client_id": client_id, "out": None, "every_s": 60.0, "stop": stop,
                "subscribed": subscribed},
    )
    thread.start()
    try:
        assert subscribed.wait(10), "the hub did not subscribe"
        yield
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def hub(broker: PrivateBroker) -> Iterator[StatusesSeen]:
    hub = StatusesSeen()
    with running(hub, broker):
        yield hub


def controller(
    broker: PrivateBroker, ident: str, protocol: Literal["5", "3.1.1"] = "5"
) -> CityPublisher:
    config = MqttPublishConfig(enabled=True, port=broker.port, protocol=protocol)
    return CityPublisher(config, NAME, EventBus(), controller=ident)


async def until(done: Callable[[], bool], what: Callable[[], object]) -> None:
    deadline = time.monotonic() + 10
    while not done():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.02)


async def seen(hub: StatusesSeen, status: Status, times: int = 1) -> None:
    """Until the hub has been handed ``status`` ``times`` times."""
    await until(lambda: hub.statuses.count(status) >= times, lambda: hub.statuses)


def crash(publisher: CityPublisher) -> None:
    """The controller dies without a word: its network thread gone, its socket closed with no
    DISCONNECT, so the broker publishes its last will at once (no 45 s keep-alive wait)."""
    publisher._client.loop_stop()
    sock = publisher._client.socket()
    assert sock is not None
    sock.close()


@pytest.mark.broker
def test_a_status_without_an_id_is_read_as_before(
    broker: PrivateBroker, hub: StatusesSeen
) -> None:
    """A controller speaking MQTT 3.1.1 (a broker older than MQTT 5; or older than the
    status's id) names no controller on its status: the hub shows its ``online`` and its last
    will as it always did. A newer controller's first ``online`` under its name is still
    refused: it names another controller than the one the community's messages come from."""
    old = controller(broker, FIRST, protocol="3.1.1")
    newer = controller(broker, SECOND)

    async def scenario() -> None:
        await old.start()
        await seen(hub, ("online", None))
        assert hub.online() is True
        old.publish(availability(40, 30))  # its messages still carry the id
        await until(lambda: hub.totals()["total_capacity"] == 40, hub.totals)
        crash(old)
        await seen(hub, ("offline", None))
        assert hub.online() is False
        assert hub.clashes() == 0
        await newer.start()
        await seen(hub, ("online", SECOND))
        assert hub.online() is False, "the second controller's first online was taken"
        await newer.stop()
        # the broker hands the stop's offline on after stop() returns: wait for it
        await seen(hub, ("offline", SECOND))

    asyncio.run(scenario())
    assert hub.online() is False
    assert hub.clashes() == 2  # the newer one's online and offline


@pytest.mark.broker
def test_a_second_controllers_online_and_offline_are_not_taken(
    broker: PrivateBroker, hub: StatusesSeen
) -> None:
    """The second controller's first ``online`` comes before any other message of it; its
    ``offline`` (a stop) comes while the first is up. Neither is the community's."""
    first, second = controller(broker, FIRST), controller(broker, SECOND)

    async def scenario() -> None:
        await first.start()
        first.publish(availability(40, 30))
        await until(lambda: hub.totals()["total_capacity"] == 40, hub.totals)
        await first.stop()  # the community is offline when the second appears
        await seen(hub, ("offline", FIRST))
        assert hub.online() is False
        await second.start()
        await seen(hub, ("online", SECOND))
        assert hub.online() is False, "the second controller's first online was taken"
        await second.stop()
        await seen(hub, ("offline", SECOND))
        # The first back, then the second again: its stop changes nothing.
        first_again, second_again = controller(broker, FIRST), controller(broker, SECOND)
        await first_again.start()
        await seen(hub, ("online", FIRST), times=2)
        assert hub.online() is True
        await second_again.start()
        # Its online heard before the stop: start() only begins connecting, and a stop
        # before the broker answered sends no online at all (one clash fewer).
        await seen(hub, ("online", SECOND), times=2)
        await second_again.stop()
        await seen(hub, ("offline", SECOND), times=2)
        assert hub.online() is True, "the second controller's offline was taken"
        await first_again.stop()

    asyncio.run(scenario())
    assert hub.clashes() == 4  # the second's two online and two offline
    assert hub.totals()["total_capacity"] == 40


@pytest.mark.broker
def test_the_first_controllers_last_will_shows_during_a_clash(
    broker: PrivateBroker, hub: StatusesSeen
) -> None:
    """While a second controller publishes under the name, the first dies: its last will,
    which names it, shows the community offline (before, no status was taken then)."""
    first, second = controller(broker, FIRST), controller(broker, SECOND)

    async def scenario() -> None:
        await first.start()
        first.publish(availability(40, 30))
        await until(lambda: hub.totals()["total_capacity"] == 40, hub.totals)
        await second.start()
        second.publish(availability(20, 20))  # refused: a clash, the second heard
        await seen(hub, ("online", SECOND))
        await until(lambda: hub.clashes() >= 1, hub.totals)  # its availability at least
        assert hub.online() is True
        crash(first)
        await seen(hub, ("offline", FIRST))
        await second.stop()

    asyncio.run(scenario())
    assert hub.online() is False
    assert hub.totals()["total_capacity"] == 40


@pytest.mark.parametrize("named", ["", "AAAAAAAAAAAA", "aaaaaaaaaaa", "controller"])
def test_a_status_naming_no_controller_id_of_the_schemas_form_is_refused(named: str) -> None:
    """The hub keeps a community's controller by its id: anything else would be a new one."""
    hub = CityHub()
    assert hub.take(f"parkgate/{NAME}/status", b"online", controller=named) is None
    assert hub.communities[NAME].online is None
    assert (hub.refused, hub.communities[NAME].controller) == (1, None)


@pytest.mark.broker
def test_the_hubs_mqtt_5_session_keeps_what_comes_while_it_is_away(
    broker: PrivateBroker,
) -> None:
    """The hub subscribes with MQTT 5 to read the status's property; its session must still
    outlive a stop, as 3.1.1's clean_session false did (MQTT 5 ends a session at the
    disconnect unless the hub asks for an expiry), or a passage sent meanwhile is lost."""
    hub = CityHub()
    with running(hub, broker, client_id="hub-away"):
        pass  # the session and its subscription are made
    publisher = controller(broker, FIRST)

    async def while_away() -> None:
        await publisher.start()
        await until(lambda: publisher.status.connected, lambda: publisher.status)
        publisher.publish(passage(1))
        await publisher.stop()  # a clean stop: the broker has taken the passage
        assert publisher.status.queued == 0

    asyncio.run(while_away())
    with running(hub, broker, client_id="hub-away"):
        deadline = time.monotonic() + 10
        while hub.totals()["passages"] != 1:
            assert time.monotonic() < deadline, hub.totals()
            time.sleep(0.02)
