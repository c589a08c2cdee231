"""Does the guard's booth page grow as it stays open? DOM, JS heap, listeners, timers, streams.

    python -m bench.booth_page [--minutes 10] [--interval 1] [--sample-s 30] [--restarts 2]

The booth screen (/console, api/static/live.js) stays open in one tab on the booth PC for days:
every passage adds a row (a snapshot <img> with it), a review card or an alarm, and every
reconnect of the event stream catches up on what it missed. This runs the demo community
(``main.py demo --interval``: a car every ``--interval`` seconds, residents, visitors and
unknown cars for review) as a process of its own with a scratch data directory under /tmp and a
free port, opens the booth page in Debian's chromium (Playwright, ``--enable-precise-memory-info``)
logged in as the demo guard with the password the demo logs, and every ``--sample-s`` records:
the page's elements (``getElementsByTagName('*')``), <img> elements, passage rows and review
cards; the JS heap after a forced garbage collection (``performance.memory.usedJSHeapSize``);
from the Chrome DevTools Protocol ``Performance.getMetrics`` JSEventListeners, Nodes and
Documents; and from counters an init script puts around ``setTimeout``/``setInterval``/
``EventSource``/``fetch`` the timers pending, the streams not closed and the fetches in flight.
``--restarts`` times, spread over the run, the demo process is stopped and started again on
the same data and port with the page left open: the page must find its stream again by itself
(its live dot on) without listeners, timers or streams piling up.

Reported: each curve's first, last and largest value and the change over the second half
(after the first minutes fill the 200-row list), and how long each restart took the page to
be live again. No limit is asserted: the figures are for a person to judge.
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.soak_probe import process_figures

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
logger = logging.getLogger("bench.booth_page")

CURVES = ("elements", "imgs", "rows", "review_cards", "heap_mb", "listeners", "nodes",
          "documents", "timeouts", "intervals", "streams_open", "fetches_in_flight",
          "server_sockets")

# Counts what the page's scripts hold open, without changing what they do: timeouts pending
# (set, neither fired nor cleared), intervals not cleared, EventSources not closed, fetches
# not settled. Installed before the page's own scripts run.
COUNTERS_JS = """
(() => {
  const c = {
    timeouts: new Set(), intervals: new Set(), sources: new Set(), fetches: 0, opened: 0,
  };
  window.__boothCounters = c;
  const st = window.setTimeout, ct = window.clearTimeout;
  const si = window.setInterval, ci = window.clearInterval;
  window.setTimeout = function (fn, ms, ...rest) {
    const id = st.call(window, function () {
      c.timeouts.delete(id);
      return typeof fn === "function" ? fn.apply(this, arguments) : undefined;
    }, ms, ...rest);
    c.timeouts.add(id);
    return id;
  };
  window.clearTimeout = function (id) { c.timeouts.delete(id); return ct.call(window, id); };
  window.setInterval = function (...args) {
    const id = si.apply(window, args);
    c.intervals.add(id);
    return id;
  };
  window.clearInterval = function (id) { c.intervals.delete(id); return ci.call(window, id); };
  const ES = window.EventSource;
  window.EventSource = class extends ES {
    constructor(...args) {
      super(...args);
      c.sources.add(this);
      this.addEventListener("open", () => { c.opened += 1; });
    }
    close() { c.sources.delete(this); super.close(); }
  };
  const f = window.fetch;
  window.fetch = function (...args) {
    c.fetches += 1;
    return f.apply(this, args).finally(() => { c.fetches -= 1; });
  };
})();
"""

PAGE_FIGURES_JS = """
() => {
  const c = window.__boothCounters;
  return {
    elements: document.getElementsByTagName('*').length,
    imgs: document.getElementsByTagName('img').length,
    rows: document.querySelectorAll('#passage-rows > tr').length,
    review_cards: document.querySelectorAll('#review-list > .review-card').length,
    heap: performance.memory.usedJSHeapSize,
    timeouts: c.timeouts.size,
    intervals: c.intervals.size,
    // A stream the browser gave up on (readyState 2) without the page closing it holds nothing.
    streams_open: Array.from(c.sources).filter((s) => s.readyState !== 2).length,
    fetches_in_flight: c.fetches,
    live: document.getElementById('live-dot').dataset.live === 'yes',
  };
}
"""


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    passages: int
    elements: int
    imgs: int
    rows: int
    review_cards: int
    heap_mb: float
    listeners: int
    nodes: int
    documents: int
    timeouts: int
    intervals: int
    streams_open: int
    fetches_in_flight: int
    server_sockets: int  # the demo process's: the page's stream and fetches, the cameras'
    live: bool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    """``main.py demo`` in a process of its own, stopped and started again on the same data."""

    def __init__(self, scratch: Path, port: int, interval: float) -> None:
        self.scratch = scratch
        self.port = port
        self.interval = interval
        self.log_file = scratch / "demo.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        env = {**os.environ, "PARKGATE_DATA_DIR": str(self.scratch / "data"),
               # A booth page left for days must not be logged out by the idle time-out
               # half-way through the run, which would load a fresh page.
               "PARKGATE_CONSOLE__IDLE_MINUTES": "720"}
        command = [sys.executable, str(ROOT / "main.py"), "demo", "--port", str(self.port),
                   "--interval", str(self.interval)]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the demo exited with {self.process.returncode}: "
                                 f"see {self.log_file}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("the demo did not answer /healthz")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            # A stop ends the page's event stream at once (api/server.ControllerServer) and
            # cuts anything else after 5 s; past 10 s something is wrong: killed, as a crash.
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the demo is not running")
        return self.process.pid

    def guard_password(self) -> str:
        found = re.findall(r"demo user 'guard' created with password (\S+)",
                           self.log_file.read_text(encoding="utf-8", errors="replace"))
        if not found:
            raise SystemExit(f"no guard password in {self.log_file}")
        return found[0]

    def resolve_reviews(self, password: str) -> int:
        """Another booth's guard denies the cars waiting for review (through the API, with a
        token): the open page sees them resolved elsewhere (passage_updated), as on a shift
        with two booths. How many were resolved."""
        try:
            login = httpx.post(f"{self.base}/api/v1/auth/token",
                               data={"username": "guard", "password": password}, timeout=30)
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            waiting = httpx.get(f"{self.base}/api/v1/review", headers=headers, timeout=30)
            waiting.raise_for_status()
            resolved = 0
            for passage in waiting.json():
                response = httpx.post(
                    f"{self.base}/api/v1/passages/{passage['id']}/resolve", headers=headers,
                    json={"resolution": "deny", "reason": "bench: 另一岗亭核实"}, timeout=30)
                resolved += response.status_code == 200
            return resolved
        except httpx.HTTPError as err:
            logger.warning("the other booth could not resolve reviews: %r", err)
            return 0

    def passages(self) -> int:
        """Demo cars so far, from its log (the page is what is measured, not the API)."""
        text = self.log_file.read_text(encoding="utf-8", errors="replace")
        return len(re.findall(r"controllers\.runtime: passage \d+ at ", text))


def sample(page: Any, cdp: Any, started: float, passages: int, server_pid: int) -> Sample:
    cdp.send("HeapProfiler.collectGarbage")
    figures = page.evaluate(PAGE_FIGURES_JS)
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return Sample(
        at_s=round(time.monotonic() - started, 1), passages=passages,
        elements=figures["elements"], imgs=figures["imgs"], rows=figures["rows"],
        review_cards=figures["review_cards"], heap_mb=round(figures["heap"] / 1e6, 2),
        listeners=int(metrics["JSEventListeners"]), nodes=int(metrics["Nodes"]),
        documents=int(metrics["Documents"]), timeouts=figures["timeouts"],
        intervals=figures["intervals"], streams_open=figures["streams_open"],
        fetches_in_flight=figures["fetches_in_flight"],
        server_sockets=process_figures(server_pid).sockets, live=figures["live"],
    )


def streams_opened(page: Any) -> int:
    return int(page.evaluate("window.__boothCounters.opened"))


def wait_live(page: Any, timeout_s: float, opened_before: int = 0) -> float | None:
    """Seconds until a stream opened after ``opened_before`` streams and the page's live dot is
    on; None if not within timeout_s."""
    started = time.monotonic()
    try:
        page.wait_for_function(
            "([n]) => window.__boothCounters.opened > n"
            " && document.getElementById('live-dot').dataset.live === 'yes'",
            arg=[opened_before], timeout=timeout_s * 1000)
    except Exception as err:  # Playwright's TimeoutError: reported, not raised
        logger.warning("page not live again: %s (at %s)", str(err).splitlines()[0], page.url)
        return None
    return round(time.monotonic() - started, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-zenhei")
    scratch = Path(tempfile.mkdtemp(prefix="parkgate-booth-", dir="/tmp"))
    demo = Demo(scratch, args.port or free_port(), args.interval)
    samples: list[Sample] = []
    recoveries: list[float | None] = []
    resolved = 0
    duration = args.minutes * 60
    restart_at = [duration * (i + 1) / (args.restarts + 1) for i in range(args.restarts)]
    try:
        demo.start()
        logger.info("demo pid %d on %s, data in %s", demo.pid, demo.base, scratch)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--enable-precise-memory-info",
                      "--disable-background-networking", "--no-first-run"])
            try:
                context = browser.new_context(base_url=demo.base, locale="zh-CN",
                                              timezone_id="Asia/Shanghai",
                                              viewport={"width": 1600, "height": 1000})
                context.add_init_script(COUNTERS_JS)
                page = context.new_page()
                page.goto("/console/login")
                page.fill('input[name="username"]', "guard")
                password = demo.guard_password()
                page.fill('input[name="password"]', password)
                page.click('#login-form button[type="submit"]')
                page.wait_for_url("**/console")
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                wait_live(page, 60)
                started = time.monotonic()
                next_sample = 0.0
                while True:
                    now = time.monotonic() - started
                    if restart_at and now >= restart_at[0]:
                        restart_at.pop(0)
                        logger.info("restarting the demo at %.0f s", now)
                        opened = streams_opened(page)
                        demo.stop()
                        demo.start()
                        # From the server's being back: how long the page takes to notice.
                        recovered = wait_live(page, 120, opened)
                        recoveries.append(recovered)
                        logger.info("page live again after %s s", recovered)
                        continue
                    if now >= next_sample:
                        s = sample(page, cdp, started, demo.passages(), demo.pid)
                        samples.append(s)
                        logger.info("%5.0f s %5d passages: %d elements, %d img, %d rows, "
                                    "heap %.1f MB, %d listeners, %d timeouts, %d streams",
                                    s.at_s, s.passages, s.elements, s.imgs, s.rows, s.heap_mb,
                                    s.listeners, s.timeouts, s.streams_open)
                        next_sample += args.sample_s
                        if args.resolve:
                            resolved += demo.resolve_reviews(password)
                        if now >= duration:
                            break
                    # Playwright's own wait: the page's scripts keep running meanwhile.
                    page.wait_for_timeout(1000)
            finally:
                browser.close()
    finally:
        demo.stop()
        if args.keep:
            logger.info("kept %s", scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return report(args, samples, recoveries, resolved)


def report(args: argparse.Namespace, samples: list[Sample], recoveries: list[float | None],
           resolved: int) -> dict[str, Any]:
    half = [s for s in samples if s.at_s >= samples[-1].at_s / 2] if samples else []
    curves: dict[str, dict[str, float]] = {}
    for name in CURVES:
        values = [float(getattr(s, name)) for s in samples]
        if not values:
            continue
        curves[name] = {"first": values[0], "last": values[-1], "max": max(values),
                        "second_half_change": round(float(getattr(half[-1], name))
                                                    - float(getattr(half[0], name)), 2)}
    columns = ("at_s", "passages", *CURVES, "live")
    print("  ".join(f"{c[:9]:>9}" for c in columns))
    for s in samples:
        row = asdict(s)
        print("  ".join(f"{row[c]!s:>9}" for c in columns))
    for name, c in curves.items():
        print(f"{name:>18}: {c['first']:g} → {c['last']:g} (max {c['max']:g}), "
              f"second half {c['second_half_change']:+g}")
    print(f"restarts: page live again after {recoveries} s; {resolved} reviews resolved "
          "at the other booth")
    return {"minutes": args.minutes, "interval_s": args.interval, "sample_s": args.sample_s,
            "passages": samples[-1].passages if samples else 0, "restarts": len(recoveries),
            "recovered_s": recoveries, "resolved_elsewhere": resolved, "curves": curves,
            "samples": [asdict(s) for s in samples]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.booth_page",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between demo cars (main.py demo --interval)")
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--restarts", type=int, default=2,
                        help="times the demo process is restarted with the page left open")
    parser.add_argument("--resolve", action=argparse.BooleanOptionalAction, default=True,
                        help="at each sample another booth denies the cars waiting for review")
    parser.add_argument("--port", type=int, default=0, help="default: a free one")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result = run(args)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
