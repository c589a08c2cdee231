"""The booth page says which gate's camera is dark, for as long as it is, and what to do; the
camera_offline alarm is acknowledged long before the camera is mended. Debian chromium on a
real server whose main-in camera is a real HTTP snapshot camera, first unplugged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.api.test_camera_watch import camera_port  # noqa: F401 - a fixture used below
from tests.browser.conftest import LiveServer, enter_as, screenshot, serving

pytestmark = pytest.mark.browser

CAMERA_DOWN = "摄像头离线：来车请用「录入车牌」"


@pytest.fixture
def live_server(
    make_settings: Any, plate_recognizer: Any, camera_port: tuple[int, Callable[[], None]]  # noqa: F811
) -> Iterator[LiveServer]:
    """The suite's live server, with a snapshot camera at main-in on ``camera_port``."""
    from services.container import build_services
    from settings import demo_community
    from tests.api.test_console import add_staff

    community = demo_community().model_dump()
    community["gates"][0]["camera"] = {
        "source": f"http://127.0.0.1:{camera_port[0]}/snapshot.jpg", "fps": 4,
        "motion_gate": False, "offline_alarm_s": 5, "reconnect_min_s": 0.2,
        "reconnect_max_s": 0.5,
    }
    services = build_services(make_settings(community=community), recognizer=plate_recognizer)
    add_staff(services, "guard", "guard")
    with serving(services) as server:
        yield server


def test_the_gate_card_says_its_camera_is_dark_until_it_delivers_again(
    live_server: LiveServer, new_page: Any, camera_port: tuple[int, Callable[[], None]]  # noqa: F811
) -> None:
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    main_in = page.locator('.gate[data-gate="main-in"] [data-role="camera"]')
    # No look before the limit: a log-in slower than offline_alarm_s on a loaded machine
    # finds the camera dark already (tests/api/test_camera_watch.py times the limit). That the
    # note goes when the camera is back is checked at the end.
    expect(main_in).to_have_text(CAMERA_DOWN)
    expect(main_in).to_be_visible(timeout=30_000)
    # Only the gate whose camera is out; the others have no camera parkgate reads.
    others = page.locator('.gate:not([data-gate="main-in"]) [data-role="camera"]:visible')
    expect(others).to_have_count(0)
    screenshot(page, "70-camera-dark")

    # A page opened while it is dark says so from the start, without waiting for an event.
    later = new_page()
    enter_as(later, live_server, "guard", "guard")
    expect(later.locator('.gate[data-gate="main-in"] [data-role="camera"]')).to_be_visible()

    camera_port[1]()  # the camera is plugged back in
    expect(main_in).to_be_hidden(timeout=30_000)
    expect(later.locator('.gate[data-gate="main-in"] [data-role="camera"]')).to_be_hidden()
