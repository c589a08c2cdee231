"""Frame sources on real files (images, a video written with cv2.VideoWriter) and the camera
worker's reconnect, back-off, corrupt-frame and newest-frame behaviour."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from settings import CameraConfig
from tests.vision.test_image_bombs import jpeg_with
from vision.camera_worker import CameraWorker
from vision.sources import (
    CaptureSource,
    CorruptFrameError,
    FolderSource,
    HttpSnapshotSource,
    SourceEndedError,
    SourceUnavailableError,
    SyntheticSource,
    backoff_delays,
    open_source,
)
from vision.types import Frame


def image(value: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    frame = np.full((size[1], size[0], 3), value, np.uint8)
    cv2.putText(frame, str(value), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 255), 2)
    return frame


def write_video(path: Path, n: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(image(20 * i + 10))
    writer.release()


def mean(frame: np.ndarray) -> float:
    return float(np.median(frame[..., 0]))  # the background, not the digits drawn on it


# -- sources on their own ----------------------------------------------------------------


def test_folder_source_reads_images_in_order_skips_corrupt_and_watches(tmp_path: Path) -> None:
    for i, value in enumerate((30, 90, 150)):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), image(value))
    (tmp_path / "frame1b.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    source = FolderSource(tmp_path)
    source.open()

    first, second = source.read(), source.read()
    with pytest.raises(CorruptFrameError):
        source.read()
    third = source.read()
    assert [round(mean(f)) for f in (first, second, third) if f is not None] == [30, 90, 150]
    assert source.read() is None  # a drop folder with nothing new
    cv2.imwrite(str(tmp_path / "frame9.png"), image(200))
    new = source.read()
    assert new is not None and round(mean(new)) == 200
    assert source.read() is None


def test_an_image_bomb_from_a_camera_is_a_corrupt_frame_never_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drop folder (or a snapshot camera) gets the push endpoint's size check: a JPEG of a few
    hundred bytes whose header claims 144 MP took ~0.9 GB in cv2.imdecode before it."""
    bomb = jpeg_with(12_000, 12_000, fill=1)
    (tmp_path / "bomb.jpg").write_bytes(bomb)
    cv2.imwrite(str(tmp_path / "car.png"), image(60))
    source = FolderSource(tmp_path)
    source.open()
    decode = cv2.imdecode

    def refusing_bombs(buffer: np.ndarray, flags: int) -> np.ndarray | None:
        assert buffer.tobytes() != bomb, "decoded the bomb its header should have refused"
        return decode(buffer, flags)

    monkeypatch.setattr(cv2, "imdecode", refusing_bombs)
    with pytest.raises(CorruptFrameError, match=r"bomb\.jpg: .*144\.0 MP"):
        source.read()
    frame = source.read()  # the worker goes on with the next image
    assert frame is not None and round(mean(frame)) == 60


def test_folder_source_loop_replays(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), image(40))
    source = FolderSource(tmp_path, loop=True)
    source.open()
    assert [round(mean(source.read())) for _ in range(3)] == [40, 40, 40]  # type: ignore[arg-type]


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError):
        FolderSource(tmp_path / "nope").open()


def test_video_file_source_reads_every_frame_then_ends(tmp_path: Path) -> None:
    video = tmp_path / "gate.avi"
    write_video(video, 5)
    source = open_source(str(video))
    assert isinstance(source, CaptureSource) and not source.realtime
    source.open()
    frames = [source.read() for _ in range(5)]
    with pytest.raises(SourceEndedError):
        source.read()
    source.close()
    # MJPEG is lossy: compare brightness, not pixels.
    assert [round(mean(f) / 10) for f in frames if f is not None] == [1, 3, 5, 7, 9]


def test_video_file_source_loops(tmp_path: Path) -> None:
    video = tmp_path / "gate.avi"
    write_video(video, 2)
    source = CaptureSource(str(video), loop=True)
    source.open()
    reads = [source.read() for _ in range(5)]
    source.close()
    assert [r is None for r in reads] == [False, False, True, False, False]


def test_missing_video_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError):
        CaptureSource(str(tmp_path / "missing.mp4")).open()


@pytest.mark.parametrize(
    ("spec", "kind", "realtime", "name"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/Streaming/Channels/101", CaptureSource, True,
         "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"),
        ("http://10.0.0.5/snapshot.jpg", HttpSnapshotSource, False, "http://10.0.0.5/snapshot.jpg"),
        ("http://10.0.0.5/ISAPI/Streaming/channels/1/picture", HttpSnapshotSource, False, None),
        ("http://10.0.0.5/mjpg/video.mjpg", CaptureSource, True, None),
        ("0", CaptureSource, True, "usb0"),
        ("/no/such/file.mp4", CaptureSource, False, None),
    ],
)
def test_open_source_picks_the_implementation(
    spec: str, kind: type, realtime: bool, name: str | None
) -> None:
    source = open_source(spec)
    assert isinstance(source, kind)
    assert source.realtime is realtime
    if name is not None:
        assert source.name == name


def test_open_source_folder(tmp_path: Path) -> None:
    assert isinstance(open_source(str(tmp_path)), FolderSource)


def test_backoff_doubles_up_to_the_maximum() -> None:
    assert list(itertools.islice(backoff_delays(0.5, 3.0), 5)) == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        backoff_delays(0, 1)


# -- the worker --------------------------------------------------------------------------


def config(**overrides: float) -> CameraConfig:
    values = {"source": "test", "fps": 30.0, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}
    values.update(overrides)
    return CameraConfig(**values)  # type: ignore[arg-type]


async def run_until(
    worker: CameraWorker, done: Callable[[], bool], timeout: float = 5.0
) -> None:
    await worker.start()
    try:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()


def collector() -> tuple[list[Frame], Callable[[Frame], Awaitable[None]]]:
    seen: list[Frame] = []

    async def on_frame(frame: Frame) -> None:
        seen.append(frame)

    return seen, on_frame


def test_worker_backs_off_on_a_missing_file_and_picks_it_up_when_it_appears(
    tmp_path: Path,
) -> None:
    video = tmp_path / "late.avi"
    seen, on_frame = collector()
    worker = CameraWorker("main-in", CaptureSource(str(video)), config(), on_frame)

    async def scenario() -> None:
        await worker.start()
        await asyncio.sleep(0.5)
        failures_before = worker.stats.open_failures
        write_video(video, 3)
        deadline = time.monotonic() + 5
        while worker.stats.state != "ended" and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await worker.stop()
        # 0.05 + 0.1 + 0.2 + 0.2 … : 3–5 attempts in half a second, not hundreds.
        assert 3 <= failures_before <= 6

    asyncio.run(scenario())
    assert len(seen) == 3
    assert worker.stats.opens == 1 and worker.stats.frames_analysed == 3


def test_worker_skips_a_corrupt_image_in_a_folder(tmp_path: Path) -> None:
    for i, value in enumerate((30, 90)):
        cv2.imwrite(str(tmp_path / f"{i}.png"), image(value))
    (tmp_path / "1-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    seen, on_frame = collector()
    worker = CameraWorker("main-in", FolderSource(tmp_path), config(), on_frame)
    asyncio.run(run_until(worker, lambda: len(seen) >= 2 and worker.stats.corrupt_frames >= 1))
    assert [round(mean(f.image)) for f in seen] == [30, 90]
    assert worker.stats.corrupt_frames == 1
    assert worker.stats.handler_errors == 0


def test_worker_survives_a_dying_source_and_a_failing_handler() -> None:
    def frames() -> Iterator[np.ndarray | None]:
        yield image(10)
        yield np.zeros((2, 2), np.uint8)  # garbage from the driver: a corrupt frame
        yield image(20)
        raise ConnectionResetError("camera rebooted")

    source = SyntheticSource(frames, fail_opens=1)
    seen: list[Frame] = []

    async def on_frame(frame: Frame) -> None:
        seen.append(frame)
        if len(seen) == 2:
            raise RuntimeError("recogniser hiccup")

    worker = CameraWorker("main-in", source, config(), on_frame)
    asyncio.run(run_until(worker, lambda: len(seen) >= 6))
    assert len(seen) >= 6
    assert source.opens >= 4  # one failed open, then a reopen after every death
    assert worker.stats.open_failures == 1
    assert worker.stats.stream_failures >= 2
    assert worker.stats.corrupt_frames >= 2
    assert worker.stats.handler_errors == 1


def test_live_worker_works_on_the_newest_frame_at_its_fps() -> None:
    counter = itertools.count()

    def frames() -> Iterator[np.ndarray | None]:
        while True:
            time.sleep(0.005)  # a camera producing ~200 frames/s
            yield image(next(counter) % 250)

    seen, on_frame = collector()
    worker = CameraWorker(
        "main-in", SyntheticSource(frames, realtime=True), config(fps=5.0), on_frame
    )
    started = time.monotonic()
    asyncio.run(run_until(worker, lambda: len(seen) >= 4))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.55  # 4 frames at 5 fps: at least 3 intervals of 0.2 s
    assert worker.stats.frames_dropped > 20  # the backlog was thrown away, not queued
    assert worker.stats.frames_read > 4 * len(seen)


def test_http_snapshot_source_against_a_local_camera() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    jpeg = cv2.imencode(".jpg", image(120))[1].tobytes()
    bodies = {"/snapshot.jpg": (200, jpeg), "/broken.jpg": (200, b"\xff\xd8\xffjunk"),
              "/down.jpg": (503, b"busy")}

    class Camera(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = bodies[self.path]
            self.send_response(status)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        good = open_source(f"{base}/snapshot.jpg")
        good.open()
        frame = good.read()
        assert frame is not None and round(mean(frame) / 10) == 12
        good.close()
        broken = HttpSnapshotSource(f"{base}/broken.jpg")
        broken.open()
        with pytest.raises(CorruptFrameError):
            broken.read()
        down = HttpSnapshotSource(f"{base}/down.jpg")
        down.open()
        with pytest.raises(SourceUnavailableError):
            down.read()
    finally:
        server.shutdown()


class _OpeningStream:
    """What OpenCV's FFmpeg reader does just after an RTSP open, on a clock of its own: each
    grab takes the seconds scripted for it (a frame FFmpeg buffered while opening comes at
    once, a live one when the camera sends it); frames are numbered in grab order."""

    def __init__(self, grab_seconds: list[float], fps: float = 10.0) -> None:
        self.grab_seconds = list(grab_seconds)
        self.fps = fps
        self.now = 100.0
        self.grabbed = 0

    def monotonic(self) -> float:
        return self.now

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_FPS
        return self.fps

    def grab(self) -> bool:
        if not self.grab_seconds:
            return False
        self.now += self.grab_seconds.pop(0)
        self.grabbed += 1
        return True


@pytest.mark.parametrize(
    ("what", "grabs", "kept"),
    [
        # 20 buffered frames, then the camera's pace (0.1 s at 10 fps).
        ("buffered frames, then live", [0.0] * 20 + [0.1] * 5, 22),
        # The decoder's first frame is slow (or the box busy for a moment): one slow grab
        # among the buffered ones is not the stream being live.
        ("a slow first decode", [0.08] + [0.0] * 20 + [0.1] * 5, 23),
        ("a busy moment in the backlog", [0.0] * 8 + [0.07] + [0.0] * 12 + [0.1] * 5, 23),
        ("live from the start", [0.1] * 5, 2),
    ],
)
def test_the_frames_ffmpeg_buffered_while_opening_are_skipped_until_two_grabs_wait(
    monkeypatch: pytest.MonkeyPatch, what: str, grabs: list[float], kept: int
) -> None:
    stream = _OpeningStream(grabs)
    monkeypatch.setattr("vision.sources.time", stream)
    source = CaptureSource("rtsp://camera.invalid/stream", realtime=True)
    source._skip_backlog(stream)  # type: ignore[arg-type]
    # The first read retrieves the frame the last grab took: the second that waited.
    assert stream.grabbed == kept, what
    assert source.backlog_skipped == kept - 1
    assert source._grabbed
