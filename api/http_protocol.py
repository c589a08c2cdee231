"""uvicorn's HTTP protocol (httptools) with a limit on a request's head: its line and headers.

httptools has none: the request line and every header value are collected however long they
grow, so one anonymous connection that sent a header line of 200 MB took the controller from
0.4 to 0.8 GB, and a few such connections would have the operating system kill it, and with
it every gate (the bodies are limited by api/body_limit.py). uvicorn's h11 protocol stops at
16 KiB; this one answers 431 and closes the connection once a head passes ``MAX_HEAD_BYTES``,
far above what a browser, a camera or a reverse proxy sends (nginx's default buffers for a
request's headers hold 32 KiB).
"""

from __future__ import annotations

import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 65_536

_REFUSAL = b"request line and headers exceed %d bytes" % MAX_HEAD_BYTES


class BoundedHeadProtocol(HttpToolsProtocol):
    # Bytes received since the current request began and before its headers were complete.
    _head_bytes = 0
    _in_head = True

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        # Parsed first: a chunk that completes the head may carry the body's start, which is
        # not head (on_headers_complete starts the count again). What a head may hold is
        # then this limit and one read of the transport (at most 256 KiB).
        self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True  # the next request on this connection starts with its head
        super().on_message_complete()

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        peer = self.client[0] if self.client else "?"
        logger.warning("request head from %s exceeds %d bytes: refused (431)", peer,
                       MAX_HEAD_BYTES)
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL)
        )
        self.transport.close()
