"""A gate camera that pushes its frames is watched through its heartbeat: silence past its
limit is the camera_offline alarm, /healthz degraded, parkgate_camera_up 0, the gate card's
note and a camera event, as for a camera parkgate reads; a heartbeat or a pushed frame ends it.

Real HTTP through the app and its real watch, with a 2 s heartbeat: the camera is dark after
max(push_camera.offline_alarm_s 1 s, 3 × 2 s) = 6 s. Whatever is checked as up after a
heartbeat (/healthz, /metrics, the gate list, each a database read in a worker thread) must
be done within that, and a heartbeat every 2 s must never miss it: 3 s left little for a
shared 2-core CI box. Each step polls the API up to a deadline rather than sleeping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.api.conftest import running_app
from tests.api.test_camera_watch import _camera_offline
from tests.api.test_database_outage import FAST
from tests.api.test_metrics import TOKEN, _sample, _scrape
from tests.conftest import add_user, database_params, wait_until
from tests.db_outage import DatabaseOutage

CAMERA = {"X-API-Key": "test-camera-key"}  # cam-main's (tests/conftest.py)
SIDE_CAMERA = {"X-API-Key": "side-camera-key"}  # another camera's, at another gate
DEADLINE_S = 30.0
HEARTBEAT_S = 2.0
LIMIT_S = 6.0
# On SQLite only, the tests whose time is the watch's timing (no database in it): on
# PostgreSQL they waited as long again for the same result. What they do with the database
# (an account, the alarm stored and listed) the silent-camera and outage tests do on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _pushing_settings(tmp_path: Path | None = None) -> dict[str, Any]:
    """main-in's camera pushes with a 2 s heartbeat; with ``tmp_path``, main-out's camera is
    read by parkgate, from a quiet drop folder there."""
    from settings import demo_community

    community = demo_community().model_dump()
    community["gates"][0]["push_camera"] = {"heartbeat_s": HEARTBEAT_S, "offline_alarm_s": 1,
                                            "key_name": "cam-main"}
    if tmp_path is not None:
        tmp_path.mkdir(exist_ok=True)
        community["gates"][1]["camera"] = {"source": str(tmp_path), "offline_alarm_s": 60}
    keys = {"cam-main": CAMERA["X-API-Key"], "cam-side": SIDE_CAMERA["X-API-Key"]}
    return {"api": {"metrics_token": TOKEN}, "community": community, "camera_api_keys": keys}


def _pushing_app(app_factory: Any, tmp_path: Path | None = None, **overrides: Any) -> Any:
    return app_factory(**{**_pushing_settings(tmp_path), **overrides})


def _jpeg() -> bytes:
    """A grey frame: what it shows is not what these tests check. Small, as the recogniser's
    look at 320x240 costs 0.2 s of CPU, at 64x48 0.01 s."""
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


def _camera(client: Any, gate_id: str = "main-in") -> dict[str, Any]:
    return dict(client.get("/healthz").json()["cameras"][gate_id])


def _heartbeat(client: Any, gate_id: str = "main-in") -> dict[str, Any]:
    response = client.post(f"/api/v1/gates/{gate_id}/heartbeat", headers=CAMERA)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_silent_pushing_camera_is_an_alarm_until_it_is_heard_again(app_factory: Any) -> None:
    client = _pushing_app(app_factory)
    services = client.app.state.services
    events: list[dict[str, Any]] = []
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}

    def camera_offline() -> list[dict[str, Any]]:
        return _camera_offline(client, guard)

    def gate_card(gate_id: str = "main-in") -> Any:
        gates = {g["id"]: g for g in client.get("/api/v1/gates", headers=guard).json()}
        return gates[gate_id]["camera_up"]

    with services.bus.listening(
        lambda e: events.append(e.data) if e.type == "camera" else None
    ):
        # Never heard since the start: dark once its whole limit has passed.
        wait_until(lambda: bool(camera_offline()), DEADLINE_S, "the camera_offline alarm")
        [alarm] = camera_offline()
        assert alarm["gate_id"] == "main-in"
        assert "has delivered nothing for" in alarm["message"]
        assert "no heartbeat or frame pushed since parkgate started" in alarm["message"]
        health = client.get("/healthz").json()
        assert health["status"] == "degraded"
        camera = health["cameras"]["main-in"]
        assert camera["up"] is False and camera["watched"] is True
        assert camera["delivery"] == "push" and camera["state"] == "awaiting"
        assert camera["alarm_after_s"] == LIMIT_S and camera["silent_s"] >= LIMIT_S
        assert _sample(_scrape(client), "parkgate_camera_up", gate="main-in") == 0
        assert gate_card() is False
        assert events == [{"gate_id": "main-in", "up": False}]

        # The heartbeat ends it at once, not at the watch's next look.
        assert _heartbeat(client) == {"gate_id": "main-in", "watched": True,
                                      "alarm_after_s": LIMIT_S}
        health = client.get("/healthz").json()
        assert health["status"] == "ok", health
        camera = health["cameras"]["main-in"]
        assert camera["up"] is True and camera["state"] == "heard"
        assert camera["heartbeats"] == 1 and camera["silent_s"] < LIMIT_S
        assert _sample(_scrape(client), "parkgate_camera_up", gate="main-in") == 1
        assert gate_card() is True
        assert events[-1] == {"gate_id": "main-in", "up": True}

        # Silent again: down again, and the guards' alarm still open is not repeated.
        wait_until(lambda: _camera(client)["up"] is False, DEADLINE_S, "the camera dark again")
        assert len(camera_offline()) == 1
        assert events[-1] == {"gate_id": "main-in", "up": False}

        # A frame the camera pushes is heard as a heartbeat is, whatever it shows.
        pushed = client.post("/api/v1/gates/main-in/frames", content=_jpeg(),
                             headers={**CAMERA, "Content-Type": "image/jpeg"})
        assert pushed.status_code == 200, pushed.text
        camera = _camera(client)
        assert camera["up"] is True and camera["frames_read"] == 1
        assert camera["heartbeats"] == 1
        assert events[-1] == {"gate_id": "main-in", "up": True}
    assert len(camera_offline()) == 1


@SQLITE_ONLY
def test_a_face_terminal_that_pushes_is_watched_and_its_outage_told_as_a_face_gates(
    app_factory: Any,
) -> None:
    """Face terminals push their bursts; one gone dark is the same alarm, told for what it
    costs there (no face is recognised; residents use a PIN or QR code, or a guard opens),
    and the booth's card for that gate says so instead of 录入车牌."""
    from api.console.rendering import alarm_view
    from settings import demo_community

    community = demo_community().model_dump()
    ped = next(g for g in community["gates"] if g["id"] == "ped-1")
    ped["push_camera"] = {"heartbeat_s": HEARTBEAT_S, "offline_alarm_s": 1,
                          "key_name": "cam-ped"}
    client = app_factory(community=community, camera_api_keys={
        "cam-ped": CAMERA["X-API-Key"], "cam-side": SIDE_CAMERA["X-API-Key"]})
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}

    def offline() -> list[dict[str, Any]]:
        return _camera_offline(client, guard)

    wait_until(lambda: bool(offline()), DEADLINE_S, "the face terminal's camera_offline")
    [alarm] = offline()
    assert alarm["gate_id"] == "ped-1"
    assert "faces there are not recognised" in alarm["message"]
    hint = alarm_view("zh", "camera_offline", alarm["message"]).hint
    assert "密码" in hint and "录入车牌" not in hint
    from tests.api.test_console import cookie_login

    cookie_login(client, "guard", "guard")  # the account made above
    page = client.get("/console")
    assert page.status_code == 200
    assert "人脸摄像头离线：请用密码、二维码或保安开闸" in page.text
    client.cookies.clear()  # the camera's requests below carry its key, not a guard's session

    # Its heartbeat ends it; another camera's key does not.
    refused = client.post("/api/v1/gates/ped-1/heartbeat", headers=SIDE_CAMERA)
    assert refused.status_code == 403, refused.text
    assert _heartbeat(client, "ped-1")["watched"] is True
    assert _camera(client, "ped-1")["up"] is True


@SQLITE_ONLY
def test_a_camera_heard_from_its_first_interval_on_raises_nothing(app_factory: Any) -> None:
    """A restart: the camera's first heartbeat comes one interval after parkgate is up."""
    client = _pushing_app(app_factory)
    started = time.monotonic()
    camera = _camera(client)
    assert camera["up"] is True and camera["state"] == "awaiting"
    assert client.get("/healthz").json()["status"] == "ok"
    # At its interval from one interval after the start on, past the limit: the watch looks
    # every second meanwhile.
    beats = 0
    while time.monotonic() - started < LIMIT_S + 2 * HEARTBEAT_S:
        time.sleep(HEARTBEAT_S)
        _heartbeat(client)
        beats += 1
        assert _camera(client)["up"] is True
    camera = _camera(client)
    assert camera["heartbeats"] == beats and camera["state"] == "heard"
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    assert not _camera_offline(client, guard)


def test_a_staff_upload_does_not_say_the_camera_is_alive(app_factory: Any) -> None:
    client = _pushing_app(app_factory)
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    pushed = client.post("/api/v1/gates/main-in/frames", content=_jpeg(),
                         headers={**guard, "Content-Type": "image/jpeg"})
    assert pushed.status_code == 200, pushed.text
    camera = _camera(client)
    assert camera["frames_read"] == 0 and camera["state"] == "awaiting"


def test_another_cameras_frame_does_not_say_the_gates_camera_is_alive(
    app_factory: Any,
) -> None:
    client = _pushing_app(app_factory)
    pushed = client.post("/api/v1/gates/main-in/frames", content=_jpeg(),
                         headers={**SIDE_CAMERA, "Content-Type": "image/jpeg"})
    # Refused, as its heartbeat is (tests/api/test_security_camera_keys.py).
    assert pushed.status_code == 403, pushed.text
    camera = _camera(client)
    assert camera["frames_read"] == 0 and camera["state"] == "awaiting"
    # Its own key is heard.
    pushed = client.post("/api/v1/gates/main-in/frames", content=_jpeg(),
                         headers={**CAMERA, "Content-Type": "image/jpeg"})
    assert pushed.status_code == 200, pushed.text
    assert _camera(client)["frames_read"] == 1


def test_a_pushing_camera_without_a_heartbeat_setting_is_listed_unwatched(
    app_factory: Any,
) -> None:
    client = _pushing_app(app_factory)
    assert "main-out" not in client.get("/healthz").json()["cameras"]  # not heard yet
    assert _heartbeat(client, "main-out") == {"gate_id": "main-out", "watched": False,
                                              "alarm_after_s": None}
    pushed = client.post("/api/v1/gates/main-out/frames", content=_jpeg(),
                         headers={**CAMERA, "Content-Type": "image/jpeg"})
    assert pushed.status_code == 200, pushed.text
    health = client.get("/healthz").json()
    camera = health["cameras"]["main-out"]
    assert camera["up"] is None and camera["watched"] is False
    assert camera["alarm_after_s"] is None and camera["delivery"] == "push"
    assert camera["heartbeats"] == 1 and camera["frames_read"] == 1
    body = _scrape(client)
    assert _sample(body, "parkgate_camera_up", gate="main-in") == 1
    with pytest.raises(AssertionError, match="no sample"):
        _sample(body, "parkgate_camera_up", gate="main-out")
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    gates = {g["id"]: g for g in client.get("/api/v1/gates", headers=guard).json()}
    assert gates["main-out"]["camera_up"] is None


@pytest.fixture(scope="module", params=database_params())
def refusing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    plate_recognizer: Any,
) -> Iterator[tuple[Any, dict[str, str]]]:
    """One pushing app per database and a guard's headers for the refused heartbeats: a
    refusal counts no heartbeat and changes nothing (each case checks that it counted none),
    so the six share it instead of building one each (0.5 s of CPU for one request;
    tests/api/conftest.py ``running_app``)."""
    drop = tmp_path_factory.mktemp("drop")
    with running_app(request.param, tmp_path_factory, plate_recognizer,
                     **_pushing_settings(drop)) as client:
        yield client, {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}


@pytest.mark.parametrize(
    ("gate_id", "headers", "status", "detail"),
    [
        ("main-in", {}, 401, "send the camera's X-API-Key"),
        ("main-in", {"X-API-Key": "guess"}, 401, "unknown camera API key"),
        ("main-in", "guard", 403, "only the camera itself"),
        # Another camera's key, as from a camera whose heartbeat URL names the wrong gate:
        # it would keep main-in's dead camera looking alive.
        ("main-in", SIDE_CAMERA, 403, "the key of camera 'cam-side' is not the one set for "
         "main-in's camera (push_camera.key_name)"),
        ("north-gate", CAMERA, 404, "unknown gate 'north-gate'"),
        ("main-out", CAMERA, 409, "read by parkgate (camera.source)"),
    ],
)
def test_a_heartbeat_is_refused_with_a_reason(
    refusing: tuple[Any, dict[str, str]], gate_id: str, headers: Any, status: int, detail: str
) -> None:
    client, guard = refusing
    if headers == "guard":
        headers = guard
    heard = _camera(client)["heartbeats"]  # 0, unless a refusal above was let through
    response = client.post(f"/api/v1/gates/{gate_id}/heartbeat", headers=headers)
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert _camera(client)["heartbeats"] == heard


def test_during_a_database_outage_heartbeats_are_answered_and_silence_still_alarms(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The heartbeat touches no database; the alarm for a camera gone dark meanwhile reaches
    the guards at once (unstored, id null) and is stored when the database answers."""
    client = _pushing_app(app_factory, database_url=outage.url, access=FAST["access"])
    services = client.app.state.services
    _heartbeat(client)
    alarms: list[dict[str, Any]] = []
    with services.bus.listening(
        lambda e: alarms.append(e.data)
        if e.type == "alarm" and e.data["kind"] == "camera_offline" else None
    ):
        outage.cut(services.engine)
        assert _heartbeat(client)["watched"] is True
        assert _camera(client)["up"] is True
        wait_until(lambda: bool(alarms), DEADLINE_S, "the camera_offline alarm")
        assert alarms[-1]["id"] is None and alarms[-1]["gate_id"] == "main-in"
        health = client.get("/healthz").json()
        assert health["database"] is False and health["cameras"]["main-in"]["up"] is False
        _heartbeat(client)
        assert _camera(client)["up"] is True
    outage.restore()
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    wait_until(lambda: any(a["id"] is not None for a in _camera_offline(client, guard)),
               DEADLINE_S, "the stored alarm")
