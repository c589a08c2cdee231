"""Enrolment never holds up the pedestrian gate: it has a face engine, a lock and a thread of
its own. Enrolments take turns among themselves, give the same embeddings as the shared
engine did, and the one-face check still looks at the whole photo.

Concurrency is real: an enrolment is held inside its engine on a threading.Event while the
gate is asked to recognise a resident from another thread; nothing waits on a sleep."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
import pytest

from errors import BusyError, InvalidInputError
from tests.api.test_face_gate import START, enrol_lin, jpegs
from tests.api.test_faces import BIDEN, OBAMA, enrol, photo
from vision.face_config import FaceRecognitionConfig
from vision.faces import FaceEngine

CAMERA = {"X-API-Key": "test-camera-key"}
DEADLINE_S = 60.0  # only ever reached when the behaviour under test is broken


class Held:
    """Wraps an engine's ``embed_single_face``: each call reports it entered, then waits for
    ``release``; ``nice`` records the nice value of the thread it ran on."""

    def __init__(self, step: Callable[..., Any]) -> None:
        self._step = step
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.nice: list[int] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if sys.platform == "linux":
            self.nice.append(os.getpriority(os.PRIO_PROCESS, 0))  # this thread's, on Linux
        self.entered.set()
        assert self.release.wait(DEADLINE_S), "the test never released the held enrolment"
        return self._step(*args, **kwargs)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as executor:
        yield executor


@pytest.fixture
def held(client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    """Enrolments of ``client``'s app wait inside their engine until ``release``."""
    engine = client.app.state.services.faces.engine
    holder = Held(engine.embed_single_face)
    monkeypatch.setattr(engine, "embed_single_face", holder)
    yield holder
    holder.release.set()  # a failed test must not leave an enrolment hanging in the app


def test_the_gate_recognises_a_resident_while_an_enrolment_is_inside_its_engine(
    client: Any, admin_headers: dict[str, str], clip: list[np.ndarray],
    pool: ThreadPoolExecutor, held: Held,
) -> None:
    held.release.set()  # Lin's own enrolment goes through
    lin = enrol_lin(client, admin_headers, clip)
    household = client.get(f"/api/v1/residents/{lin}", headers=admin_headers).json()
    other = client.post(
        "/api/v1/residents", json={"household_id": household["household_id"], "name": "林母"},
        headers=admin_headers,
    ).json()["id"]
    client.put(f"/api/v1/residents/{other}/consent", headers=admin_headers)
    held.release.clear()
    held.entered.clear()
    calls = held.calls

    enrolling = pool.submit(enrol, client, admin_headers, other, photo(*OBAMA).read_bytes())
    assert held.entered.wait(DEADLINE_S)
    # The enrolment is inside its engine, holding its lock; the gate needs neither.
    walking = pool.submit(client.post, "/api/v1/gates/ped-1/frames",
                          files=jpegs(clip[START : START + 30]), headers=CAMERA)
    response = walking.result(timeout=DEADLINE_S)
    assert response.status_code == 200, response.text
    assert (response.json()["decision"], response.json()["reason"]) == ("allow", "face_resident")
    passage = client.get(f"/api/v1/passages/{response.json()['passage_id']}",
                         headers=admin_headers).json()
    assert passage["resident_id"] == lin
    assert not enrolling.done()  # the gate did not wait for it: it is still held

    held.release.set()
    assert enrolling.result(timeout=DEADLINE_S).status_code == 201
    assert held.calls == calls + 1


def test_enrolments_take_turns_on_one_thread_at_lower_priority(
    client: Any, held: Held
) -> None:
    faces = client.app.state.services.faces
    data = photo(*OBAMA).read_bytes()

    first = faces.submit_photos([data])
    assert held.entered.wait(DEADLINE_S)
    second = faces.submit_photos([data])
    # Two admins upload at once: the second waits its turn instead of taking the other core.
    assert first.running() and not second.running() and not second.done()
    assert held.calls == 1

    held.release.set()
    (one,), (two,) = first.result(DEADLINE_S), second.result(DEADLINE_S)
    assert held.calls == 2
    np.testing.assert_array_equal(one, two)
    if sys.platform == "linux":
        # Raised for the enrolment thread only: this thread (like the gate's) keeps its own.
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert held.nice == [min(mine + faces_nice(client), 19)] * 2


def faces_nice(client: Any) -> int:
    nice = client.app.state.services.settings.faces.enrol_nice
    assert nice > 0, "the shipped setting lowers the enrolment thread's priority"
    return int(nice)


def test_the_gate_and_enrolment_use_different_engines_and_locks(client: Any) -> None:
    services = client.app.state.services
    assert services.faces.engine is not services.face_gate.pipeline.engine
    assert services.faces.engine_lock is not services.face_gate.engine_lock


def old_path_engine(config: FaceRecognitionConfig) -> FaceEngine:
    """An engine on face_recognition's module-level dlib objects: what every engine used
    before each had its own, and what gate and enrolment then shared."""
    import face_recognition.api as fr_api

    engine = FaceEngine(config)
    engine._detector = fr_api.face_detector
    engine._predictor = fr_api.pose_predictor_5_point
    if config.embedder == "dlib":
        engine._encoder = fr_api.face_encoder
    return engine


@pytest.mark.parametrize("embedder", ["onnxruntime", "dlib"])
def test_enrolment_embeddings_equal_the_old_shared_engine_s(
    app_factory: Any, embedder: str
) -> None:
    client = app_factory(faces={"embedder": embedder})
    services = client.app.state.services
    data = photo(*OBAMA).read_bytes()
    old = old_path_engine(services.settings.faces).embed_single_face(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    (new,) = services.faces.embed_photos([data])
    np.testing.assert_array_equal(new, old.embedding)  # bit for bit, not approximately
    assert new.dtype == np.float32 and new.shape == (128,)


def big_photo_with_a_small_second_face() -> np.ndarray:
    """A 4 MP photo of one person (face ~520 px) with a second, ~100 px face low in a corner:
    the kind of photo that shrinking before the check let through."""
    main = cv2.imread(str(photo(*OBAMA)))
    canvas = cv2.resize(main, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    small = cv2.imread(str(photo(*BIDEN)))
    small = cv2.resize(small, None, fx=0.33, fy=0.33, interpolation=cv2.INTER_AREA)
    top = canvas.shape[0] - small.shape[0] - 20
    canvas[top : top + small.shape[0], 20 : 20 + small.shape[1]] = small
    return canvas


def test_the_one_face_check_still_refuses_a_small_second_face(
    client: Any, admin_headers: dict[str, str]
) -> None:
    image = big_photo_with_a_small_second_face()
    engine = client.app.state.services.faces.engine
    halved = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    assert len(engine.locate(halved)) == 1  # shrunk, the photo would pass as one face

    household = client.post(
        "/api/v1/households", json={"building": "9栋", "unit": "101"}, headers=admin_headers
    ).json()["id"]
    rid = client.post("/api/v1/residents", json={"household_id": household, "name": "李"},
                      headers=admin_headers).json()["id"]
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    assert ok
    response = enrol(client, admin_headers, rid, buf.tobytes())
    assert response.status_code == 422, response.text
    assert "2 faces found" in response.json()["detail"]
    summary = client.get(f"/api/v1/residents/{rid}/faces", headers=admin_headers).json()
    assert summary["templates"] == 0
    assert rid not in client.app.state.services.faces.matcher


def test_an_enrolment_leaves_no_photo_scan_behind_even_when_refused(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faces = client.app.state.services.faces
    released: list[int] = []
    release = faces.engine.release_buffers

    def release_and_count() -> None:
        released.append(1)
        release()

    monkeypatch.setattr(faces.engine, "release_buffers", release_and_count)
    ok, no_face = cv2.imencode(".jpg", np.full((400, 400, 3), 128, np.uint8))
    assert ok
    with pytest.raises(InvalidInputError, match="photo 2: no face"):
        faces.embed_photos([photo(*OBAMA).read_bytes(), no_face.tobytes()])
    assert released == [1]  # the detector's scan of the last photo is let go
    (embedding,) = faces.embed_photos([photo(*OBAMA).read_bytes()])
    assert released == [1, 1] and embedding.shape == (128,)


def enrol_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("face-enrol")]


def test_stopping_the_controller_ends_the_enrolment_thread_and_drops_what_was_queued(
    make_settings: Any, plate_recognizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A controller stopped mid-enrolment lets that photo finish, runs none of those queued
    behind it after shutdown, and leaves no thread behind; enrolling again works."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from services.container import build_services

    services = build_services(make_settings(), recognizer=plate_recognizer)
    faces = services.faces
    assert faces is not None
    holder = Held(faces.engine.embed_single_face)
    monkeypatch.setattr(faces.engine, "embed_single_face", holder)
    obama, biden = photo(*OBAMA).read_bytes(), photo(*BIDEN).read_bytes()
    try:
        with TestClient(create_app(services)):
            running = faces.submit_photos([obama])
            assert holder.entered.wait(DEADLINE_S)
            queued = faces.submit_photos([biden])
        # The app has stopped (lifespan shutdown) with Obama's photo inside the engine.
        assert queued.cancelled()
        holder.release.set()
        assert len(running.result(timeout=DEADLINE_S)) == 1
        for thread in enrol_threads():
            thread.join(DEADLINE_S)
        assert enrol_threads() == []
        assert holder.calls == 1  # Biden's photo never reached the engine

        again = faces.submit_photos([biden])
        assert len(again.result(timeout=DEADLINE_S)) == 1
        faces.close()
        for thread in enrol_threads():
            thread.join(DEADLINE_S)
        assert enrol_threads() == []
    finally:
        holder.release.set()
        faces.close()
        services.engine.dispose()


def test_a_full_enrolment_queue_refuses_one_more_upload_and_a_cancelled_one_frees_its_place(
    client: Any, admin_headers: dict[str, str], held: Held, pool: ThreadPoolExecutor
) -> None:
    """Each waiting upload holds its photos in memory: past faces.max_pending_enrolments the
    admin is told to send again shortly (503, Retry-After), and nothing is stored for it."""
    from api.console.error_texts import explain_message
    from tests.api.test_faces import new_resident

    faces = client.app.state.services.faces
    limit = client.app.state.services.settings.faces.max_pending_enrolments
    data = photo(*OBAMA).read_bytes()
    rid = new_resident(client, admin_headers)
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)

    first = pool.submit(enrol, client, admin_headers, rid, data)  # goes into the engine
    assert held.entered.wait(DEADLINE_S)
    waiting = [faces.submit_photos([data]) for _ in range(limit - 1)]

    refused = enrol(client, admin_headers, rid, data)
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "5"
    detail = refused.json()["detail"]
    assert "faces.max_pending_enrolments" in detail
    assert explain_message("zh", detail) == f"已有 {limit} 批照片在排队或正在识别，请稍候再上传"

    # An enrolment cancelled before its turn (as close() does) gives its place back at once.
    assert waiting[-1].cancel()
    taken = faces.submit_photos([data])
    with pytest.raises(BusyError):
        faces.submit_photos([data])

    held.release.set()
    assert first.result(DEADLINE_S).status_code == 201
    for future in [*waiting[:-1], taken]:
        assert len(future.result(DEADLINE_S)) == 1
    # Served in turn, the queue takes uploads again (another photo: the same one again would
    # not be stored twice).
    another = photo(OBAMA[0], "examples__knn_examples__train__obama__obama2.jpg").read_bytes()
    assert enrol(client, admin_headers, rid, another).status_code == 201
    templates = client.get(f"/api/v1/residents/{rid}/faces", headers=admin_headers).json()
    assert templates["templates"] == 2  # the two photos that went through the API
