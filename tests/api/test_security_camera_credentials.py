"""A snapshot camera's password (``http://user:password@…/snapshot.jpg``, the usual way to
give one) is sent to the camera and never shown: not in the public /healthz, whose
``last_error`` is the camera's last failure, nor in the log.

httpx names the request URL in its errors ("Client error '401 Unauthorized' for url
'http://admin:…@…'") and in its request log line; with the password in the URL, anyone who
could reach /healthz read it. A real HTTP camera that checks basic auth, the real worker
and app."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from tests.api.test_camera_watch import _Snapshot
from tests.conftest import wait_until

PASSWORD = "Secr3t pw/1"  # a space and a slash: percent-encoded in the URL
URL_PASSWORD = "Secr3t%20pw%2F1"
DEADLINE_S = 30.0


class _Camera(_Snapshot):
    """The watch tests' snapshot camera, answering only the right basic auth, and only while
    ``accepting`` (401 otherwise)."""

    accepting = True

    def do_GET(self) -> None:  # the name http.server calls
        expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        if not (self.accepting and self.headers.get("Authorization") == expected):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture
def camera() -> Iterator[tuple[int, type[_Camera]]]:
    handler = type("Camera", (_Camera,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1]), handler
    server.shutdown()
    server.server_close()


def test_a_snapshot_cameras_password_is_used_but_never_shown(
    app_factory: Any, camera: tuple[int, type[_Camera]], caplog: pytest.LogCaptureFixture
) -> None:
    from settings import demo_community

    caplog.set_level(logging.DEBUG)
    port, handler = camera
    community = demo_community().model_dump()
    community["gates"][0]["camera"] = {
        "source": f"http://admin:{URL_PASSWORD}@127.0.0.1:{port}/snapshot.jpg", "fps": 4,
        "motion_gate": False, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5,
    }
    client = app_factory(community=community)

    def main_in() -> dict[str, Any]:
        return dict(client.get("/healthz").json()["cameras"]["main-in"])

    # The camera takes the password: it is still sent, as the URL's own was.
    wait_until(lambda: main_in()["frames_read"] > 0, DEADLINE_S, "frames from the camera")
    # Its password changed in the camera: every read is refused.
    handler.accepting = False
    wait_until(lambda: "401" in (main_in()["last_error"] or ""), DEADLINE_S,
               "the refusal in last_error")
    health = client.get("/healthz").text
    assert PASSWORD not in health and URL_PASSWORD not in health, health
    assert "127.0.0.1" in main_in()["last_error"]  # still says which camera refused
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert URL_PASSWORD not in logged and PASSWORD not in logged
