"""Relays and free-space boards switched by HTTP requests (URL templates), via httpx.

Suits Shelly Gen1 (``/relay/0?turn=on``), many Chinese network relay boards and barrier
controllers with a web API. A 2xx answer (containing ``expect_body`` when set) is the echo.
"""

from __future__ import annotations

import logging
import os

import httpx

from errors import ConfigError, HardwareError, HardwareTimeoutError, HardwareUnavailableError
from hardware.base import DigitalInput
from hardware.config import HttpBarrierConfig, HttpDisplayConfig
from hardware.relay_barrier import RelayBarrier

logger = logging.getLogger(__name__)


async def _request(
    client: httpx.AsyncClient, method: str, url: str, expect_body: str | None = None
) -> httpx.Response:
    """One request; httpx errors become the HardwareError family."""
    try:
        response = await client.request(method, url)
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:
        raise HardwareUnavailableError(f"HTTP {url}: {err!r}") from err
    except httpx.TimeoutException as err:
        raise HardwareTimeoutError(f"HTTP {url}: no answer: {err!r}") from err
    except httpx.HTTPError as err:
        raise HardwareUnavailableError(f"HTTP {url}: {err!r}") from err
    if not response.is_success:
        raise HardwareError(f"HTTP {url}: status {response.status_code}")
    if expect_body is not None and expect_body not in response.text:
        raise HardwareError(f"HTTP {url}: answer lacks {expect_body!r}: {response.text[:80]!r}")
    return response


def _auth(env: str | None) -> httpx.BasicAuth | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None or ":" not in value:
        raise ConfigError(f"environment variable {env} must hold 'user:password'")
    user, password = value.split(":", 1)
    return httpx.BasicAuth(user, password)


class HttpRelayPort:
    def __init__(self, config: HttpBarrierConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None

    async def connect(self) -> None:
        # No request here: HTTP has no session; the first command shows reachability.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.config.command_timeout_s, auth=_auth(self.config.auth_env)
            )

    async def disconnect(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def set_output(self, channel: int, on: bool) -> None:
        if self._client is None:
            raise HardwareUnavailableError("HTTP relay used before connect()")
        template = self.config.on_url if on else self.config.off_url
        await _request(
            self._client, self.config.method, template.format(channel=channel),
            self.config.expect_body,
        )


class HttpDisplay:
    def __init__(self, name: str, config: HttpDisplayConfig) -> None:
        self.name = name
        self.config = config
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout_s)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def show(self, zone_id: str, free: int) -> None:
        if self._client is None:
            raise HardwareUnavailableError(f"display {self.name} used before start()")
        url = self.config.url.format(zone_id=zone_id, free=free)
        await _request(self._client, self.config.method, url)


def create_http_barrier(
    gate_id: str, config: HttpBarrierConfig, presence: DigitalInput | None = None
) -> RelayBarrier:
    return RelayBarrier(
        gate_id,
        HttpRelayPort(config),
        timing=config.timing(),
        wiring=config.wiring(),
        policy=config.policy(),
        presence=presence,
    )
