"""Weeks at the gates in half an hour: does the real controller grow with traffic or time?

    python -m bench.soak [--minutes 35] [--rate 2] [--database-url URL] [--sample-s 30]

A community's controller runs unattended for months, so nothing in it may grow without bound
with the passages, the stream clients that come and go, or the city broker's outages. This
runs the real thing, ``main.py serve`` as a process of its own on the demo community's gates
(a scratch data directory under /tmp, SQLite there unless ``--database-url`` names an empty
PostgreSQL database; simulated barriers with a quick arm), and keeps it busy from outside
through its API for ``--minutes`` (bench/soak_traffic.py): ``--rate`` cars a second at the
gates (resident cars in and out, visitors on a pass a guard registers, unknown cars a guard
resolves from the review queue), a guard's console following the event stream, stream
clients connecting and leaving every ``--churn-s``, a driver app polling availability, the
city feed on to a private Mosquitto the soak restarts every ``--broker-restart-s``, and a
listener there as the city hub.

Every ``--sample-s`` it records, from outside (bench/soak_probe.py): the process's RSS, open
files (sockets among them) and threads; from /metrics the event loop's asyncio tasks and
stalls and the city link's queue; on disk the database (and SQLite's WAL), the journals, the
snapshots and the log. The report gives each curve's first and last value and its growth per
hour and per 1,000 passages over the second half (the first minutes fill caches and pools).
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.gate_latency import percentile
from bench.soak_inprocess import linear_slope
from bench.soak_probe import disk_figures, process_figures, scrape_metrics
from bench.soak_traffic import (
    Booth,
    Broker,
    CityListener,
    Gates,
    Tally,
    availability_poll,
    new_plate,
    stream_churn,
)

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench.soak")

ADMIN, GUARD = "soak-admin", "soak-guard"
# The columns of a sample, in the report's table and its JSON: the ones a leak would show in.
CURVES = ("rss_mb", "open_files", "sockets", "threads", "loop_tasks", "database_mb", "wal_mb",
          "journal_files", "journal_kb", "snapshots_mb", "log_kb", "city_queued")


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    passages: int
    rss_mb: float
    open_files: int
    sockets: int
    threads: int
    loop_tasks: float | None
    loop_stalls: float | None
    city_connected: float | None
    city_queued: float | None
    bus_dropped: float | None
    database_mb: float
    wal_mb: float
    journal_files: int
    journal_kb: float
    snapshot_files: int
    snapshots_mb: float
    log_kb: float
    push_p50_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(scratch: Path, database_url: str, port: int, broker_port: int,
                 camera_key: str, metrics_token: str, prefix: str) -> Path:
    """The demo community's gates with quick simulated barriers, never-full zones (the soak is
    about time, not a full car park), soft anti-passback and the city feed on."""
    from settings import demo_community

    community = demo_community().model_dump(mode="json")
    for zone in community["zones"]:
        zone["capacity"] = 100_000
    for gate in community["gates"]:
        gate["barrier"] = {"driver": "sim", "opening_s": 0.05, "closing_s": 0.05,
                           "open_seconds": 0.1}
    config = {
        "data_dir": str(scratch / "data"),
        "database_url": database_url,
        "camera_api_keys": {"soak-cam": camera_key},
        "community": community,
        "access": {"anti_passback": "soft"},
        "api": {"port": port, "metrics_token": metrics_token},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker_port,
                 "topic_prefix": prefix, "reconnect_min_s": 1.0, "reconnect_max_s": 5.0},
    }
    path = scratch / "parkgate.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def main_py(config: Path, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), "--config", str(config), *args]


def create_user(config: Path, username: str, password: str, role: str) -> None:
    subprocess.run(main_py(config, "create-user", "--username", username, "--role", role,
                           "--password-stdin"),
                   input=password + "\n", text=True, check=True, cwd=ROOT,
                   capture_output=True)


def wait_up(base: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the controller exited with {process.returncode} at start")
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the controller did not answer /healthz")


def token(base: str, username: str, password: str) -> str:
    response = httpx.post(f"{base}/api/v1/auth/token",
                          data={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def register_residents(base: str, admin_token: str, count: int, seed: int
                       ) -> tuple[list[str], list[int]]:
    """``count`` resident cars in as many flats, through the import API as an office would."""
    import random

    rng = random.Random(seed)
    plates: list[str] = []
    taken: set[str] = set()
    rows = ["楼栋,房号,姓名,电话,车牌"]
    for i in range(count):
        plate = new_plate(rng, taken)
        plates.append(plate)
        rows.append(f"{i // 100 + 1}栋,{i % 100 + 101},住户{i},1380000{i:04d},{plate}")
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "text/csv"}
    response = httpx.post(f"{base}/api/v1/households/import",
                          params={"dry_run": "false", "file_name": "soak.csv"},
                          content="\n".join(rows).encode(), headers=headers, timeout=120)
    if response.status_code != 200:
        raise SystemExit(f"import answered {response.status_code}: {response.text[:300]}")
    households = httpx.get(f"{base}/api/v1/households", params={"limit": 1000},
                           headers=headers, timeout=30).json()
    return plates, [int(h["id"]) for h in households]


def run(args: argparse.Namespace) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="parkgate-soak-", dir="/tmp"))
    port, broker_port = args.port or free_port(), free_port()
    database_url = args.database_url or f"sqlite:///{scratch / 'data' / 'parkgate.db'}"
    camera_key, metrics_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    prefix = f"soak{os.getpid()}"
    passwords = {ADMIN: secrets.token_urlsafe(12), GUARD: secrets.token_urlsafe(12)}
    config = write_config(scratch, database_url, port, broker_port, camera_key, metrics_token,
                          prefix)
    log_file = scratch / "parkgate.log"
    base = f"http://127.0.0.1:{port}"
    broker = Broker(broker_port, str(scratch / "mosquitto.log"))
    tally = Tally()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    controller: subprocess.Popen[bytes] | None = None
    listener: CityListener | None = None
    gates: Gates | None = None
    samples: list[Sample] = []
    try:
        broker.start()
        create_user(config, ADMIN, passwords[ADMIN], "admin")
        create_user(config, GUARD, passwords[GUARD], "guard")
        with log_file.open("ab") as log:
            controller = subprocess.Popen(main_py(config, "serve"), cwd=ROOT, stdout=log,
                                          stderr=subprocess.STDOUT)
        wait_up(base, controller)
        logger.info("controller pid %d on %s, data in %s", controller.pid, base, scratch)
        residents, households = register_residents(
            base, token(base, ADMIN, passwords[ADMIN]), args.residents, args.seed)
        guard_token = token(base, GUARD, passwords[GUARD])
        gates = Gates(base, camera_key, guard_token, residents, households, tally, args.seed)
        booth = Booth(base, GUARD, passwords[GUARD], tally, stop, args.seed)
        booth.login()
        listener = CityListener(broker_port, prefix, tally)
        threads = [
            threading.Thread(target=booth.follow, name="booth-stream", daemon=True),
            threading.Thread(target=booth.work, name="booth", daemon=True),
            threading.Thread(target=stream_churn, name="churn", daemon=True, args=(
                base, guard_token, tally, stop, args.churn_s, args.seed)),
            threading.Thread(target=availability_poll, name="poll", daemon=True,
                             args=(base, tally, stop, args.poll_s)),
        ]
        if args.broker_restart_s > 0:
            threads.append(threading.Thread(target=broker.cycle, name="broker", daemon=True,
                                            args=(stop, args.broker_restart_s, 5.0)))
        for thread in threads:
            thread.start()
        samples = drive(args, gates, controller.pid, base, metrics_token, scratch / "data",
                        database_url, log_file, tally)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        if listener is not None:
            listener.close()
        if gates is not None:
            gates.close()
        exit_code = stop_controller(controller)
        broker.stop()
        if args.keep:
            logger.info("kept %s", scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return report(args, samples, tally, broker.restarts, exit_code)


def stop_controller(controller: subprocess.Popen[bytes] | None) -> int | None:
    """SIGTERM, as systemd stops it; its exit code (None if it had to be killed). uvicorn
    raises the signal again once its shutdown is complete, so -15 is a clean stop too."""
    if controller is None:
        return None
    controller.send_signal(signal.SIGTERM)
    try:
        return controller.wait(30)
    except subprocess.TimeoutExpired:
        controller.kill()
        controller.wait(10)
        return None


def drive(args: argparse.Namespace, gates: Gates, pid: int, base: str, metrics_token: str,
          data_dir: Path, database_url: str, log_file: Path, tally: Tally) -> list[Sample]:
    """Pushes cars at ``--rate`` and samples every ``--sample-s`` until ``--minutes``."""
    samples: list[Sample] = []
    started = time.monotonic()
    next_car, next_sample = started, started + args.sample_s
    with httpx.Client(base_url=base, timeout=30) as scraper:
        while (now := time.monotonic()) - started < args.minutes * 60:
            if now >= next_sample:
                samples.append(sample(pid, scraper, metrics_token, data_dir, database_url,
                                      log_file, tally, gates, now - started))
                next_sample += args.sample_s
                s = samples[-1]
                logger.info(
                    "%5.0f s: %d passages, RSS %.1f MB, %d files (%d sockets), %d threads, "
                    "%s tasks, db %.2f MB + WAL %.2f MB, journal %d files, snapshots %.1f MB, "
                    "log %.0f KB, city queued %s, push p50 %.0f ms",
                    s.at_s, s.passages, s.rss_mb, s.open_files, s.sockets, s.threads,
                    s.loop_tasks, s.database_mb, s.wal_mb, s.journal_files, s.snapshots_mb,
                    s.log_kb, s.city_queued, s.push_p50_ms)
            if now >= next_car:
                gates.push_one()
                next_car += 1 / args.rate
                if next_car < time.monotonic() - 5:  # fell behind (a slow moment): catch up
                    next_car = time.monotonic()  # from now, not in a burst
            time.sleep(max(0.0, min(next_car, next_sample) - time.monotonic()))
    return samples


def sample(pid: int, scraper: httpx.Client, metrics_token: str, data_dir: Path,
           database_url: str, log_file: Path, tally: Tally, gates: Gates, at_s: float
           ) -> Sample:
    proc = process_figures(pid)
    try:
        gauges = scrape_metrics(scraper, metrics_token)
    except httpx.HTTPError as err:
        tally.error(f"metrics: {err!r}")
        gauges = {}
    disk = disk_figures(data_dir, database_url, log_file)
    roundtrips, gates.roundtrips_ms = gates.roundtrips_ms, []
    return Sample(
        at_s=at_s, passages=tally.snapshot().get("passages", 0), rss_mb=proc.rss_mb,
        open_files=proc.open_files, sockets=proc.sockets, threads=proc.threads,
        loop_tasks=gauges.get("loop_tasks"), loop_stalls=gauges.get("loop_stalls"),
        city_connected=gauges.get("city_connected"), city_queued=gauges.get("city_queued"),
        bus_dropped=gauges.get("bus_dropped"), database_mb=disk.database_mb,
        wal_mb=disk.wal_mb, journal_files=disk.journal_files, journal_kb=disk.journal_kb,
        snapshot_files=disk.snapshot_files, snapshots_mb=disk.snapshots_mb,
        log_kb=disk.log_kb, push_p50_ms=percentile(roundtrips, 0.5),
    )


def curve(samples: list[Sample], name: str) -> dict[str, float | None]:
    """First and last value of one column; its slope per hour and per 1,000 passages over the
    second half (None where the controller did not report it)."""
    values = [getattr(s, name) for s in samples]
    if any(v is None for v in values):
        return {"first": None, "last": None, "per_hour": None, "per_1000_passages": None}
    settled = samples[len(samples) // 2:]
    ys = [float(getattr(s, name)) for s in settled]
    return {
        "first": round(float(values[0]), 2),
        "last": round(float(values[-1]), 2),
        "max": round(max(float(v) for v in values), 2),
        "per_hour": round(linear_slope([s.at_s / 3600 for s in settled], ys), 3),
        "per_1000_passages": round(
            linear_slope([float(s.passages) for s in settled], ys) * 1000, 3),
    }


def report(args: argparse.Namespace, samples: list[Sample], tally: Tally, broker_restarts: int,
           exit_code: int | None) -> dict[str, Any]:
    if len(samples) < 4:
        raise SystemExit("too short for a trend: run for at least four sampling periods")
    columns = ("at_s", "passages", *CURVES, "push_p50_ms")
    print("  ".join(f"{c:>13}" for c in columns))
    for s in samples:
        row = asdict(s)
        print("  ".join(f"{'-' if row[c] is None else round(row[c], 2):>13}" for c in columns))
    counts = tally.snapshot()
    curves = {name: curve(samples, name) for name in CURVES}
    hours = samples[-1].at_s / 3600
    log_kb = samples[-1].log_kb
    result = {
        "minutes": args.minutes,
        "rate_per_s": args.rate,
        "database": "sqlite" if not args.database_url else "postgresql",
        "passages": samples[-1].passages,
        "samples": len(samples),
        "curves": curves,
        "log_kb_per_hour": round(log_kb / hours, 1) if hours else None,
        "log_kb_per_1000_passages": round(log_kb / max(1, samples[-1].passages) * 1000, 1),
        "loop_stalls": samples[-1].loop_stalls,
        "bus_dropped": samples[-1].bus_dropped,
        "push_p50_ms_first": round(samples[0].push_p50_ms, 1),
        "push_p50_ms_last": round(samples[-1].push_p50_ms, 1),
        "broker_restarts": broker_restarts,
        "counts": counts,
        "client_errors": tally.errors[:10],
        "controller_exit_code": exit_code,
        "controller_stopped_cleanly": exit_code in (0, -signal.SIGTERM),
    }
    for name, c in curves.items():
        print(f"{name:>14}: {c['first']} → {c['last']} (max {c.get('max')}), second half "
              f"{c['per_hour']}/h, {c['per_1000_passages']} per 1000 passages")
    print(f"log {log_kb:.0f} KB ({result['log_kb_per_hour']} KB/h); {counts}")
    for line in tally.errors[:10]:
        print(f"  client error: {line}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=35.0, help="how long traffic runs")
    parser.add_argument("--rate", type=float, default=2.0, help="cars pushed per second")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite "
                        "in the scratch directory); the soak leaves its tables there")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--residents", type=int, default=300, help="registered resident cars")
    parser.add_argument("--churn-s", type=float, default=2.0,
                        help="seconds between stream clients that connect and leave")
    parser.add_argument("--poll-s", type=float, default=1.0,
                        help="seconds between availability polls")
    parser.add_argument("--broker-restart-s", type=float, default=300.0,
                        help="stop the private broker for 5 s this often (0: never)")
    parser.add_argument("--port", type=int, default=0, help="controller port (default free)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.sample_s <= 0 or args.residents < 2:
        parser.error("--minutes, --rate and --sample-s must be positive, --residents ≥ 2")
    if shutil.which("mosquitto") is None:
        parser.error("needs mosquitto on PATH (a private broker on a free port)")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
