"""Camera pushes share a process-wide bound (api.max_concurrent_bursts for pedestrian bursts,
api.max_concurrent_frames for vehicle frames): one more waits api.burst_wait_s for a slot, then
gets 503 with Retry-After, never a 500 and never its frames decoded beside the others'.

Concurrency is real: the first push is held inside the face pipeline (or the plate reader) on
a threading.Event while other pushes arrive from other threads; nothing waits on a sleep."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pytest

from vision.face_pipeline import FacePipeline

CAMERA = {"X-API-Key": "test-camera-key"}
# A grey frame shows no face and no plate: a fast, real pass through either pipeline.
GREY_PNG = cv2.imencode(".png", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
GREY_JPEG = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
DEADLINE_S = 30.0  # only ever reached when the behaviour under test is broken


class Held:
    """Wraps a pipeline step: every call reports it entered, then waits for ``release``.

    Set it on a class through :meth:`method` (an instance is no descriptor: it would not get
    ``self``)."""

    def __init__(self, step: Callable[..., Any]) -> None:
        self._step = step
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(DEADLINE_S), "the test never released the held push"
        return self._step(*args, **kwargs)

    def method(self) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            return self(*args, **kwargs)

        return held


@pytest.fixture
def held_faces(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    held = Held(FacePipeline.process)
    monkeypatch.setattr(FacePipeline, "process", held.method())
    yield held
    held.release.set()  # a failed test must not leave a request hanging in the app


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.005)


def burst(client: Any, more_files: tuple[Any, ...] = ()) -> Any:
    """Two grey frames at the pedestrian gate, and ``more_files`` (multipart fields)."""
    files = [("image", (f"{i}.png", GREY_PNG, "image/png")) for i in range(2)]
    return client.post("/api/v1/gates/ped-1/frames", headers=CAMERA, files=[*files, *more_files])


def frame(client: Any) -> Any:
    """One grey frame at the vehicle gate."""
    return client.post("/api/v1/gates/main-in/frames", content=GREY_JPEG,
                       headers={**CAMERA, "Content-Type": "image/jpeg"})


def test_a_burst_past_the_bound_waits_then_gets_503_with_retry_after(
    app_factory: Any, held_faces: Held, pool: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = app_factory(api={"max_concurrent_bursts": 1, "burst_wait_s": 0.3})
    first = pool.submit(burst, client)
    assert held_faces.entered.wait(DEADLINE_S)

    caplog.set_level(logging.INFO, logger="services.push_slots")
    started = time.monotonic()
    refused = [pool.submit(burst, client).result(timeout=DEADLINE_S) for _ in range(2)]
    waited = time.monotonic() - started

    for response in refused:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        detail = response.json()["detail"]
        assert "api.max_concurrent_bursts" in detail and "api.burst_wait_s" in detail
    assert waited >= 2 * 0.3  # each waited its burst_wait_s for a slot first
    assert held_faces.calls == 1  # neither refused burst reached the pipeline
    assert not first.done()
    # The slots' own (the camera watch also warns once that this pushing camera is unwatched).
    warnings = [r for r in caplog.records
                if r.levelno == logging.WARNING and r.name == "services.push_slots"]
    assert len(warnings) == 1  # one per episode, not one per refused burst
    assert "api.max_concurrent_bursts" in warnings[0].getMessage()

    held_faces.release.set()
    assert first.result(timeout=DEADLINE_S).status_code == 200
    again = burst(client)
    assert again.status_code == 200, again.text  # the slot is free once the first is done


def test_a_burst_that_waits_less_than_burst_wait_s_is_served_after_the_first(
    app_factory: Any, held_faces: Held, pool: ThreadPoolExecutor
) -> None:
    client = app_factory(api={"max_concurrent_bursts": 1, "burst_wait_s": DEADLINE_S})
    slots = client.app.state.services.face_gate.slots
    first = pool.submit(burst, client)
    assert held_faces.entered.wait(DEADLINE_S)
    second = pool.submit(burst, client)
    wait_until(lambda: slots.waiting == 1, "the second burst waits for the slot")
    assert held_faces.calls == 1 and not second.done()

    held_faces.release.set()
    assert first.result(timeout=DEADLINE_S).status_code == 200
    served = second.result(timeout=DEADLINE_S)
    assert served.status_code == 200, served.text
    assert served.json()["decision"] == "review"  # no face in grey frames: the guard decides
    assert held_faces.calls == 2
    assert (slots.busy, slots.waiting) == (0, 0)


@pytest.mark.parametrize(
    ("send_invalid", "message"),
    [
        (lambda c: burst(c, (("image", ("cut.png", GREY_PNG[:60], "image/png")),)),
         "frame 3"),
        (lambda c: burst(c, (("depth", ("d.png", GREY_PNG, "image/png")),)), "depth maps"),
    ],
    ids=["corrupt-frame", "depth-mismatch"],
)
def test_an_invalid_burst_frees_its_slot(
    app_factory: Any, send_invalid: Callable[[Any], Any], message: str
) -> None:
    client = app_factory(api={"max_concurrent_bursts": 1, "burst_wait_s": 0.3})
    invalid = send_invalid(client)
    assert invalid.status_code == 422, invalid.text
    assert message in invalid.json()["detail"]
    served = burst(client)
    assert served.status_code == 200, served.text  # a leaked slot would make this a 503


def test_a_burst_that_fails_unexpectedly_frees_its_slot(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_factory(api={"max_concurrent_bursts": 1, "burst_wait_s": 0.3})
    real = FacePipeline.process
    calls = 0

    def broken_once(self: FacePipeline, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("face engine crashed")
        return real(self, *args)

    monkeypatch.setattr(FacePipeline, "process", broken_once)
    with pytest.raises(RuntimeError, match="face engine crashed"):
        burst(client)  # the test client re-raises what the app answered with a logged 500
    served = burst(client)
    assert served.status_code == 200, served.text


def test_vehicle_frames_have_their_own_slots(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch, pool: ThreadPoolExecutor
) -> None:
    client = app_factory(api={"max_concurrent_frames": 1, "max_concurrent_bursts": 1,
                              "burst_wait_s": 0.3})
    recognizer = type(client.app.state.services.recognizer)
    held = Held(recognizer.read)
    monkeypatch.setattr(recognizer, "read", held.method())
    try:
        first = pool.submit(frame, client)
        assert held.entered.wait(DEADLINE_S)
        refused = frame(client)
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert "api.max_concurrent_frames" in refused.json()["detail"]
        assert held.calls == 1
        # A car's frame held at a vehicle gate takes no slot from the pedestrian gates.
        walked = burst(client)
        assert walked.status_code == 200, walked.text
    finally:
        held.release.set()
    assert first.result(timeout=DEADLINE_S).status_code == 200
    assert frame(client).status_code == 200
