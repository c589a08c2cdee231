"""A real RTSP camera for tests and walks: H.264 over RTP, interleaved in the RTSP TCP session.

FFmpeg (PyAV) has no RTSP server that answers PLAY: its ``rtsp_flags listen`` is the other
side, a server that *receives* a stream a client pushes (ANNOUNCE/RECORD). So this module
speaks the server side of RTSP 1.0 itself (OPTIONS, DESCRIBE with Digest authentication as
Hikvision/Dahua/Uniview cameras ask, SETUP with TCP interleaving only, PLAY, GET_PARAMETER
keep-alives, TEARDOWN) and sends real H.264 encoded by libx264 through PyAV, packed into RTP
as RFC 6184 says (single NAL units and FU-A fragments). OpenCV's FFmpeg reader reads it
exactly as it reads a camera: it is the camera fake the rules allow, not a fake reader.

``frames(index)`` draws frame ``index``; ``sent_at[index]`` is the ``time.monotonic()`` at
which its last packet was handed to the socket. ``stop()`` is a camera unplugged with the
connection closed; ``freeze()`` one whose cable is pulled (the TCP session stays open, no
more packets come); ``start()`` again on the same port is the camera back.
:class:`HungRtspServer` accepts TCP and never answers (a hung camera firmware).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FrameDrawer = Callable[[int], np.ndarray]
REALM = "parkgate-test-camera"
_MTU_PAYLOAD = 1400


def pyav_missing() -> str | None:
    """Why the camera cannot run here (None when it can): PyAV or its libx264 is missing."""
    try:
        import av
    except ImportError:
        return "PyAV (the 'av' package in requirements-dev.txt) is not installed"
    if "libx264" not in av.codecs_available:
        return "PyAV's FFmpeg has no libx264 encoder"
    return None


def _nal_units(annexb: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes 00 00 01 / 00 00 00 01)."""
    units: list[bytes] = []
    starts: list[int] = []
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = annexb.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(annexb)
        unit = annexb[start:end].rstrip(b"\x00") if n + 1 < len(starts) else annexb[start:end]
        if unit:
            units.append(unit)
    return units


def _rtp_payloads(unit: bytes) -> list[bytes]:
    """One NAL unit as RTP payloads: itself when it fits, else FU-A fragments (RFC 6184)."""
    if len(unit) <= _MTU_PAYLOAD:
        return [unit]
    header, body = unit[0], unit[1:]
    indicator = (header & 0xE0) | 28
    nal_type = header & 0x1F
    chunks = [body[i:i + _MTU_PAYLOAD] for i in range(0, len(body), _MTU_PAYLOAD)]
    payloads = []
    for n, chunk in enumerate(chunks):
        fu_header = nal_type | (0x80 if n == 0 else 0) | (0x40 if n == len(chunks) - 1 else 0)
        payloads.append(bytes((indicator, fu_header)) + chunk)
    return payloads


class _Encoder:
    """libx264 through PyAV, as a gate camera is set up: a keyframe every second, no B-frames."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        import av

        self._av = av
        self.fps = fps
        context: Any = av.CodecContext.create("libx264", "w")
        context.width, context.height = width, height
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, 90000)
        context.framerate = Fraction(fps).limit_denominator(1000)
        context.gop_size = max(1, round(fps))
        context.max_b_frames = 0
        context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        self._context = context

    def encode(self, image: np.ndarray, index: int) -> list[bytes]:
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = round(index * 90000 / self.fps)
        frame.time_base = Fraction(1, 90000)
        return [bytes(packet) for packet in self._context.encode(frame)]


class RtspCamera:
    """An RTSP camera on 127.0.0.1 serving ``/live`` (any path is accepted)."""

    def __init__(
        self,
        frames: FrameDrawer,
        *,
        size: tuple[int, int],
        fps: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        port: int = 0,
    ) -> None:
        self._frames = frames
        self.width, self.height = size
        self.fps = fps
        self._credentials = (username, password) if username is not None else None
        self.port = port
        self.sent_at: dict[int, float] = {}
        self.sessions = 0  # PLAYs served since construction
        self.auth_failures = 0
        self.transports: list[str] = []  # each SETUP's Transport header, as the client asked
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._frozen = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sprop = self._parameter_sets()

    def url(self, path: str = "live") -> str:
        user = ""
        if self._credentials is not None:
            user = f"{self._credentials[0]}:{self._credentials[1]}@"
        return f"rtsp://{user}127.0.0.1:{self.port}/{path}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(4)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._frozen.clear()
        self._running.set()
        self._spawn(self._accept_loop, listener)

    def stop(self) -> None:
        """The camera goes away: listener and sessions closed (the reader sees the end)."""
        self._running.clear()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(10.0)

    def freeze(self) -> None:
        """The cable is pulled: sessions stay open, no packet comes any more."""
        self._frozen.set()

    def thaw(self) -> None:
        """The cable is back: sessions opened from now on get frames again."""
        self._frozen.clear()

    def __enter__(self) -> RtspCamera:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="rtsp-camera")
        self._threads.append(thread)
        thread.start()

    # -- RTSP --------------------------------------------------------------------------------

    def _parameter_sets(self) -> str:
        """sprop-parameter-sets for the SDP: the SPS and PPS libx264 writes for this size."""
        encoder = _Encoder(self.width, self.height, self.fps)
        blank = np.zeros((self.height, self.width, 3), np.uint8)
        units: list[bytes] = []
        for index in range(int(self.fps) + 2):
            for packet in encoder.encode(blank, index):
                units += _nal_units(packet)
            if units:
                break
        sets = [u for u in units if u[0] & 0x1F in (7, 8)]
        return ",".join(base64.b64encode(u).decode() for u in sets)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.append(client)
            self._spawn(self._session, client)

    def _session(self, client: socket.socket) -> None:
        nonce = secrets.token_hex(16)
        send_lock = threading.Lock()
        buffer = b""
        playing = threading.Event()
        try:
            while self._running.is_set():
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
                while buffer:
                    if buffer[0:1] == b"$":  # the client's interleaved RTCP reports
                        if len(buffer) < 4:
                            break
                        length = struct.unpack(">H", buffer[2:4])[0]
                        if len(buffer) < 4 + length:
                            break
                        buffer = buffer[4 + length:]
                        continue
                    head_end = buffer.find(b"\r\n\r\n")
                    if head_end < 0:
                        break
                    head = buffer[:head_end].decode("latin-1")
                    lines = head.split("\r\n")
                    headers = {}
                    for line in lines[1:]:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                    body_len = int(headers.get("content-length", "0"))
                    if len(buffer) < head_end + 4 + body_len:
                        break
                    buffer = buffer[head_end + 4 + body_len:]
                    method, uri, _ = lines[0].split(" ", 2)
                    reply = self._answer(method, uri, headers, nonce)
                    with send_lock:
                        client.sendall(reply.encode("latin-1"))
                    played = method == "PLAY" and reply.startswith("RTSP/1.0 200")
                    if played and not playing.is_set():
                        playing.set()
                        self.sessions += 1
                        self._spawn(self._stream, client, send_lock)
                    if method == "TEARDOWN":
                        return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                client.close()

    def _answer(self, method: str, uri: str, headers: dict[str, str], nonce: str) -> str:
        cseq = headers.get("cseq", "0")
        extra: list[str] = []
        body = ""
        if method == "OPTIONS":
            status = "200 OK"
            extra.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER")
        elif not self._authorised(method, headers.get("authorization", ""), nonce):
            status = "401 Unauthorized"
            extra.append(f'WWW-Authenticate: Digest realm="{REALM}", nonce="{nonce}"')
        elif method == "DESCRIBE":
            status = "200 OK"
            body = (
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=parkgate test camera\r\n"
                "c=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\n"
                "a=rtpmap:96 H264/90000\r\n"
                f"a=fmtp:96 packetization-mode=1;sprop-parameter-sets={self._sprop}\r\n"
                "a=control:trackID=0\r\n"
            )
            extra += [f"Content-Base: {uri.rstrip('/')}/", "Content-Type: application/sdp"]
        elif method == "SETUP":
            transport = headers.get("transport", "")
            self.transports.append(transport)
            if "interleaved" not in transport:
                # Only TCP here, as behind many sites' firewalls: a client asking UDP fails.
                status = "461 Unsupported Transport"
            else:
                status = "200 OK"
                extra += ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
                          "Session: 12345678;timeout=60"]
        elif method in ("PLAY", "GET_PARAMETER", "TEARDOWN"):
            status = "200 OK"
            extra.append("Session: 12345678")
        else:
            status = "405 Method Not Allowed"
        lines = [f"RTSP/1.0 {status}", f"CSeq: {cseq}", *extra]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def _authorised(self, method: str, authorization: str, nonce: str) -> bool:
        if self._credentials is None:
            return True
        if not authorization.lower().startswith("digest "):
            self.auth_failures += authorization != ""
            return False
        fields: dict[str, str] = {}
        for part in authorization[7:].split(","):
            key, _, value = part.strip().partition("=")
            fields[key.strip().lower()] = value.strip().strip('"')
        user, password = self._credentials

        def md5(text: str) -> str:
            return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

        ha1 = md5(f"{user}:{REALM}:{password}")
        ha2 = md5(f"{method}:{fields.get('uri', '')}")
        if "qop" in fields:
            expected = md5(f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:"
                           f"{fields.get('cnonce')}:{fields['qop']}:{ha2}")
        else:
            expected = md5(f"{ha1}:{fields.get('nonce')}:{ha2}")
        ok = fields.get("username") == user and fields.get("nonce") == nonce and (
            fields.get("response") == expected)
        self.auth_failures += not ok
        return ok

    # -- RTP ---------------------------------------------------------------------------------

    def _stream(self, client: socket.socket, send_lock: threading.Lock) -> None:
        encoder = _Encoder(self.width, self.height, self.fps)
        sequence = 0
        ssrc = 0x50A4C0DE
        started = time.monotonic()
        index = 0
        while self._running.is_set():
            due = started + index / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if self._frozen.is_set():
                time.sleep(0.02)
                continue
            try:
                image = self._frames(index)
                packets = encoder.encode(image, index)
            except Exception:  # a drawing bug must show in the test log, not hang a reader
                logger.exception("rtsp camera: frame %s could not be drawn", index)
                return
            timestamp = round(index * 90000 / self.fps) & 0xFFFFFFFF
            units = [u for packet in packets for u in _nal_units(packet)]
            payloads = [p for u in units for p in _rtp_payloads(u)]
            try:
                with send_lock:
                    for n, payload in enumerate(payloads):
                        marker = 0x80 if n == len(payloads) - 1 else 0
                        rtp = struct.pack(">BBHII", 0x80, marker | 96, sequence, timestamp, ssrc)
                        sequence = (sequence + 1) & 0xFFFF
                        packet = rtp + payload
                        client.sendall(b"$\x00" + struct.pack(">H", len(packet)) + packet)
            except OSError:
                return
            if payloads:
                self.sent_at[index] = time.monotonic()
            index += 1


class HungRtspServer:
    """Accepts TCP connections and never answers a byte: a camera whose firmware hung."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True, name="rtsp-hung")

    def url(self) -> str:
        return f"rtsp://admin:hung-secret@127.0.0.1:{self.port}/live"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._clients.append(client)

    def __enter__(self) -> HungRtspServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for client in self._clients:
            client.close()
        self._thread.join(10.0)
