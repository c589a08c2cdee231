"""A stop (systemd's SIGTERM) finishes while a booth page and a driver's app read their live
streams: uvicorn waited for every connection to close, and a Server-Sent Events stream closes
only when its client leaves, so with one booth page open the controller never stopped by
itself and systemd killed it after ``TimeoutStopSec=20`` (deploy/parkgate.service) before its
own stop ran (the city broker's last messages, a barrier command on the wire)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from api.server import GRACEFUL_STOP_S
from tests.conftest import ROOT
from tests.live_server import free_port
from tests.test_crash_recovery import admin_headers, controller, create_admin, write_config

# deploy/parkgate.service's TimeoutStopSec, less room for the stop itself.
WITHIN_S = 15.0


def read_until_closed(url: str, headers: dict[str, str], opened: threading.Event) -> None:
    """As a browser's EventSource does: reads whatever comes until the server ends it."""
    try:
        with httpx.stream("GET", url, headers=headers, timeout=60) as stream:
            assert stream.status_code == 200
            for _ in stream.iter_lines():
                opened.set()
    except httpx.HTTPError:
        pass  # cut by the stop: what a page then sees


def test_a_stop_with_live_streams_being_read_ends_before_systemd_would_kill_it(
    tmp_path: Path,
) -> None:
    assert "TimeoutStopSec=20" in (ROOT / "deploy" / "parkgate.service").read_text()
    assert GRACEFUL_STOP_S < WITHIN_S
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'parkgate.db'}")
    port = free_port()
    with controller(config, port) as proc:
        create_admin(config)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as api:
            staff = admin_headers(api)
        streams = [(f"{base}/api/v1/events/stream", staff),  # the booth page's
                   (f"{base}/api/v1/availability/stream", {})]  # a driver's app's
        readers = []
        for url, headers in streams:
            opened = threading.Event()
            reader = threading.Thread(target=read_until_closed, args=(url, headers, opened),
                                      daemon=True)
            reader.start()
            assert opened.wait(30), url
            readers.append(reader)
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = proc.wait(timeout=WITHIN_S)
        except subprocess.TimeoutExpired:
            code = None  # still waiting for the streams to close
        took = time.monotonic() - asked
    (log,) = tmp_path.glob("serve-*.log")
    text = log.read_text(errors="replace")
    # uvicorn ends by raising the signal again once it has stopped (systemd counts a SIGTERM
    # end as a clean stop).
    assert code in (0, -signal.SIGTERM), f"no end after {took:.1f} s: {text[-2000:]}"
    # The application's own stop ran (lifespan shutdown), not only the process's end...
    assert "Application shutdown complete" in text, text[-3000:]
    # ...the streams ended as it began, rather than being cut GRACEFUL_STOP_S later (a
    # traceback per stream in the journal), and nothing else went wrong.
    assert " ERROR " not in text, text[-3000:]
    assert took < GRACEFUL_STOP_S, f"{took:.1f} s"
    for reader in readers:
        reader.join(10)
        assert not reader.is_alive()
