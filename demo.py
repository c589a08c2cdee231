"""``python main.py demo``: the demo community with simulated cameras showing drawn plates.

The demo runs the real system — settings, SQLite in ``data_dir`` (./data by default), the
camera workers, the plate recogniser, voting, the access policy, the simulated barriers and
the API — and replaces only the cameras: each vehicle gate gets a :class:`SimulatedGateCamera`
whose frames are drawn by :mod:`vision.plate_render` (a road, a car, a Chinese plate). Every
``--interval`` seconds a car drives up to the entrance or the exit: residents, a visitor with
a pass, unknown cars and a blocked plate, so allow, review and deny all happen.

Seeding is idempotent: households, residents, vehicles, a visitor pass and a blocked plate are
created once and refreshed on later runs. The console users ``admin`` and ``guard`` get the
password in ``PARKGATE_DEMO_PASSWORD``, or a generated one logged once when they are created.
No real photos are used.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import queue
import random
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.barrier import BarrierState
from controllers.runtime import PassageResult
from errors import StoreUnavailableError
from hardware.simulated import SimulatedBarrier
from models.db import outage_as_unavailable, transaction
from models.people import Household, Resident, User
from models.vehicles import PlateListEntry, Presence, Vehicle, VisitorPass
from services.camera_pipeline import CameraPipeline
from services.camera_watch import run_cameras
from services.container import Services
from services.instance_lock import InstanceLock
from services.passwords import hash_password, verify_password
from services.users import create_user
from settings import CameraConfig
from vision.camera_worker import CameraWorker
from vision.plate_render import find_cjk_font, random_plate, render_gate_scene, render_plate
from vision.sources import SyntheticSource
from vision.types import PlateColor
from vision.voting import PlateVoter
from wall_clock import utcnow

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)

PASSWORD_ENV = "PARKGATE_DEMO_PASSWORD"
DEMO_USERS = ("admin", "guard")


@dataclass(frozen=True, slots=True)
class DemoCar:
    plate: str
    role: str  # resident, visitor, unknown, blocked
    color: PlateColor = PlateColor.BLUE
    owner: str = ""


# Plates differ from each other in ≥ 3 positions so look-alike matching never mixes them up.
RESIDENT_CARS = (
    DemoCar("沪AD12345", "resident", PlateColor.GREEN, "3栋-1201 林阿姨"),
    DemoCar("沪B7M261", "resident", PlateColor.BLUE, "5栋-302 王先生"),
    DemoCar("苏E9K317", "resident", PlateColor.BLUE, "8栋-601 陈女士"),
    DemoCar("沪C52088", "resident", PlateColor.YELLOW, "8栋-601 陈女士"),
)
VISITOR_CAR = DemoCar("浙A3Q776", "visitor", PlateColor.BLUE, "访客（5栋-302 邀请）")
BLOCKED_CAR = DemoCar("沪K60613", "blocked", PlateColor.YELLOW, "欠费黑名单")
_HOUSEHOLDS = {"3栋-1201 林阿姨": ("3栋", "1201", 1), "5栋-302 王先生": ("5栋", "302", 1),
               "8栋-601 陈女士": ("8栋", "601", 2)}
# One cycle of demo traffic: residents come and go most, with the occasional stranger.
ROLE_CYCLE = ("resident", "visitor", "unknown", "resident", "blocked", "resident")
# A car let in reaches the loop under the arm this long after the arm is up, and takes this
# long to cross it (a car's length at a barrier's walking pace).
TO_LOOP_S = 0.5
ON_LOOP_S = 0.8


@dataclass(frozen=True, slots=True)
class DemoCast:
    residents: tuple[DemoCar, ...]
    visitor: DemoCar
    blocked: DemoCar

    @property
    def known_plates(self) -> list[str]:
        return [c.plate for c in (*self.residents, self.visitor, self.blocked)]


# -- seeding ------------------------------------------------------------------------------


def seed_demo(sessions: sessionmaker[Session], *, now: datetime | None = None) -> DemoCast:
    """Create (or refresh) the demo households, residents, vehicles, pass and block entry."""
    now = now or utcnow()
    with transaction(sessions) as session:
        households: dict[str, Household] = {}
        for owner, (building, unit, spaces) in _HOUSEHOLDS.items():
            household = session.scalars(
                select(Household).where(Household.building == building, Household.unit == unit)
            ).first()
            if household is None:
                household = Household(building=building, unit=unit, spaces=spaces, note="demo")
                session.add(household)
                session.flush()
            households[owner] = household
            name = owner.split(" ")[1]
            resident = session.scalars(
                select(Resident).where(Resident.household_id == household.id,
                                       Resident.name == name)
            ).first()
            if resident is None:
                session.add(Resident(household_id=household.id, name=name))
        session.flush()
        for car in RESIDENT_CARS:
            if session.scalars(select(Vehicle).where(Vehicle.plate == car.plate)).first():
                continue
            household = households[car.owner]
            resident = session.scalars(
                select(Resident).where(Resident.household_id == household.id)
            ).first()
            session.add(Vehicle(plate=car.plate, plate_color=str(car.color),
                                household_id=household.id,
                                resident_id=resident.id if resident else None))
        visitor_pass = session.scalars(
            select(VisitorPass).where(VisitorPass.plate == VISITOR_CAR.plate,
                                      VisitorPass.note == "demo")
        ).first()
        if visitor_pass is None:
            visitor_pass = VisitorPass(plate=VISITOR_CAR.plate, note="demo", created_by="demo",
                                       host_household_id=households["5栋-302 王先生"].id,
                                       valid_from=now, valid_to=now)
            session.add(visitor_pass)
        # Keep the pass valid for as long as the demo runs, whenever it is started.
        visitor_pass.valid_from = now - timedelta(hours=1)
        visitor_pass.valid_to = now + timedelta(days=7)
        visitor_pass.max_uses = None
        if not session.scalars(
            select(PlateListEntry).where(PlateListEntry.plate == BLOCKED_CAR.plate)
        ).first():
            session.add(PlateListEntry(plate=BLOCKED_CAR.plate, kind="block",
                                       reason="物业费欠费（演示）", created_by="demo"))
    logger.info("demo community seeded: %d resident cars, 1 visitor pass, 1 blocked plate",
                len(RESIDENT_CARS))
    return DemoCast(RESIDENT_CARS, VISITOR_CAR, BLOCKED_CAR)


def ensure_demo_users(sessions: sessionmaker[Session]) -> None:
    """Create admin and guard; the password is PARKGATE_DEMO_PASSWORD or generated and logged.

    Existing users keep their password unless PARKGATE_DEMO_PASSWORD is set, which resets it.
    """
    configured = os.environ.get(PASSWORD_ENV)
    with transaction(sessions) as session:
        for username in DEMO_USERS:
            user = session.scalars(select(User).where(User.username == username)).first()
            if user is None:
                password = configured or secrets.token_urlsafe(12)
                create_user(session, username, password, username)
                if configured:
                    logger.info("demo user %r created with the password from %s",
                                username, PASSWORD_ENV)
                else:
                    # Shown once: only the hash is stored.
                    logger.warning("demo user %r created with password %s (set %s to choose "
                                   "one)", username, password, PASSWORD_ENV)
            elif configured and not verify_password(user.password_hash, configured):
                user.password_hash = hash_password(configured)
                logger.info("demo user %r: password reset from %s", username, PASSWORD_ENV)
            elif configured:
                # Hashed again (a new salt), the same password ended every session and token
                # the account held: each restart of the demo logged its guards out.
                logger.info("demo user %r keeps the password from %s", username, PASSWORD_ENV)
            else:
                logger.info("demo user %r exists and keeps its password", username)


# -- simulated cameras --------------------------------------------------------------------


class SimulatedGateCamera:
    """A motion-triggered gate camera: silent until a car drives up, then frames of it.

    ``show(car)`` queues a visit; the camera's generator (run by the worker's reader thread)
    draws ``frames_per_car`` frames of the car approaching the barrier, then goes quiet.
    """

    def __init__(self, gate_id: str, *, frames_per_car: int = 6, seed: int | None = None,
                 size: tuple[int, int] = (960, 540)) -> None:
        self.gate_id = gate_id
        self.frames_per_car = frames_per_car
        self.size = size
        self._visits: queue.Queue[DemoCar] = queue.Queue()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.frames_drawn = 0

    def show(self, car: DemoCar) -> None:
        self._visits.put(car)

    def source(self) -> SyntheticSource:
        return SyntheticSource(self.frames, name=f"{self.gate_id} simulated camera")

    def frames(self) -> Iterator[np.ndarray | None]:
        while True:
            try:
                car = self._visits.get_nowait()
            except queue.Empty:
                yield None
                continue
            yield from self._drive(car)

    def _drive(self, car: DemoCar) -> Iterator[np.ndarray]:
        with self._lock:
            rng = random.Random(self._rng.getrandbits(32))
        plate = render_plate(car.plate, car.color)
        colour = rng.choice(((235, 235, 235), (40, 40, 40), (150, 150, 155), (40, 40, 160)))
        steps = max(1, self.frames_per_car)
        for i in range(steps):
            approach = 0.35 + 0.65 * i / max(1, steps - 1)
            self.frames_drawn += 1
            yield render_gate_scene(plate, rng, size=self.size, approach=approach,
                                    car_colour=colour)


def build_demo_workers(
    services: Services,
    cameras: dict[str, SimulatedGateCamera],
    *,
    fps: float = 4.0,
    cooldown_s: float = 30.0,
) -> tuple[CameraPipeline, list[CameraWorker]]:
    """Camera workers for the simulated cameras, through the same pipeline as real ones."""
    # The window must hold a whole drive-by; the cooldown only has to outlast one visit.
    voter = PlateVoter(window_seconds=3.0, min_reads=3, cooldown_seconds=cooldown_s)
    pipeline = CameraPipeline.from_services(services, voter=voter)
    config = CameraConfig(source="synthetic", fps=fps, reconnect_min_s=0.5, reconnect_max_s=5)
    workers = [pipeline.worker(g, cam.source(), config) for g, cam in cameras.items()]
    return pipeline, workers


# -- traffic ------------------------------------------------------------------------------


class DemoTraffic:
    """Chooses the next car and gate, shows it to that gate's camera and awaits the passage."""

    def __init__(
        self,
        services: Services,
        pipeline: CameraPipeline,
        cameras: dict[str, SimulatedGateCamera],
        cast: DemoCast,
        *,
        entry_gate: str,
        exit_gate: str,
        seed: int | None = None,
    ) -> None:
        self.services = services
        self.pipeline = pipeline
        self.cameras = cameras
        self.cast = cast
        self.entry_gate = entry_gate
        self.exit_gate = exit_gate
        self._rng = random.Random(seed)
        self._roles = itertools.cycle(ROLE_CYCLE)
        self._residents = itertools.cycle(cast.residents)
        self._inside: set[str] = set()  # plates this demo let in, for when the database is away

    def car_for(self, role: str) -> DemoCar:
        if role == "resident":
            return next(self._residents)
        if role == "visitor":
            return self.cast.visitor
        if role == "blocked":
            return self.cast.blocked
        if role == "unknown":
            return DemoCar(self._unknown_plate(), "unknown",
                           self._rng.choice((PlateColor.BLUE, PlateColor.BLUE, PlateColor.GREEN)))
        raise ValueError(f"unknown demo role {role!r}")

    def _unknown_plate(self) -> str:
        known = self.cast.known_plates
        while True:
            kind = "new_energy" if self._rng.random() < 0.3 else "ordinary"
            plate = random_plate(self._rng, kind)
            # Far from every registered plate, so fuzzy matching cannot admit it.
            if all(sum(a != b for a, b in zip(plate, k, strict=False)) >= 4 for k in known):
                return plate

    def next_car(self) -> tuple[DemoCar, str]:
        car = self.car_for(next(self._roles))
        return car, self.gate_for(car)

    def gate_for(self, car: DemoCar) -> str:
        try:
            with outage_as_unavailable(), self.services.sessions() as session:
                inside = session.get(Presence, car.plate) is not None
        except StoreUnavailableError:
            # The demo shows how the gates carry on through an outage: the cars keep coming,
            # entering or leaving by what this demo last saw them do.
            inside = car.plate in self._inside
        return self.exit_gate if inside else self.entry_gate

    def _remember(self, car: DemoCar, gate_id: str, result: PassageResult) -> None:
        if result.decision.verdict != "allow":
            return
        if gate_id == self.entry_gate:
            self._inside.add(car.plate)
        else:
            self._inside.discard(car.plate)

    async def drive(self, car: DemoCar, gate_id: str, *, timeout_s: float = 20.0
                    ) -> PassageResult | None:
        """Show the car to the gate's camera and wait for the passage it causes; a car let in
        then drives over the gate's loop (``cross_loop``) before this returns."""
        before = self.pipeline.passages
        self.cameras[gate_id].show(car)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            mine = [r for r in self.pipeline.results[-(self.pipeline.passages - before):]
                    if r.gate_id == gate_id]
            if self.pipeline.passages > before and mine:
                result = mine[-1]
                logger.info("demo car %s (%s) at %s: %s/%s, barrier %s", car.plate, car.role,
                            gate_id, result.decision.verdict, result.decision.reason,
                            result.barrier)
                self._remember(car, gate_id, result)
                if result.decision.verdict == "allow":
                    await self.cross_loop(gate_id, timeout_s=timeout_s)
                return result
            await asyncio.sleep(0.05)
        logger.warning("demo car %s (%s) at %s: no passage within %.0f s (plate not read)",
                       car.plate, car.role, gate_id, timeout_s)
        return None

    async def cross_loop(self, gate_id: str, *, timeout_s: float = 20.0) -> bool:
        """The car let in drives under the raised arm and over the gate's presence loop, so
        the arm comes down behind it (车过落杆, ``close_after_pass_s``, on by default) as on
        site rather than after ``open_seconds``. Only a simulated barrier's own loop: a real
        one is crossed by real cars. False when the arm did not come up in time."""
        barrier = self.services.barriers.get(gate_id)
        if not isinstance(barrier, SimulatedBarrier):
            return False
        if barrier.presence is not barrier.presence_loop:  # a real detector configured
            return False
        deadline = time.monotonic() + timeout_s
        # A held arm (a guard's 常开, a fire alarm) is up as well: the car drives under it.
        while barrier.state not in (BarrierState.OPEN, BarrierState.HELD_OPEN):
            if time.monotonic() > deadline:
                logger.warning("demo: the arm at %s did not come up (%s): no car crossed",
                               gate_id, barrier.state)
                return False
            await asyncio.sleep(0.05)
        await asyncio.sleep(TO_LOOP_S)
        barrier.presence_loop.set(True)
        await asyncio.sleep(ON_LOOP_S)
        barrier.presence_loop.set(False)
        return True


def vehicle_gates(services: Services) -> tuple[str, str]:
    gates = [g for g in services.settings.community.gates if g.kind == "vehicle"]
    entry = next((g.id for g in gates if g.direction == "in"), None)
    exit_ = next((g.id for g in gates if g.direction == "out"), None)
    if entry is None or exit_ is None:
        from errors import ConfigError

        raise ConfigError("the demo needs one vehicle entry and one vehicle exit gate")
    return entry, exit_


# -- the command --------------------------------------------------------------------------


def demo_server_config(services: Services, host: str, port: int) -> uvicorn.Config:
    """The demo's HTTP server, set up as ``serve``'s (api/server.py): the request head limit
    and the trusted proxies apply to it too. It had a plain uvicorn.Config of its own, so the
    demo, which an office tries first on its network, kept endless headers in memory."""
    from api.app import create_app
    from api.server import server_config

    return server_config(create_app(services), services.settings, host, port, log_config=None)


async def _serve_demo(args: argparse.Namespace) -> int:
    from api.server import controller_server, listen_socket
    from services.container import build_services
    from settings import load_settings

    find_cjk_font()  # fail now, with the install hint, rather than in the camera thread
    allow = {"allow_new_database": True} if getattr(args, "allow_new_database", False) else {}
    settings = load_settings(getattr(args, "config", None), **allow)
    lock = InstanceLock(settings.data_dir)
    lock.acquire()
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    listener = listen_socket(host, port)  # a taken port stops the demo before it starts
    services = build_services(settings)
    try:
        cast = seed_demo(services.sessions)
        ensure_demo_users(services.sessions)
        entry, exit_ = vehicle_gates(services)
        cameras = {gate: SimulatedGateCamera(gate) for gate in (entry, exit_)}
        interval = max(1.0, float(args.interval))
        pipeline, workers = build_demo_workers(services, cameras, cooldown_s=min(30.0, interval))
        run_cameras(services, workers)
        traffic = DemoTraffic(services, pipeline, cameras, cast, entry_gate=entry,
                              exit_gate=exit_)
        server = controller_server(demo_server_config(services, host, port), services)
        serving = asyncio.create_task(server.serve(sockets=[listener]), name="uvicorn")
        while not server.started:
            if serving.done():
                logger.error("the demo's HTTP server did not start on %s:%d", host, port)
                return 1
            await asyncio.sleep(0.05)
        logger.info("demo community %r on http://%s:%d (API docs at /docs); a car every "
                    "%.0f s%s", settings.community.name, host, port, interval,
                    f", {args.cars} cars" if args.cars else "")
        driving = asyncio.create_task(_drive_cars(traffic, interval, int(args.cars or 0)))
        done, _ = await asyncio.wait({serving, driving}, return_when=asyncio.FIRST_COMPLETED)
        if driving in done:
            driving.result()
            server.should_exit = True
            await serving
        else:
            driving.cancel()
        return 0
    finally:
        services.engine.dispose()


async def _drive_cars(traffic: DemoTraffic, interval: float, cars: int) -> None:
    counter = itertools.count(1)
    while True:
        n = next(counter)
        started = time.monotonic()
        car, gate = traffic.next_car()
        logger.info("demo car %d: %s (%s) drives to %s", n, car.plate, car.role, gate)
        await traffic.drive(car, gate, timeout_s=max(20.0, interval))
        if cars and n >= cars:
            return
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def run_demo(args: argparse.Namespace) -> int:
    """Entry point of ``python main.py demo``."""
    return asyncio.run(_serve_demo(args))
