"""A gate camera that goes dark is known at once: a camera_offline alarm for the guards,
/healthz degraded, /metrics parkgate_camera_up 0; and it is known when it comes back.

The camera is a real HTTP snapshot camera (an http.server answering JPEGs) on a port that
first has nothing listening, then answers; the worker, the watch and the app are the real
ones. Nothing waits on a fixed sleep: each step polls the API up to a deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np
import pytest

from tests.api.test_metrics import TOKEN, _sample, _scrape
from tests.conftest import wait_until

DEADLINE_S = 60.0


def _jpeg() -> bytes:
    """A grey frame: what it shows is not what these tests check. Small, as the recogniser's
    look at each frame the camera delivers (4 a second) costs 0.2 s of CPU at 320x240, 0.01 s
    at 64x48."""
    ok, data = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    return data.tobytes()


class _Snapshot(BaseHTTPRequestHandler):
    image = _jpeg()

    def do_GET(self) -> None:  # the name http.server calls
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.image)))
        self.end_headers()
        self.wfile.write(self.image)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the test's output is not the place for a camera's access log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def camera_port() -> Iterator[tuple[int, Callable[[], None]]]:
    """A port with no camera yet, and a function that plugs the camera in."""
    port = _free_port()
    servers: list[ThreadingHTTPServer] = []

    def plug_in() -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), _Snapshot)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)

    yield port, plug_in
    for server in servers:
        server.shutdown()
        server.server_close()


def _camera_app(app_factory: Any, port: int) -> Any:
    from settings import demo_community

    community = demo_community().model_dump()
    community["gates"][0]["camera"] = {
        "source": f"http://127.0.0.1:{port}/snapshot.jpg", "fps": 4, "motion_gate": False,
        "offline_alarm_s": 5, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5,
    }
    return app_factory(api={"metrics_token": TOKEN}, community=community)


def _alarms(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/api/v1/alarms", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return list(body["items"] if isinstance(body, dict) else body)


def _camera_offline(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The camera_offline alarms the guards see."""
    return [a for a in _alarms(client, headers) if a["kind"] == "camera_offline"]


def test_a_dark_camera_is_an_alarm_and_degraded_health_until_it_delivers_again(
    app_factory: Any, camera_port: tuple[int, Callable[[], None]]
) -> None:
    from tests.conftest import add_user

    port, plug_in = camera_port
    client = _camera_app(app_factory, port)
    headers = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}

    def camera_offline() -> list[dict[str, Any]]:
        return _camera_offline(client, headers)

    wait_until(lambda: bool(camera_offline()), DEADLINE_S, "the camera_offline alarm")
    [alarm] = camera_offline()
    assert alarm["gate_id"] == "main-in"
    assert "has delivered nothing for" in alarm["message"]
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    camera = health["cameras"]["main-in"]
    assert camera["up"] is False and camera["frames_read"] == 0
    assert "Connection refused" in (camera["last_error"] or "")
    assert camera["failures"] >= 2  # it kept trying, with back-off
    assert _sample(_scrape(client), "parkgate_camera_up", gate="main-in") == 0
    gates = {g["id"]: g for g in client.get("/api/v1/gates", headers=headers).json()}
    assert gates["main-in"]["camera_up"] is False
    assert gates["main-out"]["camera_up"] is None  # parkgate reads no camera there

    plug_in()
    wait_until(lambda: client.get("/healthz").json()["cameras"]["main-in"]["up"], DEADLINE_S,
               "the camera to be up again")
    health = client.get("/healthz").json()
    assert health["status"] == "ok", health
    assert health["cameras"]["main-in"]["frames_read"] > 0
    # Its refusals are over: not shown as the camera's error any more, only counted.
    assert health["cameras"]["main-in"]["last_error"] is None, health["cameras"]["main-in"]
    assert health["cameras"]["main-in"]["failures"] >= 2
    gates = {g["id"]: g for g in client.get("/api/v1/gates", headers=headers).json()}
    assert gates["main-in"]["camera_up"] is True
    body = _scrape(client)
    assert _sample(body, "parkgate_camera_up", gate="main-in") == 1
    assert _sample(body, "parkgate_camera_frames_read_total", gate="main-in") > 0
    # One outage, one alarm: the reconnect attempts while it was dark raised no more.
    assert len(camera_offline()) == 1


def test_a_camera_that_delivers_raises_nothing(
    app_factory: Any, camera_port: tuple[int, Callable[[], None]]
) -> None:
    from tests.conftest import add_user

    port, plug_in = camera_port
    plug_in()
    client = _camera_app(app_factory, port)
    headers = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    watch = client.app.state.services.cameras
    # Past the camera's offline_alarm_s with frames arriving the whole time.
    wait_until(lambda: (
        client.get("/healthz").json()["cameras"]["main-in"]["frames_read"] > 0
        and time.monotonic() - watch.workers["main-in"].stats.started_at > 7
    ), DEADLINE_S, "frames past the alarm limit")
    assert client.get("/healthz").json()["status"] == "ok"
    assert not _camera_offline(client, headers)


def test_without_a_camera_health_lists_none(client: Any) -> None:
    assert client.get("/healthz").json()["cameras"] == {}
    # The watch is there for a camera that pushes unannounced, but has nothing to look at.
    assert not client.app.state.services.cameras.running
