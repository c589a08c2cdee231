"""Frame arrival → barrier command latency of the push endpoint, on real photos.

    python -m bench.gate_latency [DATA_DIR] [--limit N]

The whole app runs in-process on a temporary SQLite database: ``build_services``, a real
uvicorn server on a free localhost port (in a thread), the simulated barrier with fast arm
travel and a short auto-close so it is shut again before the next car. The labelled plates of
DATA_DIR/labels.csv (``kind=full``; default ../shared/data/plates) are registered as resident
vehicles, then each photo is pushed with httpx to ``POST /api/v1/gates/main-in/frames``.

What is measured, per photo whose plate opened the barrier:

* **arrival → command**: from the moment the request reaches the ASGI app (a wrapper stamps
  ``perf_counter``) to the moment the barrier driver is told to energise its open relay (the
  simulated motor's ``set_output`` is wrapped). This includes reading the body, decoding,
  recognising, the snapshot write, the decision, the passage commit and the barrier call;
* the endpoint's own ``timings_ms`` breakdown (decode, recognize, snapshot,
  decide_record_barrier) and the client round trip;
* as a baseline in the same run, the recogniser alone on the same decoded images, so the
  overhead of everything around recognition is reported as a ratio.

Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "plates"
GATE = "main-in"
CAMERA_KEY = "bench-camera-key-0123456789abcdef"

logger = logging.getLogger("bench.gate_latency")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Photo:
    path: Path
    plate: str


@dataclass
class Clock:
    """Timestamps shared between the server thread and the benchmark (perf_counter)."""

    arrivals: dict[str, float] = field(default_factory=dict)
    commands: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_photos(data_dir: Path, limit: int | None) -> list[Photo]:
    labels = data_dir / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"{labels} not found: pass the folder holding labels.csv")
    with labels.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("kind", "full") == "full"]
    photos = [Photo(data_dir / r["file"], r["plate"]) for r in rows]
    return photos[:limit] if limit else photos


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stamp_arrivals(app: ASGIApp, clock: Clock) -> ASGIApp:
    """ASGI wrapper: note when each benchmark request reaches the application."""

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            now = time.perf_counter()
            for name, value in scope.get("headers", []):
                if name == b"x-bench-id":
                    with clock.lock:
                        clock.arrivals[value.decode()] = now
        await app(scope, receive, send)

    return wrapped


def stamp_barrier_commands(services: Any, clock: Clock) -> None:
    """Wrap the simulated motor: note when the open relay is commanded."""
    barrier = services.barriers[GATE]
    motor = barrier.motor
    original = motor.set_output
    open_channel = motor.wiring.open_channel

    async def set_output(channel: int, on: bool) -> None:
        if on and channel == open_channel:
            with clock.lock:
                clock.commands.append(time.perf_counter())
        await original(channel, on)

    motor.set_output = set_output


def build_settings(data_dir: Path) -> Any:
    from settings import demo_community

    community = demo_community().model_dump()
    for zone in community["zones"]:
        zone["capacity"] = 100_000  # never full: measure the resident path, not the quota
    return fast_gate_settings(data_dir, community)


def fast_gate_settings(data_dir: Path, community: dict[str, Any]) -> Any:
    """``community`` on a SQLite file in ``data_dir``, every barrier simulated and quick, the
    bench's camera key, no anti-passback: what a gate bench measures is the gate's own path."""
    from settings import load_settings

    for gate in community["gates"]:
        # Fast arm and a short auto-close so the barrier is shut again before the next car.
        gate["barrier"] = {"driver": "sim", "opening_s": 0.05, "closing_s": 0.05,
                           "open_seconds": 0.1}
    return load_settings(
        None,
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'bench.db'}",
        camera_api_keys={"bench": CAMERA_KEY},
        community=community,
        access={"anti_passback": "off"},
    )


def register_residents(services: Any, plates: set[str]) -> None:
    from models.db import transaction
    from models.people import Household
    from models.vehicles import Vehicle

    with transaction(services.sessions) as session:
        for i, plate in enumerate(sorted(plates)):
            household = Household(building=f"{i // 100 + 1}栋", unit=f"{i % 100 + 101}")
            session.add(household)
            session.flush()
            session.add(Vehicle(plate=plate, household_id=household.id))
    logger.info("registered %d resident vehicles", len(plates))


def recognise_alone(recognizer: Any, body: bytes) -> float:
    """Milliseconds of the recogniser alone on the decoded image (decoding not timed)."""
    from vision.images import decode_image

    image = decode_image(body)
    t0 = time.perf_counter()
    recognizer.read(image)
    return (time.perf_counter() - t0) * 1000


def start_server(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.02)
    return server, thread, port


def wait_closed(barrier: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while str(barrier.state) != "closed" and time.monotonic() < deadline:
        time.sleep(0.01)


def run(data_dir: Path, limit: int | None) -> dict[str, Any]:
    from api.app import create_app
    from services.container import build_services
    from vision.plate_recognizer import create_plate_recognizer

    photos = load_photos(data_dir, limit)
    if len(photos) < 2:
        raise SystemExit("need at least two photos (one is the warm-up)")
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="parkgate-bench-") as tmp:
        settings = build_settings(Path(tmp))
        recognizer = create_plate_recognizer(settings.plates)
        services = build_services(settings, recognizer=recognizer)
        register_residents(services, {p.plate for p in photos})
        stamp_barrier_commands(services, clock)
        server, thread, port = start_server(stamp_arrivals(create_app(services), clock))
        barrier = services.barriers[GATE]
        url = f"http://127.0.0.1:{port}/api/v1/gates/{GATE}/frames"
        latencies: list[float] = []
        # The baseline runs right before each push, so both see the same machine load.
        recognize_ms: list[float] = []
        recognize_opened_ms: list[float] = []
        roundtrips: list[float] = []
        parts: dict[str, list[float]] = {}
        # Body read, routing, decision and the passage commit up to the relay command: the
        # arrival→command time minus the endpoint's decode, recognise and snapshot stages.
        rest: list[float] = []
        exact = 0
        try:
            with httpx.Client(timeout=60, headers={"X-API-Key": CAMERA_KEY}) as client:
                for i, photo in enumerate(photos):
                    body = photo.path.read_bytes()
                    alone = recognise_alone(recognizer, body)
                    bench_id = str(i)
                    with clock.lock:
                        commands_before = len(clock.commands)
                    t0 = time.perf_counter()
                    response = client.post(url, content=body, headers={
                        "Content-Type": "image/jpeg", "X-Bench-Id": bench_id})
                    roundtrip = (time.perf_counter() - t0) * 1000
                    response.raise_for_status()
                    result = response.json()
                    with clock.lock:
                        arrived = clock.arrivals.pop(bench_id)
                        new_commands = clock.commands[commands_before:]
                    if i == 0:
                        wait_closed(barrier)
                        continue  # warm-up: first-request costs are not steady state
                    exact += result["plate"] == photo.plate
                    recognize_ms.append(alone)
                    if result["decision"] == "allow" and new_commands:
                        latencies.append((new_commands[0] - arrived) * 1000)
                        recognize_opened_ms.append(alone)
                        roundtrips.append(roundtrip)
                        timings = result["timings_ms"]
                        for name, ms in timings.items():
                            parts.setdefault(name, []).append(float(ms))
                        rest.append(latencies[-1] - sum(
                            float(timings.get(k, 0.0)) for k in ("decode", "recognize", "snapshot")
                        ))
                        wait_closed(barrier)
                    if i % 10 == 0:
                        logger.info("%d/%d photos pushed, %d opened the barrier",
                                    i, len(photos) - 1, len(latencies))
        finally:
            server.should_exit = True
            thread.join(30)
            services.engine.dispose()
    measured = photos[1:]
    recognize_p50 = percentile(recognize_opened_ms, 0.5)
    p50 = percentile(latencies, 0.5)
    return {
        "n": len(latencies),
        "photos": len(measured),
        "read_exact": exact,
        "p50_ms": round(p50, 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "recognize_p50_ms": round(recognize_p50, 1),
        "recognize_p95_ms": round(percentile(recognize_opened_ms, 0.95), 1),
        "recognize_all_photos_p50_ms": round(percentile(recognize_ms, 0.5), 1),
        "overhead_ratio": round(p50 / recognize_p50, 3) if latencies else None,
        "breakdown_p50_ms": {k: round(percentile(v, 0.5), 2) for k, v in parts.items()},
        "breakdown_p95_ms": {k: round(percentile(v, 0.95), 2) for k, v in parts.items()},
        "rest_to_command_p50_ms": round(percentile(rest, 0.5), 2),
        "rest_to_command_p95_ms": round(percentile(rest, 0.95), 2),
        "client_roundtrip_p50_ms": round(percentile(roundtrips, 0.5), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None, help="Use the first N photos.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per passage would drown the progress lines.
    for noisy in ("controllers.runtime", "hardware", "alembic", "models.db", "uvicorn.error",
                  "services", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    report = run(args.data_dir, args.limit)
    logger.info(
        "arrival→barrier command p50 %.1f ms, p95 %.1f ms over %d cars; recogniser alone "
        "p50 %.1f ms; overhead ×%s; endpoint breakdown p50 %s; decide+record up to the "
        "command p50 %.1f ms",
        report["p50_ms"], report["p95_ms"], report["n"], report["recognize_p50_ms"],
        report["overhead_ratio"], report["breakdown_p50_ms"], report["rest_to_command_p50_ms"],
    )
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
