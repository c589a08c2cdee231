"""The HTTP server's own settings, shared by ``main.py serve`` and the tests that run it."""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from api.http_protocol import BoundedHeadProtocol
from errors import ConfigError
from settings import Settings

if TYPE_CHECKING:
    from controllers.events import EventBus
    from services.container import Services


# How long a stop waits for requests still open (a snapshot being downloaded over a slow
# link) before cutting them: systemd kills after TimeoutStopSec=20 (deploy/parkgate.service),
# which would skip the controller's own stop (the city broker's last messages, a barrier
# command on the wire). The live streams end at once (ControllerServer).
GRACEFUL_STOP_S = 5


class ControllerServer(uvicorn.Server):
    """uvicorn's server, ending the live streams (a booth page's events, a driver's app's
    availability) as a stop begins. uvicorn waits for every open response to finish, and a
    stream finishes only when its client leaves: with one booth page open the controller
    never stopped by itself (measured: 45 s and more, until systemd killed it)."""

    def __init__(self, config: uvicorn.Config, buses: Sequence[EventBus]) -> None:
        super().__init__(config)
        self._buses = tuple(buses)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        for bus in self._buses:
            bus.end_subscriptions()


def controller_server(config: uvicorn.Config, services: Services) -> ControllerServer:
    buses = [services.bus]
    if services.parking is not None:
        buses.append(services.parking.changes)
    return ControllerServer(config, buses)


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
        http=BoundedHeadProtocol,  # a request's line and headers limited (api/http_protocol.py)
        timeout_graceful_shutdown=GRACEFUL_STOP_S,
        **extra,
    )


def listen_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything else starts (``serve``, ``demo``).

    uvicorn would bind only after the application's start-up: with the port taken, the
    barriers and the city link were already connected (the city feed told "online", then
    "offline") when it gave up with its own exit code 3. Bound first, a taken port is one
    line and exit code 2 before any gate is touched (ConfigError: the fix is api.port or
    api.host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {_why(err, host, port)}") from err
    sock.set_inheritable(True)
    return sock


def _why(err: OSError, host: str, port: int) -> str:
    if err.errno == errno.EADDRINUSE:
        return (
            f"the port is in use by another program (`ss -ltnp 'sport = :{port}'` names "
            "it): stop that program, or set api.port (or --port) to a free port"
        )
    if err.errno == errno.EACCES:
        return "ports below 1024 need root: set api.port (or --port) to 1024 or above, e.g. 8000"
    if err.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine: set api.host (or --host) to one of "
            "its addresses, 0.0.0.0 for all of them or 127.0.0.1 for this machine only"
        )
    if isinstance(err, socket.gaierror):
        return (
            f"{host!r} is not a known host name: set api.host (or --host) to an address, "
            "e.g. 0.0.0.0 or 127.0.0.1"
        )
    return err.strerror or str(err)
