"""Liveness benchmark: real clip windows must pass, flat replays made from its frames must fail.

    python -m bench.liveness [VIDEO] [--flats N] [--seed S] [-v]

Real windows: ~1 s windows (30 frames, every 5 frames) inside each shot of the clip (shot cuts
found by frame difference), starting on a frame where the HOG detector finds a face.
Flat replays: a still frame of the same clip (or the enrolment photo) cropped like a printed
photo or a phone screen, moved as ONE plane in front of a static background, by a hand with
sway from tripod-still to 25°, roll, drift, scale change and tremor, then degraded by blur,
sensor noise, brightness drift, glare fixed in the camera frame, moiré (screens) and JPEG.
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vision.face_config import FaceRecognitionConfig, LivenessConfig
from vision.face_types import LivenessVerdict
from vision.faces import FaceEngine
from vision.liveness import LivenessChecker
from vision.types import BoundingBox

logger = logging.getLogger("bench.liveness")

DEFAULT_VIDEO = Path("/work/shared/data/face_video/short_hamilton_clip.mp4")
WINDOW = 30  # frames: ~1 s at 30 fps
STRIDE = 5
CUT_DIFF = 25.0  # mean abs grey difference (160x90) between frames that marks a shot cut


def read_video(path: Path, stop: int | None = None) -> list[np.ndarray]:
    """Decode the frames of ``path`` (the first ``stop`` only, if given)."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while stop is None or len(frames) < stop:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        raise SystemExit(f"could not read any frame from {path}")
    return frames


def shot_segments(frames: list[np.ndarray]) -> list[tuple[int, int]]:
    """[start, end) ranges between shot cuts: a cut would look like huge 'parallax'."""
    small = [
        cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (160, 90)).astype(np.float32)
        for f in frames
    ]
    cuts = [i for i in range(1, len(small)) if np.abs(small[i] - small[i - 1]).mean() > CUT_DIFF]
    bounds = [0, *cuts, len(frames)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


@dataclass(frozen=True)
class Window:
    name: str
    frames: list[np.ndarray]
    box: BoundingBox


def real_windows(
    frames: list[np.ndarray], engine: FaceEngine, *, window: int = WINDOW, stride: int = STRIDE
) -> list[Window]:
    """Windows inside one shot whose first frame has a face (largest one is the subject)."""
    windows = []
    for start_seg, end_seg in shot_segments(frames):
        for start in range(start_seg, end_seg - window + 1, stride):
            boxes = engine.locate(frames[start], upsample=1)
            if boxes:
                windows.append(
                    Window(f"real@{start}", frames[start : start + window], boxes[0])
                )
    return windows


# -- flat replays -----------------------------------------------------------------------------
def _plane_homography(
    width: int, height: int, center: tuple[float, float], yaw: float, pitch: float, roll: float,
    shift: tuple[float, float], scale: float, focal: float,
) -> np.ndarray:
    """Homography of a plane facing the camera, rotated about ``center`` (degrees), moved."""
    cx, cy = width / 2.0, height / 2.0
    z0 = focal  # plane at one focal length: pixel units stay pixels
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    pts3 = np.column_stack([corners[:, 0] - cx, corners[:, 1] - cy, np.full(4, z0)])
    pivot = np.array([center[0] - cx, center[1] - cy, z0])
    a, b, c = (math.radians(v) for v in (pitch, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    moved = (rz @ ry @ rx @ (pts3 - pivot).T).T * scale + pivot
    moved[:, 0] += shift[0]
    moved[:, 1] += shift[1]
    projected = np.column_stack(
        [focal * moved[:, 0] / moved[:, 2] + cx, focal * moved[:, 1] / moved[:, 2] + cy]
    )
    return cv2.getPerspectiveTransform(corners.astype(np.float32), projected.astype(np.float32))


def _rolling_shutter_maps(
    homographies: list[np.ndarray], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """remap() maps where row band b of the output was exposed under ``homographies[b]``."""
    map_x = np.empty((height, width), np.float32)
    map_y = np.empty((height, width), np.float32)
    xs = np.arange(width, dtype=np.float32)[None, :]
    bounds = np.linspace(0, height, len(homographies) + 1).astype(int)
    for h, r0, r1 in zip(homographies, bounds[:-1], bounds[1:], strict=True):
        m = cv2.invert(h.astype(np.float64))[1].astype(np.float32)  # LAPACK inv is slow here
        ys = np.arange(r0, r1, dtype=np.float32)[:, None]
        w = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
        map_x[r0:r1] = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / w
        map_y[r0:r1] = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / w
    return map_x, map_y


def _motion_blur(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Blur along the image motion during the exposure (a line kernel)."""
    length = math.hypot(dx, dy)
    if length < 1.0:
        return frame
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    cv2.line(kernel, (round(c - dx / 2), round(c - dy / 2)),
             (round(c + dx / 2), round(c + dy / 2)), (1.0,), 1)
    return cv2.filter2D(frame, -1, kernel / kernel.sum())


def make_flat_replay(
    still: np.ndarray,
    box: BoundingBox,
    background: np.ndarray,
    rng: np.random.Generator,
    *,
    sway_deg: float,
    n_frames: int = WINDOW,
    screen: bool = False,
) -> Window:
    """A printed photo / phone screen of ``still`` held in a hand for ``n_frames`` frames.

    The camera image is cropped to about 4 face widths around the face (all liveness looks
    at) to keep generation fast; the returned box is in the cropped frame.
    """
    full_h, full_w = still.shape[:2]
    half = int(2.0 * box.width)
    ccx, ccy = int((box.x1 + box.x2) / 2), int((box.y1 + box.y2) / 2)
    x0, y0 = max(ccx - half, 0), max(ccy - int(1.3 * half), 0)
    x1, y1 = min(ccx + half, full_w), min(ccy + half, full_h)
    still = still[y0:y1, x0:x1]
    background = cv2.resize(background, (full_w, full_h))[y0:y1, x0:x1]
    box = BoundingBox(box.x1 - x0, box.y1 - y0, box.x2 - x0, box.y2 - y0)
    height, width = still.shape[:2]
    face_w = box.width
    center = ((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2)
    photo = still.astype(np.float32)
    if screen:  # moiré: a fine grating fixed to the screen surface, moves with the plane
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        theta, pitch = rng.uniform(0, math.pi), rng.uniform(2.2, 4.0)
        phase = (xx * math.cos(theta) + yy * math.sin(theta)) / pitch
        photo *= (1.0 + 0.1 * np.sin(2 * math.pi * phase))[..., None]
        photo = photo * rng.uniform(0.8, 1.0) + rng.uniform(10, 30)  # screen gamma, black level
    # Paper/screen extent around the face: from a tight crop (1.4x) to a whole print (3x);
    # outside it the real, static background shows.
    extent = rng.uniform(1.4, 3.0)
    mask = np.zeros((height, width), np.float32)
    half_w, half_h = extent * face_w / 2, extent * box.height * 0.65
    cv2.rectangle(
        mask, (int(center[0] - half_w), int(center[1] - half_h * 1.2)),
        (int(center[0] + half_w), int(center[1] + half_h)), (255.0,), -1,
    )
    layers = np.dstack([np.clip(photo, 0, 255), mask]).astype(np.float32)
    bg = cv2.GaussianBlur(background, (0, 0), 2.0).astype(np.float32)
    focal = 640.0 * rng.uniform(0.8, 1.5)
    freq = rng.uniform(0.4, 1.5)  # Hz of the sway
    phases = rng.uniform(0, 2 * math.pi, 6)
    roll_amp = min(sway_deg, 8.0) * rng.uniform(0, 1)
    drift = rng.uniform(0, 0.3) * face_w
    zoom = rng.uniform(0, 0.08)
    blur_sigma = rng.uniform(0, 1.5)
    noise_sigma = rng.uniform(1.0, 4.0)
    jpeg_q = int(rng.integers(30, 90))
    gain0, gain1 = rng.uniform(0.85, 1.15, 2)
    readout = rng.uniform(0.0, 0.03)  # s: rolling-shutter readout time (0 = global shutter)
    exposure = rng.uniform(0.002, 0.02)  # s
    glare = rng.random() < 0.5
    glare_xy = (center[0] + rng.uniform(-0.5, 0.5) * face_w,
                center[1] + rng.uniform(-0.5, 0.3) * face_w)
    glare_r, glare_i = rng.uniform(0.2, 0.6) * face_w, rng.uniform(60, 160)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    glare_map = glare_i * np.exp(-((xx - glare_xy[0]) ** 2 + (yy - glare_xy[1]) ** 2)
                                 / (2 * glare_r**2))
    tremor = rng.normal(0, 0.3, (n_frames, 2))

    def pose(t: float, k: int) -> np.ndarray:
        wave = [math.sin(2 * math.pi * freq * t + p) for p in phases]
        return _plane_homography(
            width, height, center,
            yaw=sway_deg * wave[0], pitch=0.6 * sway_deg * wave[1], roll=roll_amp * wave[2],
            shift=(drift * wave[3] + tremor[k, 0], 0.5 * drift * wave[4] + tremor[k, 1]),
            scale=1.0 + zoom * wave[5], focal=focal,
        )

    frames: list[np.ndarray] = []
    first_h: np.ndarray | None = None
    noise = np.empty((height, width, 3), np.float32)
    for k in range(n_frames):
        t = k / 30.0
        bands = [pose(t + readout * b / 7, k) for b in range(8)]
        if first_h is None:
            first_h = bands[len(bands) // 2]
        map_x, map_y = _rolling_shutter_maps(bands, width, height)
        warped = cv2.remap(layers, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        alpha = (warped[..., 3:4] / 255.0).clip(0, 1)
        frame = warped[..., :3] * alpha + bg * (1 - alpha)
        at_centre = np.array([[center]], dtype=np.float32)
        centre_now = cv2.perspectiveTransform(at_centre, bands[4])
        centre_then = cv2.perspectiveTransform(at_centre, pose(t + exposure, k))
        dx, dy = (centre_then - centre_now).reshape(2)
        frame = _motion_blur(frame, float(dx), float(dy))
        if blur_sigma > 0.3:
            frame = cv2.GaussianBlur(frame, (0, 0), blur_sigma)
        gain = gain0 + (gain1 - gain0) * k / max(n_frames - 1, 1)
        # One deviation per channel: a bare number is the scalar (sigma, 0, 0, 0), which put
        # the noise on the blue channel alone.
        cv2.randn(noise, np.zeros(3), np.full(3, noise_sigma))
        frame = frame * gain + noise
        if glare:  # specular glare stays with the light, not with the moving surface
            frame += glare_map[..., None]
        frame = np.clip(frame, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_q])
        frames.append(cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else frame)
    assert first_h is not None
    corners = np.array([[[box.x1, box.y1]], [[box.x2, box.y1]], [[box.x2, box.y2]],
                        [[box.x1, box.y2]]], np.float32)
    mapped = cv2.perspectiveTransform(corners, first_h).reshape(-1, 2)
    first_box = BoundingBox(
        float(mapped[:, 0].min()), float(mapped[:, 1].min()),
        float(mapped[:, 0].max()), float(mapped[:, 1].max()),
    )
    kind = "screen" if screen else "print"
    return Window(f"flat-{kind}-sway{sway_deg:.0f}", frames, first_box)


SWAYS = (0.0, 2.0, 5.0, 10.0, 15.0, 25.0)


def flat_windows(
    stills: list[tuple[np.ndarray, BoundingBox]],
    backgrounds: list[np.ndarray],
    count: int,
    seed: int,
) -> list[Window]:
    rng = np.random.default_rng(seed)
    windows = []
    for i in range(count):
        still, box = stills[i % len(stills)]
        background = backgrounds[int(rng.integers(len(backgrounds)))]
        sway = SWAYS[(i // len(stills)) % len(SWAYS)]
        windows.append(
            make_flat_replay(still, box, background, rng, sway_deg=sway, screen=bool(i % 2))
        )
        if (i + 1) % 25 == 0:
            logger.info("made %d / %d flat replays", i + 1, count)
    return windows


def enrolment_still(photo: np.ndarray, engine: FaceEngine, size: tuple[int, int]) -> tuple[
    np.ndarray, BoundingBox
] | None:
    """The enrolment photo scaled onto a camera-sized canvas (face ~100 px)."""
    boxes = engine.locate(photo, upsample=0)
    if not boxes:
        return None
    scale = 100.0 / boxes[0].width
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    width, height = size
    canvas = cv2.resize(photo, (width, height))
    canvas = cv2.GaussianBlur(canvas, (0, 0), 8)
    oy, ox = max((height - small.shape[0]) // 2, 0), max((width - small.shape[1]) // 2, 0)
    crop = small[: height - oy, : width - ox]
    canvas[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    found = engine.locate(canvas, upsample=1)
    return (canvas, found[0]) if found else None


def collect(
    video: Path, engine: FaceEngine, flats: int, seed: int
) -> tuple[list[Window], list[Window]]:
    frames = read_video(video)
    logger.info("read %d frames from %s", len(frames), video)
    real = real_windows(frames, engine)
    logger.info("%d real windows", len(real))
    stills = [(w.frames[0], w.box) for w in real[:: max(len(real) // 8, 1)]]
    photo_path = video.with_name("lin-manuel-miranda.png")
    if photo_path.exists():
        photo = cv2.imread(str(photo_path))
        if photo is not None:
            extra = enrolment_still(photo, engine, (frames[0].shape[1], frames[0].shape[0]))
            if extra is not None:
                stills.append(extra)
    backgrounds = frames[:: max(len(frames) // 10, 1)]
    return real, flat_windows(stills, backgrounds, flats, seed)


def run(video: Path, flats: int, seed: int) -> dict[str, object]:
    engine = FaceEngine(FaceRecognitionConfig())
    checker = LivenessChecker(LivenessConfig())
    real, flat = collect(video, engine, flats, seed)

    def judge(windows: list[Window]) -> list[tuple[Window, LivenessVerdict, float]]:
        out = []
        for w in windows:
            t0 = time.perf_counter()
            verdict = checker.check(w.frames, w.box)
            out.append((w, verdict, (time.perf_counter() - t0) * 1000 / len(w.frames)))
            logger.debug("%s %s %.4f %s", w.name, verdict.live, verdict.score, verdict.details)
        return out

    real_res, flat_res = judge(real), judge(flat)
    real_live = sum(v.live is True for _, v, _ in real_res)
    real_challenge = sum(v.live is None for _, v, _ in real_res)
    flat_live = [w.name for w, v, _ in flat_res if v.live is True]
    flat_challenge = sum(v.live is None for _, v, _ in flat_res)
    flat_scores = [v.score for _, v, _ in flat_res]
    real_scores = [v.score for _, v, _ in real_res]
    ms = [m for _, _, m in real_res + flat_res]
    by_sway: dict[str, list[float]] = {}
    for w, v, _ in flat_res:
        by_sway.setdefault(w.name, []).append(v.score)
    small_px = checker.config.small_face_px
    flat_large = [v.score for w, v, _ in flat_res if w.box.width >= small_px]
    flat_small = [v.score for w, v, _ in flat_res if w.box.width < small_px]
    report = {
        "video": str(video),
        "window_frames": WINDOW,
        "real_windows": len(real_res),
        "real_pass_rate": round(real_live / max(len(real_res), 1), 4),
        "real_challenge_rate": round(real_challenge / max(len(real_res), 1), 4),
        "flat_windows": len(flat_res),
        "flat_refused_rate": round(1 - len(flat_live) / max(len(flat_res), 1), 4),
        "flat_passed": flat_live,
        "flat_challenge_rate": round(flat_challenge / max(len(flat_res), 1), 4),
        "flat_score_max": round(max(flat_scores, default=0.0), 4),
        "flat_score_max_large_faces": round(max(flat_large, default=0.0), 4),
        "flat_score_max_small_faces": round(max(flat_small, default=0.0), 4),
        "flat_windows_small_faces": len(flat_small),
        "real_score_p10": round(float(np.percentile(real_scores, 10)) if real_scores else 0, 4),
        "ms_per_frame_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_per_frame_p95": round(float(np.percentile(ms, 95)), 2),
        "flat_score_max_by_kind": {k: round(max(v), 4) for k, v in sorted(by_sway.items())},
        "thresholds": {
            "parallax": checker.config.parallax_threshold,
            "parallax_small": checker.config.parallax_threshold_small,
        },
    }
    print(f"real windows: {len(real_res)}  live {report['real_pass_rate']:.1%}  "
          f"challenge {report['real_challenge_rate']:.1%}")
    print(f"flat replays: {len(flat_res)}  refused {report['flat_refused_rate']:.1%}  "
          f"(of which challenge {report['flat_challenge_rate']:.1%})  "
          f"max flat score {report['flat_score_max_large_faces']} (faces >= {small_px} px, "
          f"threshold {checker.config.parallax_threshold}) / "
          f"{report['flat_score_max_small_faces']} (smaller, threshold "
          f"{checker.config.parallax_threshold_small})")
    for w, v, _ in real_res:
        print(f"  {w.name:12s} face {w.box.width:4.0f}px  live={v.live!s:5s} "
              f"score={v.score:.4f} motion={v.details.get('motion', 0):.3f} {v.reason}")
    print(f"cost per frame p50/p95 ms: {report['ms_per_frame_p50']} / "
          f"{report['ms_per_frame_p95']}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--flats", type=int, default=252, help="number of flat replays")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.video.exists():
        parser.error(f"{args.video} does not exist")
    report = run(args.video, args.flats, args.seed)
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
