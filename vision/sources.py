"""Where camera frames come from: a small ``FrameSource`` protocol and its implementations.

``open_source(spec)`` picks the implementation from the configured ``source`` string:

==============================  ===============================================
``rtsp://…``, ``rtmp://…``      :class:`CaptureSource` (FFmpeg, over TCP)
``http(s)://…/x.jpg`` or with   :class:`HttpSnapshotSource` (one GET per frame)
``snapshot`` in the path
other ``http(s)://…``           :class:`CaptureSource` (MJPEG stream)
``0``, ``1``, …                 :class:`CaptureSource` (USB/V4L2 camera index)
a folder                        :class:`FolderSource` (images, sorted by name)
a file                          :class:`CaptureSource` (video file, not real-time)
==============================  ===============================================

:class:`SyntheticSource` yields frames from a generator function: the demo's simulated
cameras and the tests use it, and it can inject faults like a real camera.

Contract: ``open()`` raises :class:`SourceUnavailableError` when the device cannot be
reached; ``read()`` returns a BGR uint8 frame, or ``None`` when there is no new frame yet
(an idle motion-triggered camera, a drop folder with nothing new), raises
:class:`CorruptFrameError` for one undecodable frame (the source stays usable),
:class:`SourceUnavailableError` when the connection died (close and reopen), and
:class:`SourceEndedError` when a finite source is exhausted. ``realtime`` says whether the
device produces frames at its own pace (read continuously, keep the newest) or frames are
available instantly (hand them over one by one, none skipped).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

import cv2
import numpy as np

from errors import InvalidInputError, ParkgateError
from url_credentials import shown_url, split_credentials
from vision.images import decode_image

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

# FFmpeg over UDP drops and smears frames on busy networks; TCP is what NVRs use too.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

# FFmpeg reads about 28 frames of an H.264 RTSP stream before it reports it open (2.8 s at
# 10 fps) and hands those out first: the first picture after a (re)connect was that old.
# They are skipped on open, at most this many, until grabs wait for the camera.
MAX_BACKLOG_FRAMES = 100
# Grabs in a row that had to wait for the camera before the stream counts as live.
LIVE_GRABS = 2


class SourceError(ParkgateError):
    """Base of the frame-source errors."""


class SourceUnavailableError(SourceError):
    """The camera, stream or file cannot be opened or stopped delivering: reopen later."""


class CorruptFrameError(SourceError):
    """One frame could not be decoded; the next one may be fine."""


class SourceEndedError(SourceError):
    """A finite source (video file, folder without watching) has no more frames."""


@runtime_checkable
class FrameSource(Protocol):
    """A camera or a recording, read from one thread."""

    name: str
    realtime: bool

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


def _check_frame(frame: object, name: str) -> np.ndarray:
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or frame.shape[2] != 3
        or frame.shape[0] < 8
        or frame.shape[1] < 8
    ):
        shape = getattr(frame, "shape", None)
        raise CorruptFrameError(f"{name}: not a BGR uint8 frame (shape {shape})")
    return frame


class CaptureSource:
    """An OpenCV ``VideoCapture``: RTSP/MJPEG stream, USB camera or video file."""

    def __init__(
        self,
        target: str | int,
        *,
        name: str | None = None,
        realtime: bool | None = None,
        loop: bool = False,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.target = target
        self.name = name or shown_url(str(target))
        is_file = isinstance(target, str) and "://" not in target
        self.realtime = (not is_file) if realtime is None else realtime
        self.loop = loop
        self._is_file = is_file
        self._open_timeout_ms = int(open_timeout_s * 1000)
        self._read_timeout_ms = int(read_timeout_s * 1000)
        self._capture: cv2.VideoCapture | None = None
        self._grabbed = False  # open() grabbed the first live frame: read() retrieves it
        self.backlog_skipped = 0  # frames buffered while opening, skipped by the last open

    def open(self) -> None:
        self.close()
        if self._is_file and not Path(str(self.target)).is_file():
            raise SourceUnavailableError(f"{self.name}: no such video file")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self._open_timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, self._read_timeout_ms,
        ]
        try:
            if isinstance(self.target, int):
                capture = cv2.VideoCapture(self.target)
            else:
                capture = cv2.VideoCapture(self.target, cv2.CAP_ANY, params)
        except cv2.error as err:
            raise SourceUnavailableError(f"{self.name}: {err}") from err
        if not capture.isOpened():
            capture.release()
            raise SourceUnavailableError(f"{self.name}: could not open")
        if self.realtime:
            # A one-frame driver buffer keeps the newest picture, not a backlog.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture = capture
        if self.realtime and not self._is_file and not isinstance(self.target, int):
            self._skip_backlog(capture)

    def _skip_backlog(self, capture: cv2.VideoCapture) -> None:
        """Grab the frames buffered while the stream opened until they have to be waited for.

        A buffered frame comes at decoding speed, a live one at the camera's pace: a grab
        that takes half a frame interval or more waited for the camera. Two such grabs in a
        row are needed, and the second frame is kept for the first read: one slow grab
        alone is as often the decoder starting up or the box busy with other cameras (a
        loaded 2-core box kept a 3 s old first frame that way)."""
        fps = capture.get(cv2.CAP_PROP_FPS)
        gap_s = max(0.02, 0.5 / fps) if 0 < fps < 200 else 0.02
        grabs = 0
        waited = 0
        while grabs < MAX_BACKLOG_FRAMES + LIVE_GRABS:
            started = time.monotonic()
            if not capture.grab():
                break  # read() reports the failure as it would have
            grabs += 1
            waited = waited + 1 if time.monotonic() - started >= gap_s else 0
            if waited == LIVE_GRABS:
                self._grabbed = True
                break
        self.backlog_skipped = grabs - 1 if self._grabbed else grabs

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            raise SourceUnavailableError(f"{self.name}: not open")
        try:
            if self._grabbed:
                self._grabbed = False
                ok, frame = self._capture.retrieve()
            else:
                ok, frame = self._capture.read()
        except cv2.error as err:
            raise CorruptFrameError(f"{self.name}: {err}") from err
        if ok:
            return _check_frame(frame, self.name)
        if not self._is_file:
            raise SourceUnavailableError(f"{self.name}: stream stopped delivering frames")
        if self.loop and self._capture.get(cv2.CAP_PROP_POS_FRAMES) > 0:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            return None
        raise SourceEndedError(f"{self.name}: end of video")

    def close(self) -> None:
        self._grabbed = False
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class HttpSnapshotSource:
    """A camera's still-image URL (``/snapshot.jpg``, ``/ISAPI/Streaming/channels/1/picture``).

    Fetched on demand: one GET per analysed frame (not real-time, so the worker asks for the
    next picture only when it is ready for it) instead of polling the camera as fast as it
    answers.
    """

    realtime = False

    def __init__(self, url: str, *, name: str | None = None, timeout_s: float = 5.0) -> None:
        # The user and password go as basic auth, as httpx sends a URL's own, but out of the
        # URL: httpx names the URL in its errors and its request log, and the error becomes
        # the camera's last_error on the public /healthz.
        self.url, self._credentials = split_credentials(url)
        self.name = name or shown_url(url)
        self._timeout_s = timeout_s
        self._client: object | None = None

    def open(self) -> None:
        import httpx

        self.close()
        self._client = httpx.Client(timeout=self._timeout_s, follow_redirects=True,
                                    auth=self._credentials)

    def read(self) -> np.ndarray | None:
        import httpx

        if not isinstance(self._client, httpx.Client):
            raise SourceUnavailableError(f"{self.name}: not open")
        try:
            response = self._client.get(self.url)
            response.raise_for_status()
        except httpx.HTTPError as err:
            raise SourceUnavailableError(f"{self.name}: {err}") from err
        return _decode(response.content, self.name)

    def close(self) -> None:
        import httpx

        if isinstance(self._client, httpx.Client):
            self._client.close()
        self._client = None


class FolderSource:
    """Images in a folder, in name order.

    With ``loop`` the folder is replayed forever (demos, soak tests). Without it the folder
    is watched as a drop folder (cameras that FTP their snapshots): each file is delivered
    once, and ``read`` returns None until a new one appears.
    """

    realtime = False

    def __init__(self, folder: str | Path, *, name: str | None = None, loop: bool = False) -> None:
        self.folder = Path(folder)
        self.name = name or str(self.folder)
        self.loop = loop
        self._pending: list[Path] = []
        self._seen: set[tuple[str, int]] = set()

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceUnavailableError(f"{self.name}: no such folder")
        self._pending = self._scan()

    def _scan(self) -> list[Path]:
        try:
            files = sorted(
                p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
        except OSError as err:
            raise SourceUnavailableError(f"{self.name}: {err}") from err
        if self.loop:
            return files
        return [p for p in files if _identity(p) not in self._seen]

    def read(self) -> np.ndarray | None:
        if not self._pending:
            self._pending = self._scan()
            if not self._pending:
                if self.loop:
                    raise SourceEndedError(f"{self.name}: folder holds no images")
                return None
        path = self._pending.pop(0)
        if not self.loop:
            self._seen.add(_identity(path))
        try:
            data = path.read_bytes()
        except OSError as err:
            raise CorruptFrameError(f"{path}: {err}") from err
        return _decode(data, str(path))

    def close(self) -> None:
        self._pending = []


FrameFactory = Callable[[], Iterable[np.ndarray | None]]


class SyntheticSource:
    """Frames from a generator function: the demo's simulated cameras and tests.

    ``frames`` is called on every ``open`` (so a reconnect restarts it) and may yield None
    (no frame right now), yield a non-image (a corrupt frame) or raise (the camera died).
    ``fail_opens`` makes the first N opens fail, to rehearse reconnects. ``realtime=True``
    makes it behave like a live camera: the worker keeps only the newest frame.
    """

    def __init__(
        self,
        frames: FrameFactory,
        *,
        name: str = "synthetic",
        realtime: bool = False,
        fail_opens: int = 0,
    ) -> None:
        self.name = name
        self.realtime = realtime
        self._frames = frames
        self._iterator: Iterator[np.ndarray | None] | None = None
        self._fail_opens = fail_opens
        self._lock = threading.Lock()
        self.opens = 0

    def open(self) -> None:
        with self._lock:
            self.opens += 1
            if self._fail_opens > 0:
                self._fail_opens -= 1
                raise SourceUnavailableError(f"{self.name}: simulated connection failure")
            self._iterator = iter(self._frames())

    def read(self) -> np.ndarray | None:
        if self._iterator is None:
            raise SourceUnavailableError(f"{self.name}: not open")
        try:
            frame = next(self._iterator)
        except StopIteration:
            raise SourceEndedError(f"{self.name}: generator finished") from None
        except SourceError:
            raise
        except Exception as err:  # the generator stands in for a device: any failure is one
            raise SourceUnavailableError(f"{self.name}: {err}") from err
        if frame is None:
            return None
        return _check_frame(frame, self.name)

    def close(self) -> None:
        self._iterator = None


def _decode(data: bytes, name: str) -> np.ndarray:
    # The push endpoint's checks: a snapshot camera or a drop folder is as able to hand over
    # a bomb (a few hundred bytes whose header claims 144 MP) as a request is.
    try:
        image = decode_image(data)
    except InvalidInputError as err:
        raise CorruptFrameError(f"{name}: {err}") from err
    return _check_frame(image, name)


def _identity(path: Path) -> tuple[str, int]:
    try:
        return path.name, path.stat().st_mtime_ns
    except OSError:
        return path.name, 0


def open_source(
    spec: str,
    *,
    name: str | None = None,
    open_timeout_s: float = 10.0,
    read_timeout_s: float = 10.0,
) -> FrameSource:
    """The frame source a configured ``camera.source`` string describes (not opened yet).

    The time-outs apply to network streams (``camera.open_timeout_s``/``read_timeout_s``)."""
    spec = spec.strip()
    if not spec:
        raise SourceUnavailableError("camera source is empty")
    scheme = urlparse(spec).scheme.lower()
    if scheme in ("rtsp", "rtsps", "rtmp"):
        return CaptureSource(spec, name=name, realtime=True,
                             open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s)
    if scheme in ("http", "https"):
        url_path = urlparse(spec).path.lower()
        if (
            Path(url_path).suffix in IMAGE_SUFFIXES
            or "snapshot" in url_path
            or "picture" in url_path
        ):
            return HttpSnapshotSource(spec, name=name)
        return CaptureSource(spec, name=name, realtime=True,
                             open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s)
    if spec.isdigit():
        return CaptureSource(int(spec), name=name or f"usb{spec}", realtime=True)
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path, name=name)
    # A file, or a path that does not exist yet: opening it retries with back-off.
    return CaptureSource(str(path), name=name, realtime=False)


def backoff_delays(minimum: float, maximum: float) -> Iterator[float]:
    """Exponential back-off: minimum, 2×, 4× … capped at maximum."""
    if minimum <= 0 or maximum < minimum:
        raise ValueError(f"need 0 < minimum <= maximum, got {minimum}, {maximum}")

    def delays() -> Iterator[float]:
        delay = minimum
        while True:
            yield delay
            delay = min(maximum, delay * 2)

    return delays()


def sleep_interruptibly(stop: threading.Event, seconds: float) -> bool:
    """Sleep unless ``stop`` is set; True when stopping was requested."""
    if seconds <= 0:
        return stop.is_set()
    return stop.wait(seconds)

