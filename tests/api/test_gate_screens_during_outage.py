"""Lane screens during a database outage tell what happens at the gate, once.

A guard's open during an outage moved the barrier, but its audit entry waited in the journal
and nothing reached the bus until the write-back: the screen stayed silent while the car
went through, and a write-back within a few seconds then said 保安已放行 to whoever was at
the gate by then. A barrier fault on a passage decided offline was not told at all, and the
written-back passage could put that car's 欢迎回家 back over what came since. The database
really goes away (tests/db_outage.py); the screens and barriers are the simulated drivers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controllers.events import Event
from hardware.simulated import SimFault, SimulatedScreen
from services.city_mqtt import to_message
from tests.api.test_console import add_staff
from tests.api.test_database_outage import FAST, RESIDENT, STRANGER, push
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import wait_until
from tests.db_outage import DatabaseOutage

REASON = "道闸故障，人工放行"
GUARD_OPENED = ("保安已放行",)
WELCOME = ("闽A·12345", "欢迎回家")
FAULT = ("闽A·12345", "道闸故障", "请联系保安")


class Heard:
    """Every message the screens were meant to show (the service's ``screen`` events, one
    per change, whether or not a newer one superseded it on the wire), and the audit events."""

    def __init__(self) -> None:
        self.told: list[tuple[str, tuple[str, ...]]] = []
        self.audits: list[Event] = []

    def __call__(self, event: Event) -> None:
        if event.type == "screen" and event.data["level"] is not None:  # not the idle screen
            self.told.append((event.data["gate_id"], tuple(event.data["lines"])))
        elif event.type in ("audit", "audit_offline"):
            self.audits.append(event)

    def at(self, gate: str) -> list[tuple[str, ...]]:
        return [lines for told_gate, lines in self.told if told_gate == gate]


@pytest.fixture
def site(app_factory: Any, outage: DatabaseOutage) -> Iterator[tuple[Any, dict[str, str], Heard]]:
    """A resident's car in the offline snapshot, a guard the controller has seen active (so
    the outage lets them act), and what the screens are told from now on."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    assert client.get("/api/v1/gates", headers=guard).status_code == 200
    heard = Heard()
    with services.bus.listening(heard):
        yield client, guard, heard


def showing(client: Any, gate: str, lines: tuple[str, ...], what: str) -> None:
    screen = client.app.state.services.screens.lanes[gate].screen
    assert isinstance(screen, SimulatedScreen)
    wait_until(lambda: screen.shown is not None and screen.shown.lines == lines, 5,
               f"{what}: {lines} (shows {screen.shown})")


def guard_opens(client: Any, guard: dict[str, str], gate: str, **named: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/gates/{gate}/actions", headers=guard,
                           json={"action": "open", "reason": REASON, **named})
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["audit_id"] is None and body["journal_id"], body  # journalled: the outage
    return body


def written_back(client: Any, heard: Heard, journal_id: str) -> None:
    """The journals are written and the stored audit row published; then a stranger at the
    exit: the screens handle events in order, so once the exit's screen tells that car,
    everything published before it was handled (and shown, if it were to be)."""
    services = client.app.state.services
    wait_until(lambda: not services.runtime.journal_waiting() and not services.audit_waiting(),
               20, "the write-back")
    wait_until(lambda: any(e.type == "audit" and e.data.get("journal_id") == journal_id
                           for e in heard.audits), 5, "the written-back audit row")
    assert push(client, "main-out", STRANGER).status_code == 200
    wait_until(lambda: any("粤B·67890" in lines for lines in heard.at("main-out")), 5,
               "the stranger at the exit")


def test_a_guards_open_during_an_outage_is_told_at_that_gate_and_not_again_after_it(
    site: tuple[Any, dict[str, str], Heard], outage: DatabaseOutage
) -> None:
    client, guard, heard = site
    services = client.app.state.services

    outage.cut(services.engine)
    opened = guard_opens(client, guard, "main-in")  # the gate strip's 开闸: no passage named
    showing(client, "main-in", GUARD_OPENED, "the guard's open during the outage")
    assert heard.at("main-in") == [GUARD_OPENED]
    assert GUARD_OPENED not in heard.at("main-out") + heard.at("ped-1")

    outage.restore()
    written_back(client, heard, opened["journal_id"])
    assert heard.at("main-in") == [GUARD_OPENED], "told again when written back"
    # One live event and one audit row for the one action, tied by the journal id.
    live, stored = heard.audits
    assert (live.type, stored.type) == ("audit_offline", "audit")
    assert live.data["journal_id"] == stored.data["journal_id"] == opened["journal_id"]
    assert live.data["gate_id"] == "main-in" and live.data["details"]["outcome"] in (
        "opening", "open")
    assert isinstance(stored.data["id"], int) and "id" not in live.data
    # The city feed publishes nothing for it (nor for the stored row, as before).
    assert to_message(live, "demo", publish_plates=False) is None


def test_a_barrier_fault_on_a_passage_decided_offline_is_told_and_the_write_back_is_not(
    site: tuple[Any, dict[str, str], Heard], outage: DatabaseOutage
) -> None:
    client, guard, heard = site
    services = client.app.state.services
    barrier = services.barriers["main-in"]

    outage.cut(services.engine)
    barrier.inject_fault(SimFault.OFFLINE)  # its relay unreachable: the car's open fails
    body = push(client, "main-in", RESIDENT).json()
    barrier.clear_faults()
    assert (body["decision"], body["barrier"]) == ("allow", "fault"), body
    assert body["passage_id"] is None and body["journal_id"]
    showing(client, "main-in", FAULT, "the fault on the passage decided offline")

    opened = guard_opens(client, guard, "main-in", passage_journal_id=body["journal_id"])
    assert opened["admission"] == "redone"
    showing(client, "main-in", GUARD_OPENED, "the guard's open of that car")

    outage.restore()
    written_back(client, heard, opened["journal_id"])
    # The written-back passage (its 欢迎回家) and the guard's open are not told a second time.
    assert heard.at("main-in") == [WELCOME, FAULT, GUARD_OPENED]
