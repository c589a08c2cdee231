"""Does the plate reader's memory settle? RSS and latency of many reads, per allocator setting.

    python -m bench.reader_memory [DATA_DIR] [--reads 3000] [--every 100] [--concurrent 4]
        [--rounds 2] [--variants default,arena_off,...]

Each variant runs in a fresh subprocess (so no two share an allocator) that builds the
product's plate reader (``create_plate_recognizer``, onnxruntime engine) and reads a mix of
frames from ``--concurrent`` threads at once, as the push endpoint does (at most
``api.max_concurrent_frames`` frames in worker threads): the real photos of DATA_DIR/full
(default ../shared/data/plates) at their own size and rescaled, and drawn gate scenes (a car at
the barrier, an empty lane: the text detector's fallback) at varied sizes, so the models see
many input shapes. Without the photos it reads the drawn scenes only and says so.

Sampled every ``--every`` reads: VmRSS and glibc's own figures (``mallinfo2``: bytes in use,
free bytes malloc keeps in its heaps, bytes in mmapped blocks). Reported per variant: RSS at
start (models loaded), after warm-up (a fifth of the reads), at the end, the slope over the
second half (MB per 1,000 reads), read latency p50/p95 (under the concurrency, so it includes
waiting for a core) and throughput; latency as a ratio to ``default`` in the same run. Rounds
run the variants in rotated order, so a busy spell on the machine does not fall on one.

Variants: ``default`` (glibc's own dynamic mmap threshold and arenas, onnxruntime's
defaults: the reader as built here, without what ``serve`` sets at start) and:
``arena_off`` (the recogniser's onnxruntime session without its CPU memory arena; rapidocr's
text detector never has one), ``malloc2`` (``MALLOC_ARENA_MAX=2``), ``mmap1m`` / ``mmap2m`` /
``mmap4m`` (``MALLOC_MMAP_THRESHOLD_`` fixed at 1, 2 or 4 MiB: blocks that size and larger
get their own mmap, given back on free; numpy asks for huge pages on blocks of 4 MiB and
more), ``mmap4m_trim8m`` (and ``MALLOC_TRIM_THRESHOLD_`` at 8 MiB, the value glibc's
dynamic rule would give), ``mmap4m_arena2`` (4 MiB and ``MALLOC_ARENA_MAX=2``),
``mallopt4m`` / ``mallopt4m_arena2`` (the same set by ``mallopt`` once the interpreter runs,
as ``serve`` does), ``trim`` (``malloc_trim(0)`` every 2 s from a thread).
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "plates"

logger = logging.getLogger("bench.reader_memory")

# Variant → environment added to the child; each differs from ``default`` in one thing.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "arena_off": {},
    "malloc2": {"MALLOC_ARENA_MAX": "2"},
    "mmap1m": {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)},
    "mmap4m": {"MALLOC_MMAP_THRESHOLD_": str(4 << 20)},
    "mmap2m": {"MALLOC_MMAP_THRESHOLD_": str(2 << 20)},
    # A fixed mmap threshold also fixes the trim threshold at glibc's 128 KiB, so each heap
    # hands back any free top over 128 KiB and faults it in again at the next read; 8 MiB is
    # what glibc's dynamic rule would pick for a 4 MiB threshold (twice it). Per heap, so the
    # most it keeps beyond what is in use is about heaps x 8 MiB, where 128 MiB would keep
    # the unbounded level this is meant to remove.
    "mmap4m_trim8m": {"MALLOC_MMAP_THRESHOLD_": str(4 << 20),
                      "MALLOC_TRIM_THRESHOLD_": str(8 << 20)},
    "mmap4m_arena2": {"MALLOC_MMAP_THRESHOLD_": str(4 << 20), "MALLOC_ARENA_MAX": "2"},
    # The same 4 MiB set by mallopt() in the running process, as a program can do at start
    # (after the interpreter and imports have used the heap), instead of in the environment.
    "mallopt4m": {},
    # Both by mallopt(): M_ARENA_MAX counts for arenas made after it, and the reading threads
    # start after.
    "mallopt4m_arena2": {},
    "trim": {},
}

# mallopt parameter numbers (glibc malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo() -> dict[str, float]:
    """glibc's heap figures in MB (empty where there is no mallinfo2, e.g. musl)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    info = fn()
    mb = 1 / (1 << 20)
    return {"heap_mb": round(info.arena * mb, 1), "in_use_mb": round(info.uordblks * mb, 1),
            "free_kept_mb": round(info.fordblks * mb, 1), "mmapped_mb": round(info.hblkhd * mb, 1),
            "mmapped_blocks": info.hblks}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _frames(data_dir: Path, seed: int) -> tuple[list[bytes], str]:
    """The frame mix as JPEG bytes, as pushed: real photos (own size, smaller, enlarged) and
    drawn scenes, varied sizes. Decoded at each read, in the reading thread, as the push
    endpoint does."""
    import cv2

    from vision.plate_render import random_plate, render_gate_scene, render_plate

    rng = random.Random(seed)
    images: list[Any] = []
    photos = sorted((data_dir / "full").glob("*.jpg")) if data_dir.is_dir() else []
    note = f"{len(photos)} photos from {data_dir / 'full'}"
    if not photos:
        note = f"no photos in {data_dir / 'full'}: drawn scenes only"
    for path in photos[:60]:
        image = cv2.imread(str(path))
        if image is None:
            continue
        images.append(image)
        scale = rng.choice([0.5, 0.75, 1.3])
        images.append(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    sizes = [(960, 540), (1280, 720), (800, 600), (640, 360), (1920, 1080), (704, 576)]
    for k in range(60):
        plate = None if k % 4 == 0 else render_plate(random_plate(rng))
        images.append(render_gate_scene(plate, rng, size=sizes[k % len(sizes)],
                                        approach=rng.uniform(0.6, 1.0)))
    frames = [bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
              for image in images]
    return frames, note


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def _trim_every(period_s: float) -> None:
    """glibc's malloc_trim(0) now and then: free pages inside the heaps go back to the system."""
    trim = ctypes.CDLL("libc.so.6").malloc_trim
    while True:
        time.sleep(period_s)
        trim(0)


def _sessions_without_arena() -> None:
    """onnxruntime sessions made from now on run without the CPU memory arena (the engine
    builds its options at load; rapidocr's text detector turns the arena off itself)."""
    import onnxruntime as ort

    made = ort.SessionOptions

    def without_arena() -> Any:
        options = made()
        options.enable_cpu_mem_arena = False
        return options

    ort.SessionOptions = without_arena


def child(variant: str, data_dir: Path, reads: int, every: int, concurrent: int,
          seed: int) -> dict[str, Any]:
    """Read ``reads`` frames through the product's reader; RSS curve and latencies."""
    from vision.images import decode_image
    from vision.plate_config import PlateRecognitionConfig
    from vision.plate_recognizer import create_plate_recognizer

    if variant == "arena_off":
        _sessions_without_arena()
    if variant.startswith("mallopt4m"):
        libc = ctypes.CDLL("libc.so.6")
        if libc.mallopt(M_MMAP_THRESHOLD, 4 << 20) != 1:
            raise RuntimeError("mallopt(M_MMAP_THRESHOLD) refused")
        if variant.endswith("arena2") and libc.mallopt(M_ARENA_MAX, 2) != 1:
            raise RuntimeError("mallopt(M_ARENA_MAX) refused")
    if variant == "trim":
        threading.Thread(target=_trim_every, args=(2.0,), daemon=True).start()
    frames, note = _frames(data_dir, seed)
    recognizer = create_plate_recognizer(PlateRecognitionConfig())
    start_rss = _rss_mb()
    order = random.Random(seed + 1)
    latencies: list[float] = []
    curve: list[tuple[int, float]] = [(0, round(start_rss, 1))]
    lock = threading.Lock()
    done = 0

    def one(index: int) -> None:
        nonlocal done
        image = decode_image(frames[index], max_pixels=1 << 30)
        t0 = time.perf_counter()
        recognizer.read(image)
        elapsed = (time.perf_counter() - t0) * 1000
        with lock:
            latencies.append(elapsed)
            done += 1
            if done % every == 0:
                curve.append((done, round(_rss_mb(), 1)))
                if done % (every * 5) == 0:
                    logger.info("%s: %d reads, RSS %.1f MB", variant, done, curve[-1][1])

    began = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The worker threads persist, as asyncio's default executor's do; ``concurrent`` reads
    # in flight at once (api.max_concurrent_frames).
    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        list(pool.map(one, [order.randrange(len(frames)) for _ in range(reads)]))
    wall = time.perf_counter() - began
    used = resource.getrusage(resource.RUSAGE_SELF)
    warm = reads // 5
    half = [(n, r) for n, r in curve if n >= reads // 2]
    after_warm = next(r for n, r in curve if n >= warm)
    steady = latencies[warm:]
    return {
        "variant": variant, "frames": len(frames), "data": note, "reads": reads,
        "rss_start_mb": round(start_rss, 1), "rss_warm_mb": after_warm,
        "rss_end_mb": curve[-1][1], "rss_max_mb": max(r for _, r in curve),
        "slope_mb_per_1000_second_half": round(
            _slope([n for n, _ in half], [r for _, r in half]) * 1000, 2),
        "p50_ms": round(_percentile(steady, 0.5), 1), "p95_ms": round(_percentile(steady, 0.95), 1),
        "reads_per_s": round(reads / wall, 2),
        # CPU the process spent per read (all threads): unlike latency, barely moved by
        # other jobs on the machine, and page faults of fresh mappings show in sys time.
        "cpu_ms_per_read": round((used.ru_utime - usage.ru_utime + used.ru_stime
                                  - usage.ru_stime) * 1000 / reads, 1),
        "sys_ms_per_read": round((used.ru_stime - usage.ru_stime) * 1000 / reads, 1),
        "minor_faults_per_read": round((used.ru_minflt - usage.ru_minflt) / reads),
        "malloc": _mallinfo(),
        "curve": curve,
    }


def run_child(variant: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    env = {**os.environ, **VARIANTS[variant]}
    cmd = [sys.executable, "-m", "bench.reader_memory", str(args.data_dir), "--child", variant,
           "--reads", str(args.reads), "--every", str(args.every),
           "--concurrent", str(args.concurrent), "--seed", str(seed)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"variant {variant} failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default="default,mmap1m")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    if args.reads < 10 * args.every or args.every < 1:
        parser.error("--reads must be at least 10 samples (--every) long")
    if args.child:
        print(json.dumps(child(args.child, args.data_dir, args.reads, args.every,
                               args.concurrent, args.seed)))
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown or "default" not in variants:
        parser.error(f"--variants must include default and name only {sorted(VARIANTS)}")
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for round_no in range(args.rounds):
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            logger.info("round %d: %s", round_no + 1, variant)
            results[variant].append(run_child(variant, args, args.seed))
    base_p50 = statistics.median(r["p50_ms"] for r in results["default"])
    base_p95 = statistics.median(r["p95_ms"] for r in results["default"])
    print(f"{args.reads} reads per run, {args.concurrent} at once, {args.rounds} round(s); "
          f"{results['default'][0]['data']}")
    print(f"{'variant':<18} {'start':>7} {'warm':>7} {'end':>7} {'max':>7} {'MB/1k 2nd half':>14}"
          f" {'p50 ms':>7} {'p95 ms':>7} {'p50 ×':>6} {'p95 ×':>6} {'CPU ms':>6} {'sys ms':>6}"
          f" {'free kept':>9}")
    summary: dict[str, Any] = {}
    for variant, runs in results.items():
        for r in runs:
            print(f"{variant:<18} {r['rss_start_mb']:>7.1f} {r['rss_warm_mb']:>7.1f} "
                  f"{r['rss_end_mb']:>7.1f} {r['rss_max_mb']:>7.1f} "
                  f"{r['slope_mb_per_1000_second_half']:>+14.2f} {r['p50_ms']:>7.1f} "
                  f"{r['p95_ms']:>7.1f} {r['p50_ms'] / base_p50:>6.2f} "
                  f"{r['p95_ms'] / base_p95:>6.2f} {r['cpu_ms_per_read']:>6.1f} "
                  f"{r['sys_ms_per_read']:>6.1f} {r['malloc'].get('free_kept_mb', 0):>9.1f}")
        summary[variant] = {
            "p50_ratio": round(statistics.median(r["p50_ms"] for r in runs) / base_p50, 3),
            "p95_ratio": round(statistics.median(r["p95_ms"] for r in runs) / base_p95, 3),
            # The same round's default run as the base: a busy spell on the machine then
            # weighs on both sides of the ratio.
            "p50_ratio_by_round": [round(r["p50_ms"] / d["p50_ms"], 3)
                                   for r, d in zip(runs, results["default"], strict=True)],
            "p95_ratio_by_round": [round(r["p95_ms"] / d["p95_ms"], 3)
                                   for r, d in zip(runs, results["default"], strict=True)],
            "cpu_ratio_by_round": [round(r["cpu_ms_per_read"] / d["cpu_ms_per_read"], 3)
                                   for r, d in zip(runs, results["default"], strict=True)],
            "cpu_ms_per_read": [r["cpu_ms_per_read"] for r in runs],
            "sys_ms_per_read": [r["sys_ms_per_read"] for r in runs],
            "minor_faults_per_read": [r["minor_faults_per_read"] for r in runs],
            "rss_end_mb": [r["rss_end_mb"] for r in runs],
            "rss_max_mb": [r["rss_max_mb"] for r in runs],
            "slope_mb_per_1000": [r["slope_mb_per_1000_second_half"] for r in runs],
        }
    print(json.dumps({"reads": args.reads, "concurrent": args.concurrent, "rounds": args.rounds,
                      "summary": summary, "runs": results}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
