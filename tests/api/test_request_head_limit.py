"""A request's line and headers are limited (api/http_protocol.py): uvicorn's httptools
protocol collected them however long they grew, and one anonymous connection sending a
200 MB header line took the controller from 0.4 to 0.8 GB. Past 64 KiB the answer is 431
and the connection is closed; ordinary requests, and many on one connection, are served."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api.http_protocol import MAX_HEAD_BYTES
from services.container import build_services
from tests.api.test_behind_proxy import serving as serving_at
from tests.live_server import free_port, running


@contextmanager
def serving(make_settings: Any, recognizer: Any) -> Iterator[int]:
    """The controller behind the real HTTP server (its protocol is what is tested); its port."""
    with serving_at(make_settings(), recognizer) as base:
        yield int(base.rsplit(":", 1)[1])


def head(header_bytes: int, method: str = "GET", body: bytes = b"") -> bytes:
    path = "/healthz" if method == "GET" else "/api/v1/households"
    return (f"{method} {path} HTTP/1.1\r\nHost: gate\r\nX-Pad: ".encode()
            + b"a" * header_bytes
            + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


def answers(port: int, *requests: bytes) -> list[bytes]:
    """Sends the requests on one connection; the status line of each answer read back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        lines = []
        for request in requests:
            sock.sendall(request)
            status = reader.readline()
            lines.append(status.strip())
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)
        return lines


def over_long_head_answer(sock: socket.socket) -> bytes:
    """Sends a header line a little over the limit, never ending it, and reads the answer to
    the end (the server closes). Without the limit the server waits for the rest: a timeout.
    Only a little over: bytes still on their way when the server closes would reset the
    connection and could discard the answer."""
    sock.settimeout(5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gate\r\nX-Pad: " + b"a" * (MAX_HEAD_BYTES + 100))
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer


def test_an_over_long_request_head_is_refused_and_the_connection_closed(
    make_settings: Any, plate_recognizer: Any
) -> None:
    with serving(make_settings, plate_recognizer) as port, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert over_long_head_answer(sock).startswith(b"HTTP/1.1 431")


def test_ordinary_requests_and_bodies_pass_also_many_on_one_connection(
    make_settings: Any, plate_recognizer: Any
) -> None:
    with serving(make_settings, plate_recognizer) as port:
        # Three heads of 40 kB on one connection: each is counted on its own.
        statuses = answers(port, head(40_000), head(40_000), head(40_000))
        assert statuses == [b"HTTP/1.1 200 OK"] * 3, statuses
        # A body is not a head: 200 kB goes to the route (401 without a login), not 431.
        (status,) = answers(port, head(100, "POST", b"x" * 200_000))
        assert status.startswith(b"HTTP/1.1 401"), status


def test_the_demo_server_limits_request_heads_too(make_settings: Any) -> None:
    from demo import demo_server_config

    services = build_services(make_settings())
    port = free_port()
    try:
        with running(demo_server_config(services, "127.0.0.1", port)), \
                socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert over_long_head_answer(sock).startswith(b"HTTP/1.1 431")
    finally:
        services.engine.dispose()
