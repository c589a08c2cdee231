"""Real database outages for tests: PostgreSQL behind a TCP proxy that can be cut, and an
SQLite file that disappears (as when its disk is unmounted).

Not mocks: the application talks to the real server through a real socket, and sees what it
would see in production when the network or the database host goes away.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut`` drops every connection and stops
    listening (clients get 'connection refused'), ``restore`` listens again on the same port.
    ``hold`` drops packets instead of refusing them (a hung router, a cable pulled past a
    switch): connections stay open, new ones are accepted, and nothing goes through either
    way until ``release``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    restore = start

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._flowing.wait()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class DatabaseOutage:
    """``url`` is what the application must be given; ``cut(engine)`` / ``restore()``."""

    def __init__(self, database_url: str) -> None:
        self._database_url = make_url(database_url)
        self._proxy: TcpProxy | None = None
        self.url = database_url
        if self._database_url.get_backend_name() == "postgresql":
            target = (self._database_url.host or "127.0.0.1", self._database_url.port or 5432)
            self._proxy = TcpProxy(target)
            self._proxy.start()
            self.url = self._database_url.set(
                host="127.0.0.1", port=self._proxy.port
            ).render_as_string(hide_password=False)
        else:
            self._file = Path(self._database_url.database or "")

    def cut(self, engine: Any) -> None:
        if self._proxy is not None:
            self._proxy.cut()
            return
        # A connection in use (the offline loop refreshing) would keep working on the moved
        # file: wait for it to come back, then close them all; every later one must open it.
        deadline = time.monotonic() + 5
        while engine.pool.checkedout() and time.monotonic() < deadline:
            time.sleep(0.005)
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self._file}{suffix}")
            if part.exists():
                shutil.move(part, f"{part}.away")
        self._file.mkdir()  # where the database file was, something that cannot be opened

    def restore(self) -> None:
        if self._proxy is not None:
            self._proxy.restore()
            return
        self._file.rmdir()
        for suffix in ("", "-wal", "-shm"):
            away = Path(f"{self._file}{suffix}.away")
            if away.exists():
                shutil.move(away, f"{self._file}{suffix}")

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.cut()
