"""The demo's seeding and three simulated cars through the real pipeline, in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from demo import (
    PASSWORD_ENV,
    DemoTraffic,
    SimulatedGateCamera,
    build_demo_workers,
    ensure_demo_users,
    seed_demo,
)
from hardware.simulated import SimulatedBarrier
from models.events import Passage
from models.people import Household, Resident, User
from models.vehicles import PlateListEntry, Vehicle, VisitorPass
from services.container import build_services
from services.users import authenticate


def count(services: Any, model: type) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_demo_seeds_once_and_three_cars_are_allowed_reviewed_and_denied(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "demo-password-1")
    services = build_services(make_settings(), recognizer=plate_recognizer)
    try:
        cast = seed_demo(services.sessions)
        ensure_demo_users(services.sessions)
        assert seed_demo(services.sessions) == cast  # a second start changes nothing
        ensure_demo_users(services.sessions)
        counts = {m.__name__: count(services, m)
                  for m in (Household, Resident, Vehicle, VisitorPass, PlateListEntry, User)}
        assert counts == {"Household": 3, "Resident": 3, "Vehicle": 4, "VisitorPass": 1,
                          "PlateListEntry": 1, "User": 2}
        with services.sessions() as session:
            admin = authenticate(session, "admin", "demo-password-1")
            assert admin is not None and admin.role == "admin"

        cameras = {g: SimulatedGateCamera(g, frames_per_car=4, seed=3)
                   for g in ("main-in", "main-out")}
        pipeline, workers = build_demo_workers(services, cameras, fps=10, cooldown_s=5)
        services.background.extend(workers)
        traffic = DemoTraffic(services, pipeline, cameras, cast, entry_gate="main-in",
                              exit_gate="main-out", seed=7)

        arm_after_car: list[str] = []

        async def scenario() -> list[Any]:
            await services.start()
            try:
                results = []
                for role in ("resident", "unknown", "blocked"):
                    car = traffic.car_for(role)
                    results.append(await traffic.drive(car, traffic.gate_for(car),
                                                       timeout_s=30))
                    if role == "resident":
                        # The car let in crossed the gate's loop: 车过落杆 brings the arm
                        # down a second later, not after the 10 s of open_seconds.
                        await asyncio.sleep(1.5)
                        arm_after_car.append(str(services.barriers["main-in"].state))
                return results
            finally:
                await services.stop()

        results = asyncio.run(scenario())
        assert arm_after_car[0] in ("closing", "closed")
        assert [(r.decision.verdict.value, r.decision.reason.value) if r else None
                for r in results] == [("allow", "resident"), ("review", "unknown_plate"),
                                      ("deny", "blocked")]
        with services.sessions() as session:
            recorded = [(p.plate, p.decision)
                        for p in session.scalars(select(Passage).order_by(Passage.id))]
        assert recorded == [(r.plate, r.decision.verdict.value) for r in results if r]
        # The resident is now inside: the demo sends it to the exit next time.
        assert traffic.gate_for(cast.residents[0]) == "main-out"
    finally:
        services.engine.dispose()


def test_a_demo_car_drives_under_an_arm_held_open(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guard's 常开 (rush hour, guard guide 10) or a fire alarm holds the arm up: the demo
    car drives through and over the loop, and the arm stays held. It waited for "open" only,
    so under a held arm each allowed car stood 20 s and logged "did not come up"."""
    monkeypatch.setenv(PASSWORD_ENV, "demo-password-1")
    services = build_services(make_settings(), recognizer=plate_recognizer)
    try:
        cast = seed_demo(services.sessions)
        cameras = {g: SimulatedGateCamera(g, frames_per_car=4, seed=3)
                   for g in ("main-in", "main-out")}
        pipeline, _workers = build_demo_workers(services, cameras, fps=10, cooldown_s=5)
        traffic = DemoTraffic(services, pipeline, cameras, cast, entry_gate="main-in",
                              exit_gate="main-out", seed=7)
        barrier = services.barriers["main-in"]
        assert isinstance(barrier, SimulatedBarrier)
        loop_seen: list[bool] = []

        async def scenario() -> bool:
            await services.start()
            try:
                await barrier.hold_open()
                crossing = asyncio.create_task(traffic.cross_loop("main-in", timeout_s=3))
                while not crossing.done():
                    loop_seen.append(bool(barrier.presence_loop.value))
                    await asyncio.sleep(0.05)
                return crossing.result()
            finally:
                await services.stop()

        assert asyncio.run(scenario()) is True
        assert any(loop_seen)  # the car was on the loop
        assert str(barrier.state) == "held_open"
    finally:
        services.engine.dispose()


def test_a_restart_with_the_same_demo_password_keeps_everyone_logged_in(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With PARKGATE_DEMO_PASSWORD set, every start hashed the same password again (a new
    salt), and a new hash ends the account's sessions and tokens: each restart of the demo
    logged the guard at the booth out. A changed password still resets it."""
    monkeypatch.setenv(PASSWORD_ENV, "demo-password-1")
    services = build_services(make_settings(), recognizer=plate_recognizer)
    try:
        ensure_demo_users(services.sessions)

        def stamps() -> dict[str, str]:
            with services.sessions() as session:
                return {u.username: u.password_hash for u in session.scalars(select(User))}

        before = stamps()
        ensure_demo_users(services.sessions)  # the demo started again, same password
        assert stamps() == before
        monkeypatch.setenv(PASSWORD_ENV, "demo-password-2")
        ensure_demo_users(services.sessions)
        assert all(stamps()[name] != before[name] for name in before)
        with services.sessions() as session:
            assert authenticate(session, "guard", "demo-password-2") is not None
    finally:
        services.engine.dispose()
