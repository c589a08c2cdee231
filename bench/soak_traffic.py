"""The people and devices around a controller in ``bench.soak``, each a thread of its own.

* ``Gates``: the gate cameras. Resident cars in at ``main-in`` and out at ``main-out``,
  visitors with a pass a guard registers just before (in, and out later), and cars nobody
  registered (a fresh plate each time), which go to the guard's review. Each car is a drawn
  frame (vision.plate_render) pushed to the frame endpoint with the camera key.
* ``Booth``: a guard logged in to the console through its form (cookie session), following
  the event stream as the live page does, loading each passage's row and the review queue
  when the stream says so, resolving reviews (deny, or allow once) and renewing the session.
* ``StreamChurn``: consoles and driver apps that come and go: an event or availability stream
  opened, held a moment, then closed (politely or by dropping the connection).
* ``AvailabilityPoll``: a driver app polling the availability endpoint.
* ``CityListener``: the city hub subscribed to the community's topics on the broker.
* ``Broker``: a private Mosquitto the soak stops and starts again, so the controller's city
  link loses its broker and finds it again (the system broker is never touched).
"""

from __future__ import annotations

import logging
import random
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import httpx

logger = logging.getLogger("bench.soak")

ENTRY, EXIT = "main-in", "main-out"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def draw_frame(plate: str, rng: random.Random) -> bytes:
    """One JPEG gate-camera frame of ``plate`` at the barrier."""
    from vision.plate_render import render_gate_scene, render_plate

    scene = render_gate_scene(render_plate(plate), rng, approach=1.0)
    ok, jpeg = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise SystemExit(f"could not encode a frame of {plate}")
    return bytes(jpeg.tobytes())


def new_plate(rng: random.Random, taken: set[str]) -> str:
    from vision.plate_render import random_plate

    while True:
        plate = random_plate(rng, "new_energy" if rng.random() < 0.3 else "ordinary")
        if plate not in taken:
            taken.add(plate)
            return plate


@dataclass
class Tally:
    """What happened, counted across threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def error(self, text: str) -> None:
        with self.lock:
            self.counts["client_errors"] += 1
            if len(self.errors) < 20:
                self.errors.append(text[:300])

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class Gates:
    """The gate cameras: ``push_one`` sends the next car (called at the soak's rate)."""

    def __init__(self, base: str, camera_key: str, guard_token: str, residents: list[str],
                 household_ids: list[int], tally: Tally, seed: int,
                 visitor_share: float = 0.1, stranger_share: float = 0.1) -> None:
        self.client = httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": camera_key})
        self.staff = httpx.Client(base_url=base, timeout=60,
                                  headers={"Authorization": f"Bearer {guard_token}"})
        self.rng = random.Random(seed)
        self.frames = {plate: draw_frame(plate, self.rng) for plate in residents}
        self.residents = residents
        self.household_ids = household_ids
        self.taken = set(residents)
        self.inside: set[str] = set()
        self.visitors_inside: list[str] = []
        self.tally = tally
        self.visitor_share = visitor_share
        self.stranger_share = stranger_share
        self.roundtrips_ms: list[float] = []

    def close(self) -> None:
        self.client.close()
        self.staff.close()

    def push(self, plate: str, gate: str, frame: bytes) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        try:
            response = self.client.post(f"/api/v1/gates/{gate}/frames", content=frame,
                                        headers={"Content-Type": "image/jpeg"})
        except httpx.HTTPError as err:
            self.tally.error(f"push {gate}: {err!r}")
            return None
        self.roundtrips_ms.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            self.tally.error(f"push {gate} answered {response.status_code}: {response.text}")
            return None
        result: dict[str, Any] = response.json()
        self.tally.add("pushes")
        self.tally.add(f"decision_{result['decision']}")
        if result.get("passage_id") is not None:
            self.tally.add("passages")
        return result

    def push_one(self) -> None:
        roll = self.rng.random()
        if roll < self.stranger_share:
            plate = new_plate(self.rng, self.taken)
            self.push(plate, ENTRY, draw_frame(plate, self.rng))
            self.tally.add("strangers")
        elif roll < self.stranger_share + self.visitor_share:
            self.visitor()
        else:
            plate = self.rng.choice(self.residents)
            gate = EXIT if plate in self.inside else ENTRY
            result = self.push(plate, gate, self.frames[plate])
            if result is not None and result["decision"] == "allow" and result["plate"] == plate:
                (self.inside.discard if gate == EXIT else self.inside.add)(plate)

    def visitor(self) -> None:
        """A visitor leaves (half the time, when one is inside) or one arrives on a pass."""
        if self.visitors_inside and self.rng.random() < 0.5:
            plate = self.visitors_inside.pop(0)
            self.push(plate, EXIT, draw_frame(plate, self.rng))
            self.tally.add("visitor_exits")
            return
        plate = new_plate(self.rng, self.taken)
        now = datetime.now(UTC)
        response = self.staff.post("/api/v1/passes", json={
            "plate": plate, "host_household_id": self.rng.choice(self.household_ids),
            "valid_from": (now - timedelta(minutes=1)).isoformat(),
            "valid_to": (now + timedelta(hours=4)).isoformat(), "max_uses": 1,
            "note": "soak visitor",
        })
        if response.status_code != 201:
            self.tally.error(f"pass answered {response.status_code}: {response.text}")
            return
        self.tally.add("passes")
        result = self.push(plate, ENTRY, draw_frame(plate, self.rng))
        if result is not None and result["decision"] == "allow":
            self.visitors_inside.append(plate)
            self.tally.add("visitor_entries")


class Booth:
    """A guard's console: logged in by the form, its live page's stream and fetches."""

    def __init__(self, base: str, username: str, password: str, tally: Tally,
                 stop: threading.Event, seed: int) -> None:
        self.base = base
        self.username = username
        self.password = password
        self.tally = tally
        self.stop = stop
        self.rng = random.Random(seed)
        self.reviews: list[int] = []
        self.lock = threading.Lock()
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(30, read=20))
        self.csrf = ""

    def login(self) -> None:
        page = self.client.get("/console/login")
        match = CSRF_FIELD.search(page.text)
        if match is None:
            raise SystemExit("the console login page has no CSRF field")
        response = self.client.post("/console/login", data={
            "username": self.username, "password": self.password,
            "csrf_token": match.group(1)}, follow_redirects=False)
        if response.status_code != 303:
            raise SystemExit(f"console login answered {response.status_code}")
        home = self.client.get("/console")
        meta = CSRF_META.search(home.text)
        if home.status_code != 200 or meta is None:
            raise SystemExit(f"the console page answered {home.status_code}")
        self.csrf = meta.group(1)
        self.tally.add("console_logins")

    def follow(self) -> None:
        """The live page's EventSource: reconnects as a browser does when it ends."""
        import json

        while not self.stop.is_set():
            try:
                # A connection of its own, as the browser's EventSource has, with the session.
                with httpx.Client(base_url=self.base, cookies=self.client.cookies,
                                  timeout=httpx.Timeout(30, read=20)) as stream, \
                        stream.stream("GET", "/api/v1/events/stream") as response:
                    if response.status_code == 401:
                        self.login()
                        continue
                    response.raise_for_status()
                    self.tally.add("booth_stream_connects")
                    event = ""
                    for line in response.iter_lines():
                        if self.stop.is_set():
                            return
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event == "passage":
                            self.tally.add("booth_events")
                            data = json.loads(line[5:])["data"]
                            self.on_passage(data)
                        elif line.startswith("data:"):
                            self.tally.add("booth_events")
            except httpx.ReadTimeout:
                continue  # the server pings every 15 s; a longer silence: connect again
            except httpx.HTTPError as err:
                if not self.stop.is_set():
                    self.tally.error(f"booth stream: {err!r}")
                    time.sleep(1)

    def on_passage(self, data: dict[str, Any]) -> None:
        passage_id = data.get("id")
        if passage_id is None:
            return
        with self.lock:
            if data.get("decision") == "review" and data.get("resolution") is None:
                self.reviews.append(int(passage_id))

    def work(self) -> None:
        """What the page fetches after events, the guard's resolutions, the session renewal."""
        last_keepalive = time.monotonic()
        while not self.stop.wait(1.0):
            try:
                with self.lock:
                    pending, self.reviews = self.reviews, []
                if pending:
                    self.get("/console/fragments/review")
                for passage_id in pending:
                    self.get(f"/console/fragments/passage/{passage_id}")
                    # A guard looks, phones the host, decides: deny two in three.
                    resolution = "allow_once" if self.rng.random() < 1 / 3 else "deny"
                    response = self.client.post(
                        f"/api/v1/passages/{passage_id}/resolve",
                        json={"resolution": resolution, "reason": "soak: 门岗核实"},
                        headers={"X-CSRF-Token": self.csrf})
                    if response.status_code == 200:
                        self.tally.add(f"resolved_{resolution}")
                    elif response.status_code != 409:  # resolved already: not an error
                        self.tally.error(f"resolve answered {response.status_code}: "
                                         f"{response.text}")
                if time.monotonic() - last_keepalive > 60:
                    last_keepalive = time.monotonic()
                    response = self.client.post("/console/keepalive",
                                                headers={"X-CSRF-Token": self.csrf})
                    self.tally.add(f"keepalive_{response.status_code}")
                    self.get("/console/fragments/alarms")
            except httpx.HTTPError as err:
                self.tally.error(f"booth: {err!r}")

    def get(self, path: str) -> None:
        response = self.client.get(path)
        if response.status_code != 200:
            self.tally.error(f"GET {path} answered {response.status_code}")
        else:
            self.tally.add("booth_fetches")


def stream_churn(base: str, guard_token: str, tally: Tally, stop: threading.Event,
                 every_s: float, seed: int) -> None:
    """Streams opened, held a moment and closed, over and over: a browser tab closed, a phone
    that lost its signal (the connection dropped without a goodbye)."""
    rng = random.Random(seed)
    port = int(base.rsplit(":", 1)[1])
    while not stop.wait(every_s):
        path = rng.choice(("/api/v1/events/stream", "/api/v1/availability/stream"))
        try:
            if rng.random() < 0.3:
                drop_connection(port, path, guard_token)
                tally.add("churn_dropped")
                continue
            with httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=5),
                              headers={"Authorization": f"Bearer {guard_token}"}) as client, \
                    client.stream("GET", path) as response:
                response.raise_for_status()
                held_until = time.monotonic() + rng.uniform(0, 3)
                for _line in response.iter_lines():
                    if time.monotonic() > held_until:
                        break
            tally.add("churn_closed")
        except httpx.ReadTimeout:
            tally.add("churn_closed")  # quiet stream, held past the time: closed all the same
        except httpx.HTTPError as err:
            tally.error(f"churn {path}: {err!r}")


def drop_connection(port: int, path: str, token: str) -> None:
    """Opens a stream with a raw socket, reads its first bytes and vanishes (RST, no FIN)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                     f"{token}\r\nAccept: text/event-stream\r\n\r\n".encode())
        sock.recv(512)
        # SO_LINGER 0: the close resets the connection, as a phone leaving the network would.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def availability_poll(base: str, tally: Tally, stop: threading.Event, every_s: float) -> None:
    """A driver app (or the board at the gate) polling the public availability endpoint, with
    its ETag as a browser sends it."""
    etag: str | None = None
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.wait(every_s):
            try:
                headers = {"If-None-Match": etag} if etag else {}
                response = client.get("/api/v1/availability", headers=headers)
                if response.status_code not in (200, 304):
                    tally.error(f"availability answered {response.status_code}")
                    continue
                etag = response.headers.get("etag", etag)
                tally.add(f"availability_{response.status_code}")
            except httpx.HTTPError as err:
                tally.error(f"availability: {err!r}")


class CityListener:
    """The city hub's side: everything under the community's topic prefix, counted."""

    def __init__(self, port: int, prefix: str, tally: Tally) -> None:
        import paho.mqtt.client as mqtt

        self.tally = tally
        self.prefix = prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"soak-listener-{prefix}")
        self.client.on_connect = self._connected
        self.client.on_message = lambda _c, _u, _m: tally.add("city_messages")
        self.client.reconnect_delay_set(1, 5)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _connected(self, client: Any, _userdata: Any, _flags: Any, _reason: Any,
                   _props: Any = None) -> None:
        client.subscribe(f"{self.prefix}/#", qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Broker:
    """A private Mosquitto on ``port`` that the soak may stop and start again."""

    def __init__(self, port: int, log_path: str) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(["mosquitto", "-p", str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def cycle(self, stop: threading.Event, every_s: float, down_s: float) -> None:
        """Stops the broker every ``every_s`` for ``down_s``, then starts it again."""
        while not stop.wait(every_s):
            self.stop()
            stop.wait(down_s)
            self.start()
            self.restarts += 1
            logger.info("broker restarted (%d)", self.restarts)
