"""Pedestrian-gate decision latency while large enrolment photos are embedded at the same time.

    python -m bench.face_enrol_contention [VIDEO_DIR] [--bursts N] [--gates G] [--admins A]

VIDEO_DIR (default ../shared/data/face_video) holds ``short_hamilton_clip.mp4`` and
``lin-manuel-miranda.png``. The services run in-process on a temporary SQLite database
(``build_services``, simulated barriers with a fast arm). Lin is enrolled as a resident; each
gate then sends the same 1-s burst of 30 real frames of him (as ``tests/api/test_face_gate``)
through ``FaceGateService.process`` (decode, face pipeline, liveness, decision, passage, barrier
command), ``--bursts`` times, ``--gap`` seconds apart, while ``--admins`` admins each embed the
enrolment photo upscaled in memory to ~12 MP (a phone photo), one after another, as the
enrolment route does. Modes, all in the same run, taking turns ``--rounds`` times so that load
from outside falls on each alike:

* ``alone``: no enrolment: the baseline every ratio is taken to;
* ``shared``: the wiring parkgate had before: enrolment on the gate's engine under the gate's
  lock, each request in ``asyncio.to_thread``;
* ``own``: enrolment's own engine and lock on its own thread, normal priority;
* ``own+niceN``: the same with the enrolment thread at nice N, for each N of ``--nice``
  (default ``faces.enrol_nice``: the shipped wiring).

Each mode also checks that contention changes no result: every burst's decision equals the
``alone`` one, and every enrolment embedding is bit-identical to one made with nothing else
running. Then the resident memory of the old engine set-up and of the new one (two engines) is
measured, each in a fresh child process (``--no-memory`` skips it). Without the clip and the
photo the benchmark says so and exits 0.

Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.gate_latency import fast_gate_settings, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "face_video"
CLIP = "short_hamilton_clip.mp4"
PHOTO = "lin-manuel-miranda.png"
START, LENGTH = 87, 30  # the live 1-s window tests/api/test_face_gate.py uses
ENROL_FRAMES = (175, 199)
ENROL_PIXELS = 12_000_000
MODES = ("alone", "shared", "own", "own+nice")

logger = logging.getLogger("bench.face_enrol_contention")


def jpeg(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    assert ok
    return bytes(buf.tobytes())


@dataclass(frozen=True)
class Inputs:
    burst: list[bytes]
    enrol_small: list[bytes]  # Lin's enrolment as the gate test does it: photo + 2 frames
    enrol_large: bytes  # the photo upscaled to ~12 MP, JPEG
    large_size: tuple[int, int]


def load_inputs(video_dir: Path) -> Inputs:
    import cv2

    capture = cv2.VideoCapture(str(video_dir / CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    photo = cv2.imread(str(video_dir / PHOTO))
    if len(frames) < max(ENROL_FRAMES) + 1 or photo is None:
        raise SystemExit(f"{video_dir} does not hold the expected clip and photo")
    scale = (ENROL_PIXELS / (photo.shape[0] * photo.shape[1])) ** 0.5
    large = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return Inputs(
        burst=[jpeg(f) for f in frames[START : START + LENGTH]],
        enrol_small=[(video_dir / PHOTO).read_bytes(), *(jpeg(frames[i]) for i in ENROL_FRAMES)],
        enrol_large=jpeg(large),
        large_size=(large.shape[1], large.shape[0]),
    )


def build_settings(data_dir: Path, gates: int) -> Any:
    from settings import demo_community

    community = demo_community().model_dump()
    ped = next(g for g in community["gates"] if g["kind"] == "pedestrian")
    community["gates"] += [
        {**ped, "id": f"ped-{i}", "name": f"人行{i}"} for i in range(2, gates + 1)
    ]
    return fast_gate_settings(data_dir, community)


@dataclass
class ModeResult:
    latencies_ms: list[float] = field(default_factory=list)
    enrol_s: list[float] = field(default_factory=list)
    decisions: list[tuple[str, str]] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "bursts": len(lat),
            "gate_p50_ms": round(percentile(lat, 0.5), 1),
            "gate_p95_ms": round(percentile(lat, 0.95), 1),
            "gate_max_ms": round(max(lat), 1) if lat else None,
            "gate_mean_ms": round(statistics.fmean(lat), 1) if lat else None,
            "enrolments": len(self.enrol_s),
            "enrol_p50_s": round(percentile(self.enrol_s, 0.5), 2) if self.enrol_s else None,
            "enrolments_per_min": round(60 * len(self.enrol_s) / self.wall_s, 1)
            if self.enrol_s and self.wall_s else None,
        }


def enrolment_service(services: Any, mode: str) -> Any:
    """The FaceService each mode enrols through (built fresh: nice is set per thread)."""
    from services.faces import FaceService

    common = {"matcher": services.faces.matcher, "sessions": services.sessions,
              "max_pixels": services.settings.api.max_image_pixels}
    if mode == "shared":
        gate = services.face_gate
        return FaceService(engine=gate.pipeline.engine, engine_lock=gate.engine_lock, **common)
    nice = int(mode.removeprefix("own+nice")) if mode.startswith("own+nice") else 0
    return FaceService(engine=services.faces.engine, enrol_nice=nice, **common)


async def run_mode(
    services: Any, inputs: Inputs, mode: str, bursts: int, args: argparse.Namespace,
    result: ModeResult,
) -> None:
    """``bursts`` bursts per gate in ``mode``, added to ``result``."""
    faces = None if mode == "alone" else enrolment_service(services, mode)
    stop = asyncio.Event()
    started = asyncio.Event()

    async def admin() -> None:
        assert faces is not None
        while not stop.is_set():
            t0 = time.perf_counter()
            started.set()
            if mode == "shared":
                # The old route: asyncio.to_thread on the embedding code, under the gate's lock.
                embeddings = await asyncio.to_thread(faces._embed_photos, [inputs.enrol_large])
            else:
                embeddings = await faces.embed_photos_async([inputs.enrol_large])
            result.enrol_s.append(time.perf_counter() - t0)
            result.embeddings += embeddings

    async def gate(gate_id: str) -> None:
        for _ in range(bursts):
            t0 = time.perf_counter()
            answer = await services.face_gate.process(gate_id, inputs.burst)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            result.decisions.append((answer.decision, answer.reason))
            await asyncio.sleep(args.gap)

    t0 = time.perf_counter()
    admins = [asyncio.create_task(admin()) for _ in range(args.admins if faces else 0)]
    if admins:
        await started.wait()
        await asyncio.sleep(0.2)  # let the first photo reach the engine
    await asyncio.gather(*(gate(f"ped-{i}") for i in range(1, args.gates + 1)))
    result.wall_s += time.perf_counter() - t0
    stop.set()
    await asyncio.gather(*admins)


async def measure(inputs: Inputs, args: argparse.Namespace) -> dict[str, Any]:
    from services.container import build_services

    with tempfile.TemporaryDirectory(prefix="parkgate-bench-") as tmp:
        settings = build_settings(Path(tmp), args.gates)
        services = build_services(settings)
        await services.start()
        try:
            from models.db import transaction
            from models.people import Household, Resident

            with transaction(services.sessions) as session:
                household = Household(building="7栋", unit="601")
                session.add(household)
                session.flush()
                lin = Resident(household_id=household.id, name="林")
                session.add(lin)
                session.flush()
                lin_id = lin.id
            faces, face_gate = services.faces, services.face_gate
            assert faces is not None and face_gate is not None  # build_settings turns faces on
            faces.record_consent(lin_id, "bench", "bench")
            faces.enrol(lin_id, faces.embed_photos(inputs.enrol_small), "bench")
            # The reference embedding of the large photo, made with nothing else running.
            t0 = time.perf_counter()
            (reference,) = faces.embed_photos([inputs.enrol_large])
            enrol_alone_s = time.perf_counter() - t0
            logger.info("one %dx%d enrolment alone: %.2f s", *inputs.large_size, enrol_alone_s)
            for _ in range(2):  # warm-up: first-burst costs are not steady state
                await face_gate.process("ped-1", inputs.burst)
            # Round robin: the modes take turns, so load from outside this process falls on
            # each of them alike.
            results = {mode: ModeResult() for mode in args.modes}
            for round_ in range(args.rounds):
                bursts = args.bursts // args.rounds + (round_ < args.bursts % args.rounds)
                for mode in args.modes:
                    await run_mode(services, inputs, mode, bursts, args, results[mode])
                logger.info("round %d/%d: %s", round_ + 1, args.rounds, {
                    m: (r.summary()["gate_p50_ms"], r.summary()["gate_p95_ms"])
                    for m, r in results.items()})
        finally:
            await services.stop()
            services.engine.dispose()
    expected = results["alone"].decisions[0] if "alone" in results else None
    out: dict[str, Any] = {"enrol_alone_s": round(enrol_alone_s, 2), "modes": {}}
    for mode, res in results.items():
        summary = res.summary()
        summary["decisions_unchanged"] = expected is None or all(
            d == expected for d in res.decisions)
        summary["embeddings_identical"] = all(
            np.array_equal(e, reference) for e in res.embeddings)
        out["modes"][mode] = summary
    out["decision"] = list(expected) if expected else None
    return out


MEMORY_PROBE = """
import ctypes, json, re, sys
def rss():
    # Give freed heap back first: building the ONNX graph frees ~100 MB of temporaries that
    # the next allocations would otherwise reuse unseen.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    text = open("/proc/self/status").read()
    return int(re.search(r"VmRSS:\\s+(\\d+)", text).group(1)) / 1024
import cv2, dlib, numpy, onnx, onnxruntime, face_recognition_models
from vision.faces import FaceEngine
from vision.face_embedder import OnnxFaceEmbedder
photo = cv2.imread(sys.argv[2])
base = rss()
out = {}
kept = []  # every model stays referenced until the last reading
def engine():
    kept.append(FaceEngine())
    return kept[-1]
if sys.argv[1] == "old":
    # What the old engine used: face_recognition's module-level dlib objects.
    import face_recognition.api as fr_api
    old = engine()
    old._detector, old._predictor = fr_api.face_detector, fr_api.pose_predictor_5_point
    old.embed_single_face(photo)
    out["total_mb"] = rss() - base
else:
    engine().embed_single_face(photo)
    one = rss()
    engine().embed_single_face(photo)
    two = rss()
    out["total_mb"] = two - base
    out["second_engine_mb"] = two - one
    # dlib's detector keeps the HOG pyramid of its last image until the next one.
    scale = (12_000_000 / (photo.shape[0] * photo.shape[1])) ** 0.5
    kept[-1].embed_single_face(cv2.resize(photo, None, fx=scale, fy=scale))
    out["kept_after_12mp_photo_mb"] = rss() - two
    kept[-1].release_buffers()  # as FaceService does after each enrolment
    out["kept_after_release_mb"] = rss() - two
    two = rss()
    kept.append(OnnxFaceEmbedder())
    kept[-1].embed_chips(numpy.zeros((2, 150, 150, 3), numpy.uint8))
    out["second_onnx_session_mb"] = rss() - two
print(json.dumps(out))
"""


def measure_memory(photo: Path) -> dict[str, Any]:
    """RSS added by the face models once they have embedded ``photo``, each set-up in a fresh
    process (from the same imports)."""
    found: dict[str, Any] = {}
    for setup in ("old", "new"):
        probe = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, setup, str(photo)], capture_output=True,
            text=True,
            cwd=ROOT, check=True,
        )
        values = json.loads(probe.stdout.splitlines()[-1])
        found[setup] = {k: round(v, 1) for k, v in values.items()}
    return {
        "old_one_engine_mb": found["old"]["total_mb"],
        "new_two_engines_mb": found["new"]["total_mb"],
        "second_engine_mb": found["new"]["second_engine_mb"],
        "second_onnx_session_mb": found["new"]["second_onnx_session_mb"],
        "kept_after_12mp_photo_mb": found["new"]["kept_after_12mp_photo_mb"],
        "kept_after_release_mb": found["new"]["kept_after_release_mb"],
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video_dir", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--bursts", type=int, default=30, help="bursts per gate per mode")
    parser.add_argument("--gates", type=int, default=1, help="pedestrian gates sending at once")
    parser.add_argument("--admins", type=int, default=1, help="admins enrolling at once")
    parser.add_argument("--rounds", type=int, default=5,
                        help="the modes take turns this many times (bursts are split)")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between a gate's bursts")
    parser.add_argument("--nice", type=int, nargs="+", default=None,
                        help="nice values of own+nice (default: the faces.enrol_nice setting)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the memory measurement")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    for noisy in ("services", "controllers", "models", "vision", "hardware", "api"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not (args.video_dir / CLIP).is_file() or not (args.video_dir / PHOTO).is_file():
        message = f"skipped: {args.video_dir} does not hold {CLIP} and {PHOTO}"
        print(message, file=sys.stderr)
        print(json.dumps({"skipped": message}))
        return 0
    if args.nice is None:
        from vision.face_config import FaceRecognitionConfig

        args.nice = [FaceRecognitionConfig().enrol_nice]
    if "alone" not in args.modes:
        args.modes.insert(0, "alone")
    args.modes = [m for mode in args.modes
                  for m in ([f"own+nice{n}" for n in args.nice] if mode == "own+nice" else [mode])]
    inputs = load_inputs(args.video_dir)
    out: dict[str, Any] = {
        "gates": args.gates, "admins": args.admins, "bursts_per_gate": args.bursts,
        "gap_s": args.gap, "burst_frames": LENGTH, "nice": args.nice,
        "enrol_photo": f"{inputs.large_size[0]}x{inputs.large_size[1]}",
    }
    out["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    out.update(asyncio.run(measure(inputs, args)))
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    modes = out["modes"]
    alone = modes["alone"]
    out["ratios"] = {
        f"{mode}_p95_vs_alone": ratio(modes[mode]["gate_p95_ms"], alone["gate_p95_ms"])
        for mode in modes if mode != "alone"
    } | {
        f"{mode}_p50_vs_alone": ratio(modes[mode]["gate_p50_ms"], alone["gate_p50_ms"])
        for mode in modes if mode != "alone"
    }
    if args.memory:
        out["memory"] = measure_memory(args.video_dir / PHOTO)
    print(f"gate decision latency, {args.gates} gate(s), {args.admins} admin(s) enrolling "
          f"{out['enrol_photo']} photos (one alone: {out['enrol_alone_s']} s):")
    for mode, m in modes.items():
        print(f"  {mode:11s} p50 {m['gate_p50_ms']:7.1f} ms  p95 {m['gate_p95_ms']:7.1f} ms  "
              f"max {m['gate_max_ms']:7.1f} ms  (x{ratio(m['gate_p95_ms'], alone['gate_p95_ms'])} "
              f"p95 of alone)  enrolments {m['enrolments']} (p50 {m['enrol_p50_s']} s)  "
              f"same decisions {m['decisions_unchanged']}  same embeddings "
              f"{m['embeddings_identical']}")
    if args.memory:
        mem = out["memory"]
        print(f"memory: old set-up (one engine, face_recognition's globals) "
              f"{mem['old_one_engine_mb']} MB; new (two engines) {mem['new_two_engines_mb']} MB; "
              f"the second engine {mem['second_engine_mb']} MB; its detector keeps "
              f"{mem['kept_after_12mp_photo_mb']} MB after a 12 MP photo, "
              f"{mem['kept_after_release_mb']} MB once released; a second onnxruntime "
              f"session would add {mem['second_onnx_session_mb']} MB")
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
