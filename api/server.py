"""The HTTP server's own settings, shared by ``main.py serve`` and the tests that run it."""

from __future__ import annotations

from typing import Any

import uvicorn

from settings import Settings


def server_config(
    app: Any, settings: Settings, host: str, port: int, **extra: Any
) -> uvicorn.Config:
    """uvicorn behind a reverse proxy: the client address comes from X-Forwarded-For only
    when the direct peer is one of ``api.trusted_proxies`` (anyone else could forge it)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=list(settings.api.trusted_proxies),
        **extra,
    )
