"""Behind a reverse proxy, per-client limits apply to each real client, not to the proxy.

The real HTTP server (uvicorn with ``api/server.py``'s settings) on a real socket: requests
carry X-Forwarded-For as nginx would add it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from api.app import create_app
from api.server import server_config
from services.container import build_services
from tests.live_server import free_port, running

LIMIT = {"rate_limit": {"rate_per_s": 0.1, "burst": 2}, "sensors": {"simulate": False}}


@contextmanager
def serving(settings: Any, recognizer: Any) -> Iterator[str]:
    services = build_services(settings, recognizer=recognizer)
    port = free_port()
    config = server_config(create_app(services), settings, "127.0.0.1", port,
                           log_level="warning")
    try:
        with running(config):
            yield f"http://127.0.0.1:{port}"
    finally:
        services.engine.dispose()


def statuses(base: str, forwarded_for: str, n: int) -> list[int]:
    headers = {"X-Forwarded-For": forwarded_for}
    return [httpx.get(f"{base}/api/v1/availability", headers=headers).status_code
            for _ in range(n)]


def test_each_client_behind_a_trusted_proxy_has_its_own_limit(
    make_settings: Any, plate_recognizer: Any
) -> None:
    settings = make_settings(parking=LIMIT, api={"trusted_proxies": ["127.0.0.0/8"]})
    with serving(settings, plate_recognizer) as base:
        assert statuses(base, "203.0.113.7", 3) == [200, 200, 429]
        assert statuses(base, "198.51.100.20", 2) == [200, 200]  # another resident's phone


def test_a_forged_header_from_an_untrusted_peer_is_ignored(
    make_settings: Any, plate_recognizer: Any
) -> None:
    settings = make_settings(parking=LIMIT, api={"trusted_proxies": []})
    with serving(settings, plate_recognizer) as base:
        assert statuses(base, "203.0.113.7", 2) == [200, 200]
        # A new address per request must not buy a fresh bucket.
        assert statuses(base, "198.51.100.20", 1) == [429]
