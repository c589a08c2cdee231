"""Bench the public availability endpoint against a bare Starlette JSON endpoint.

    python -m bench.availability [--seconds 10] [--rate 1000] [--concurrency 32]

Starts, each in its own subprocess on 127.0.0.1:

- **parkgate** as shipped (``main.py serve``, SQLite in a temporary directory, the demo
  community, uvicorn with one worker), with the per-IP rate limit raised so the single load
  client is not throttled (the limiter itself still runs on every request);
- **bare**: a Starlette app whose one route returns a constant JSON body of the same shape,
  under the same uvicorn settings — the floor any Python endpoint can reach here;
- **the load client**: asyncio, raw keep-alive HTTP/1.1 sockets, bounded by count and time.

Two phases per server, one server at a time so they never compete for the CPU:

1. *open loop* at ``--rate`` for ``--seconds``: requests are scheduled at fixed times and a
   request's latency is measured from its **scheduled** time, so a server that falls behind
   shows it in p99 instead of silently slowing the client (no coordinated omission);
2. *closed loop* saturation for ``--saturate-seconds``: every connection sends back to back;
   the requests per second it reaches is the capacity.

``--pin`` puts the servers on CPU 0 and the client on CPU 1 (for a quiet machine). Progress
goes to stderr; the last stdout line is one JSON object, with the 1-minute load average at
the start so a noisy run can be recognised.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger("bench.availability")

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/availability"
TARGET_RATIO = 0.8
TARGET_P99_MS = 20.0

# Same shape and size as the demo community's availability.
BARE_BODY: dict[str, Any] = {
    "zones": [
        {"id": "A", "name": "A区地面", "capacity": 40, "occupied": 0, "free": 40,
         "updated_at": "2026-11-28T10:00:00.123456Z"},
        {"id": "B", "name": "B区地下", "capacity": 20, "occupied": 0, "free": 20,
         "updated_at": "2026-11-28T10:00:00.123456Z"},
    ],
    "total_capacity": 60,
    "total_free": 60,
    "updated_at": "2026-11-28T10:00:00.123456Z",
}


# ---- the bare server --------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def availability(_: Request) -> JSONResponse:
        return JSONResponse(BARE_BODY)

    app = Starlette(routes=[Route(PATH, availability)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---- the load client --------------------------------------------------------------------------


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


async def _open(port: int) -> _Conn:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return _Conn(reader, writer)


async def load(
    port: int, path: str, *, rate: float, seconds: float, concurrency: int, closed: bool
) -> dict[str, Any]:
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
    total = int(rate * seconds) if not closed else 10**9
    conns = [await _open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    next_slot = 0
    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    start = clock() + 0.05
    deadline = start + seconds
    interval = 1.0 / rate

    async def worker(conn: _Conn) -> None:
        nonlocal next_slot, errors
        while True:
            slot = next_slot
            next_slot += 1
            if slot >= total:
                return
            scheduled = start + slot * interval if not closed else clock()
            if scheduled >= deadline:
                return
            delay = scheduled - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                status = await asyncio.wait_for(conn.request(raw), 5.0)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                with contextlib.suppress(OSError):
                    conn.writer.close()
                conn = await _open(port)
                continue
            latencies.append(clock() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1

    began = clock()
    await asyncio.wait_for(
        asyncio.gather(*(worker(c) for c in conns)), seconds + 10
    )
    elapsed = max(clock() - max(began, start), 1e-9)
    for conn in conns:
        conn.writer.close()
    return {
        "mode": "closed" if closed else "open",
        "seconds": elapsed,
        "errors": errors,
        "statuses": {str(k): v for k, v in statuses.items()},
        "latencies_us": [round(x * 1e6) for x in latencies],
    }


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads were ready to run but waited for a CPU (Linux)."""
    total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def summarize(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge the rounds of one server and phase into throughput and latency percentiles."""
    ordered = sorted(x for p in parts for x in p["latencies_us"])
    elapsed = sum(p["seconds"] for p in parts)
    statuses: dict[str, int] = {}
    for p in parts:
        for k, v in p["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v

    def pct(q: float) -> float:
        if not ordered:
            return float("nan")
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 3)

    return {
        "mode": parts[0]["mode"],
        "rounds": len(parts),
        "requests": len(ordered),
        "errors": sum(p["errors"] for p in parts),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(elapsed, 3),
        "throughput_rps": round(len(ordered) / max(elapsed, 1e-9), 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": round(ordered[-1] / 1000, 3) if ordered else float("nan"),
        "mean_ms": round(statistics.fmean(ordered) / 1000, 3) if ordered else float("nan"),
        # Time the server was ready but had no CPU: other load on the machine, not the code.
        "server_runqueue_wait_ms": round(sum(p.get("runqueue_wait_s", 0.0) for p in parts) * 1000),
    }


def run_load_subprocess(
    port: int, *, rate: float, seconds: float, concurrency: int, closed: bool
) -> dict[str, Any]:
    cmd = [
        sys.executable, "-m", "bench.availability", "--_load", str(port),
        "--rate", str(rate), "--seconds", str(seconds), "--concurrency", str(concurrency),
    ]
    if closed:
        cmd.append("--_closed")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    _pin(proc.pid, 1)
    out, _ = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed with exit code {proc.returncode}")
    return dict(json.loads(out.strip().splitlines()[-1]))


# ---- orchestration ----------------------------------------------------------------------------


PIN = False  # --pin sets it


def _pin(pid: int, cpu: int) -> None:
    # Servers on CPU 0, client on CPU 1: neither steals the other's time slices.
    if PIN and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=1).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not become ready in {timeout:.0f} s")


@contextlib.contextmanager
def servers(data_dir: Path) -> Iterator[tuple[dict[str, int], dict[str, int]]]:
    ports = {"bare": _free_port(), "parkgate": _free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARKGATE_")}
    env.update({
        "PARKGATE_DATA_DIR": str(data_dir),
        # One load client = one IP: raise its bucket so the benchmark measures serving, while
        # the limiter still runs on every request.
        "PARKGATE_PARKING__RATE_LIMIT__RATE_PER_S": "1000000",
        "PARKGATE_PARKING__RATE_LIMIT__BURST": "1000000",
    })
    procs = {
        "bare": subprocess.Popen(
            [sys.executable, "-m", "bench.availability", "--_bare", str(ports["bare"])],
            cwd=ROOT, env=env,
        ),
        "parkgate": subprocess.Popen(
            [sys.executable, "main.py", "--log-level", "WARNING", "serve",
             "--port", str(ports["parkgate"])],
            cwd=ROOT, env=env,
        ),
    }
    try:
        for name, proc in procs.items():
            _pin(proc.pid, 0)
            _wait_ready(ports[name], proc)
            logger.info("%s ready on port %d", name, ports[name])
        yield ports, {name: proc.pid for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "rate": args.rate, "seconds": args.seconds, "concurrency": args.concurrency,
        "cpus": os.cpu_count(), "path": PATH, "pinned": PIN,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    rounds = max(1, round(args.seconds / args.round_seconds))
    per_round = args.seconds / rounds
    sat_rounds = max(1, round(args.saturate_seconds / args.round_seconds))
    parts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    names = ("bare", "parkgate")
    with (
        tempfile.TemporaryDirectory(prefix="parkgate-bench-") as tmp,
        servers(Path(tmp)) as (ports, pids),
    ):
        for name in names:  # warm-up: connections, caches, lazy imports
            run_load_subprocess(ports[name], rate=args.rate, seconds=1.0,
                                concurrency=args.concurrency, closed=False)
        # Rounds alternate between the servers (and which goes first), so a noisy neighbour on
        # a shared machine hits both alike instead of spoiling one server's whole run.
        for phase, n, seconds, closed in (
            ("at_rate", rounds, per_round, False),
            ("saturated", sat_rounds, args.saturate_seconds / sat_rounds, True),
        ):
            for i in range(n):
                for name in names if i % 2 == 0 else names[::-1]:
                    waited = runqueue_wait_s(pids[name])
                    part = run_load_subprocess(
                        ports[name], rate=args.rate, seconds=seconds,
                        concurrency=args.concurrency, closed=closed,
                    )
                    part["runqueue_wait_s"] = runqueue_wait_s(pids[name]) - waited
                    parts.setdefault((name, phase), []).append(part)
    for name in names:
        results[name] = {phase: summarize(parts[name, phase]) for phase in ("at_rate", "saturated")}
        at_rate, saturated = results[name]["at_rate"], results[name]["saturated"]
        logger.info(
            "%-8s at %g req/s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors; "
            "saturated: %.0f req/s", name, args.rate, at_rate["throughput_rps"],
            at_rate["p50_ms"], at_rate["p99_ms"], at_rate["errors"],
            saturated["throughput_rps"],
        )
    bare, pg = results["bare"], results["parkgate"]
    ratio = pg["at_rate"]["throughput_rps"] / max(bare["at_rate"]["throughput_rps"], 1e-9)
    capacity = pg["saturated"]["throughput_rps"] / max(bare["saturated"]["throughput_rps"], 1e-9)
    results["ratio_at_rate"] = round(ratio, 3)
    results["ratio_saturated"] = round(capacity, 3)
    results["targets"] = {
        "throughput_ratio_ge_0_8": ratio >= TARGET_RATIO,
        "p99_le_20ms": pg["at_rate"]["p99_ms"] <= TARGET_P99_MS,
        "no_errors": pg["at_rate"]["errors"] == 0 and pg["at_rate"]["statuses"] == {
            "200": pg["at_rate"]["requests"]
        },
    }
    return results


def _table(results: dict[str, Any]) -> str:
    lines = [f"{'server':<9} {'mode':<7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'p99.9 ms':>9} {'errors':>6} {'cpu-wait ms':>11}"]
    for name in ("bare", "parkgate"):
        for phase in ("at_rate", "saturated"):
            r = results[name][phase]
            lines.append(
                f"{name:<9} {r['mode']:<7} {r['throughput_rps']:>9.0f} {r['p50_ms']:>8.2f} "
                f"{r['p99_ms']:>8.2f} {r['p999_ms']:>9.2f} {r['errors']:>6} "
                f"{r['server_runqueue_wait_ms']:>11}"
            )
    lines.append(
        f"parkgate/bare throughput at {results['rate']:g} req/s: {results['ratio_at_rate']:.3f}; "
        f"saturated capacity: {results['ratio_saturated']:.3f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Open-loop phase length.")
    parser.add_argument("--rate", type=float, default=1000.0, help="Target requests/second.")
    parser.add_argument("--concurrency", type=int, default=32, help="Keep-alive connections.")
    parser.add_argument("--saturate-seconds", type=float, default=3.0,
                        help="Closed-loop capacity phase length.")
    parser.add_argument("--round-seconds", type=float, default=2.0,
                        help="Length of one round; rounds alternate between the servers.")
    parser.add_argument("--pin", action="store_true",
                        help="Servers on CPU 0, client on CPU 1 (default: the OS places them; "
                        "on a shared machine pinning makes a busy CPU hurt more).")
    parser.add_argument("--_bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_load", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_closed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0 or not 1 <= args.concurrency <= 1024:
        parser.error("need --seconds > 0, --rate > 0 and 1 ≤ --concurrency ≤ 1024")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if args._bare is not None:
        serve_bare(args._bare)
        return 0
    if args._load is not None:
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
        result = asyncio.run(load(args._load, PATH, rate=args.rate, seconds=args.seconds,
                                  concurrency=args.concurrency, closed=args._closed))
        print(json.dumps(result))
        return 0
    global PIN
    PIN = args.pin
    results = run(args)
    print(_table(results))
    print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
