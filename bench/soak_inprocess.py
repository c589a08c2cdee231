"""Hours at the gates in minutes: does anything grow, slow down or stall as passages pile up?

    python -m bench.soak_inprocess [--minutes 5] [--cars 60] [--sample-s 15] [--tracemalloc]

A controller runs for months. This runs the whole app in-process (``build_services`` with the
demo community on a temporary SQLite file, a real uvicorn server on a free localhost port,
simulated barriers with a quick arm) and keeps it busy: ``--cars`` registered resident cars
drive in at ``main-in`` and out at ``main-out``, one after another, with an unregistered car
every tenth time, each as a drawn gate-camera frame (vision.plate_render, no real photos)
pushed to the frame endpoint. Meanwhile a guard's console follows the event stream and a
driver app the availability stream, as in a guard booth.

Every ``--sample-s`` it records the process's memory (RSS), open files, threads, the event
loop's lag and stalls (services/loop_watch.py), passages and the push round trip. The first
window is the baseline the last is compared with, in the same run: a controller that leaks
shows RSS growing with the passages, one that slows shows the last window's round trip above
the first's. Progress goes to stderr; the last stdout line is one JSON object.

In-process, so ``--tracemalloc`` can say where Python memory grew; ``bench.soak`` runs the
real controller as its own process with the whole booth around it (visitors, reviews, stream
clients coming and going, the city feed and its broker restarted).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx

from bench.gate_latency import CAMERA_KEY, fast_gate_settings, percentile, start_server

logger = logging.getLogger("bench.soak_inprocess")

ENTRY, EXIT = "main-in", "main-out"
UNKNOWN_EVERY = 10  # every tenth car is one nobody registered (a review or a refusal)


@dataclass
class Window:
    """One sampling period's figures."""

    at_s: float
    passages: int
    rss_mb: float
    open_files: int
    threads: int
    lag_ms: float
    stalls: int
    roundtrip_p50_ms: float
    stream_events: int


@dataclass
class Streams:
    """Counts what the console's and the app's streams received (threads of their own)."""

    events: int = 0
    availability: int = 0
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def follow(self, url: str, headers: dict[str, str], counter: str) -> None:
        while not self.stop.is_set():
            try:
                # A read time-out, so a stop is seen within it while the stream is quiet.
                with httpx.Client(timeout=httpx.Timeout(10, read=2)) as client, \
                        client.stream("GET", url, headers=headers) as response:
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if self.stop.is_set():
                            return
                        if line.startswith("data:"):
                            with self.lock:
                                setattr(self, counter, getattr(self, counter) + 1)
            except httpx.ReadTimeout:
                continue  # quiet for a moment: follow it again, as a browser would
            except httpx.HTTPError as err:
                if self.stop.is_set():
                    return
                self.errors.append(f"{counter}: {err}")
                time.sleep(0.5)


class ErrorCount(logging.Handler):
    """Counts ERROR records anywhere in the app: a soak that logs errors is not clean."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.name}: {record.getMessage()[:200]}")


def process_figures() -> tuple[float, int, int]:
    """(RSS in MB, open file descriptors, threads) of this process, from /proc."""
    rss_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir("/proc/self/fd")), threading.active_count()


def draw_frames(plates: list[str], seed: int) -> dict[str, bytes]:
    """One JPEG gate-camera frame per plate (the car at the barrier)."""
    from vision.plate_render import render_gate_scene, render_plate

    rng = random.Random(seed)
    frames = {}
    for plate in plates:
        scene = render_gate_scene(render_plate(plate), rng, approach=1.0)
        ok, jpeg = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise SystemExit(f"could not encode a frame of {plate}")
        frames[plate] = jpeg.tobytes()
    return frames


def add_guard(services: Any) -> str:
    """A guard account in the database, as the console's event stream checks, and its token."""
    import secrets

    from models.db import transaction
    from services.users import create_user

    with transaction(services.sessions) as session:
        create_user(session, "soak-guard", secrets.token_urlsafe(16), "guard")
    return str(services.signer.issue("soak-guard", "guard"))


def distinct_plates(count: int, rng: random.Random) -> list[str]:
    from vision.plate_render import random_plate

    plates: set[str] = set()
    while len(plates) < count:
        plates.add(random_plate(rng, "new_energy" if rng.random() < 0.3 else "ordinary"))
    return sorted(plates)


def linear_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct xs)."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def run(minutes: float, cars: int, sample_s: float, seed: int, *, trace: bool = False
        ) -> dict[str, Any]:
    from api.app import create_app
    from bench.gate_latency import register_residents
    from services.container import build_services
    from settings import demo_community
    from vision.plate_recognizer import create_plate_recognizer

    rng = random.Random(seed)
    residents = distinct_plates(cars, rng)
    strangers = distinct_plates(cars // UNKNOWN_EVERY + 1, random.Random(seed + 1))
    strangers = [p for p in strangers if p not in set(residents)]
    frames = draw_frames(residents + strangers, seed)
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    streams = Streams()
    with tempfile.TemporaryDirectory(prefix="parkgate-soak-", ignore_cleanup_errors=True) as tmp:
        community = demo_community().model_dump()
        for zone in community["zones"]:
            zone["capacity"] = 100_000  # the soak is about time, not a full car park
        settings = fast_gate_settings(Path(tmp), community)
        services = build_services(settings, recognizer=create_plate_recognizer(settings.plates))
        register_residents(services, set(residents))
        server, thread, port = start_server(create_app(services))
        base = f"http://127.0.0.1:{port}"
        token = add_guard(services)
        followers = [
            threading.Thread(target=streams.follow, daemon=True, args=(
                f"{base}/api/v1/events/stream", {"Authorization": f"Bearer {token}"},
                "events")),
            threading.Thread(target=streams.follow, daemon=True, args=(
                f"{base}/api/v1/availability/stream", {}, "availability")),
        ]
        for follower in followers:
            follower.start()
        windows: list[Window] = []
        roundtrips: list[float] = []
        passages = pushes = 0
        started = time.monotonic()
        next_sample = started + sample_s
        inside: set[str] = set()
        order: Iterator[str] = iter(())
        settled_snapshot: tracemalloc.Snapshot | None = None
        try:
            with httpx.Client(base_url=base, timeout=60,
                              headers={"X-API-Key": CAMERA_KEY}) as client:
                while time.monotonic() - started < minutes * 60:
                    plate = next(order, None)
                    if plate is None:
                        order = iter(rng.sample(residents, len(residents)))
                        continue
                    pushes += 1
                    if pushes % UNKNOWN_EVERY == 0:
                        plate, gate = rng.choice(strangers), ENTRY
                    else:
                        gate = EXIT if plate in inside else ENTRY
                    t0 = time.perf_counter()
                    response = client.post(f"/api/v1/gates/{gate}/frames",
                                           content=frames[plate],
                                           headers={"Content-Type": "image/jpeg"})
                    roundtrips.append((time.perf_counter() - t0) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"push answered {response.status_code}: "
                                         f"{response.text[:200]}")
                    result = response.json()
                    passages += result["passage_id"] is not None
                    if result["decision"] == "allow" and result["plate"] == plate:
                        (inside.discard if gate == EXIT else inside.add)(plate)
                    if time.monotonic() >= next_sample:
                        windows.append(sample(services, started, passages, roundtrips,
                                              streams))
                        roundtrips = []
                        next_sample += sample_s
                        if trace and len(windows) == 2:
                            settled_snapshot = tracemalloc.take_snapshot()
                        w = windows[-1]
                        logger.info(
                            "%5.0f s: %d passages, RSS %.1f MB, %d files, %d threads, lag "
                            "%.1f ms, %d stalls, push p50 %.0f ms, %d events streamed",
                            w.at_s, w.passages, w.rss_mb, w.open_files, w.threads, w.lag_ms,
                            w.stalls, w.roundtrip_p50_ms, w.stream_events)
            if settled_snapshot is not None:
                print_growth(settled_snapshot, tracemalloc.take_snapshot())
        finally:
            streams.stop.set()
            for follower in followers:
                follower.join(10)
            server.should_exit = True
            thread.join(30)
            services.engine.dispose()
            logging.getLogger().removeHandler(errors)
    return report(windows, passages, minutes, streams, errors)


def print_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> None:
    """Where the memory allocated since the second window went, the ten largest places: what
    keeps growing there is the leak, if there is one."""
    ignore = (tracemalloc.Filter(False, tracemalloc.__file__),
              tracemalloc.Filter(False, "<frozen importlib._bootstrap>"))
    stats = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    print("Python allocations grown since the second window (tracemalloc):")
    for stat in stats[:10]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
              f"{frame.filename}:{frame.lineno}")


def sample(services: Any, started: float, passages: int, roundtrips: list[float],
           streams: Streams) -> Window:
    rss, files, threads = process_figures()
    loop = services.loop_watch.health()
    with streams.lock:
        streamed = streams.events + streams.availability
    return Window(
        at_s=time.monotonic() - started, passages=passages, rss_mb=rss, open_files=files,
        threads=threads, lag_ms=loop.lag_s * 1000, stalls=loop.stalls,
        roundtrip_p50_ms=percentile(roundtrips, 0.5), stream_events=streamed,
    )


def report(windows: list[Window], passages: int, minutes: float, streams: Streams,
           errors: ErrorCount) -> dict[str, Any]:
    if len(windows) < 3:
        raise SystemExit("too short for a trend: run for at least three sampling periods")
    first, last = windows[0], windows[-1]
    # The second half: the recogniser's buffers, SQLite's page cache and the allocator's
    # arenas fill during the first minutes and then stay; what still grows there is a leak.
    settled = windows[len(windows) // 2:]
    slope = linear_slope([w.passages for w in settled], [w.rss_mb for w in settled])
    rows = [("seconds", "passages", "RSS MB", "files", "threads", "lag ms", "stalls",
             "push p50 ms")]
    rows += [(f"{w.at_s:.0f}", str(w.passages), f"{w.rss_mb:.1f}", str(w.open_files),
              str(w.threads), f"{w.lag_ms:.1f}", str(w.stalls), f"{w.roundtrip_p50_ms:.0f}")
             for w in windows]
    for row in rows:
        print("  ".join(f"{cell:>11}" for cell in row))
    result = {
        "minutes": minutes,
        "passages": passages,
        "windows": len(windows),
        "rss_first_mb": round(first.rss_mb, 1),
        "rss_last_mb": round(last.rss_mb, 1),
        "rss_growth_mb_per_1000_passages_second_half": round(slope * 1000, 2),
        "open_files_first": first.open_files,
        "open_files_last": last.open_files,
        "threads_first": first.threads,
        "threads_last": last.threads,
        "push_p50_ms_first": round(first.roundtrip_p50_ms, 1),
        "push_p50_ms_last": round(last.roundtrip_p50_ms, 1),
        "push_p50_ratio_last_to_first": round(last.roundtrip_p50_ms / first.roundtrip_p50_ms, 3),
        "loop_stalls": last.stalls,
        "loop_lag_ms_max_sampled": round(max(w.lag_ms for w in windows), 1),
        "events_streamed": {"console": streams.events, "availability": streams.availability},
        "stream_errors": len(streams.errors),
        "errors_logged": errors.count,
    }
    print(f"memory: {slope * 1000:+.2f} MB per 1000 passages over the second half "
          f"({first.rss_mb:.1f} → {last.rss_mb:.1f} MB); push p50 last/first "
          f"{result['push_p50_ratio_last_to_first']:.2f}; loop stalls {last.stalls}; "
          f"errors logged {errors.count}")
    for line in errors.first + streams.errors[:5]:
        print(f"  {line}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak_inprocess",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--cars", type=int, default=60, help="registered resident cars")
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also list where Python memory grew after the second window "
                             "(slower: every allocation is traced)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.cars < 2 or args.sample_s <= 0:
        parser.error("--minutes and --sample-s must be positive and --cars at least 2")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "services", "controllers", "hardware", "vision", "api", "models",
                  "alembic", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.tracemalloc:
        tracemalloc.start(1)
    result = run(args.minutes, args.cars, args.sample_s, args.seed, trace=args.tracemalloc)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
