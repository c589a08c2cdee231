"""A camera key is good for its own gate and for nothing else.

A gate whose ``push_camera.key_name`` names its camera takes frames from that camera's key
only: the exit camera's key (a camera pushing to the wrong URL, or a key read out of a side
gate's camera on the LAN) pushing a resident's plate photo to the entry gate opened the
entry barrier. The same holds for PINs and QR codes a gate's keypad posts: one leaked key
guessed PINs at every gate. Staff uploads and gates that name no camera are as before, and a
camera key reaches no staff route."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from models.events import Passage
from tests.api.test_credentials import resident_with_pin
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import LabelledPhoto, add_user

ENTRY_CAMERA = {"X-API-Key": "entry-camera-key-0123456789"}
EXIT_CAMERA = {"X-API-Key": "exit-camera-key-0123456789"}


def _app(app_factory: Any) -> Any:
    from settings import demo_community

    community = demo_community().model_dump()
    community["gates"][0]["push_camera"] = {"key_name": "cam-entry"}  # main-in
    community["gates"][1]["push_camera"] = {"key_name": "cam-exit"}  # main-out
    keys = {"cam-entry": ENTRY_CAMERA["X-API-Key"], "cam-exit": EXIT_CAMERA["X-API-Key"],
            "cam-main": "test-camera-key"}
    return app_factory(community=community, camera_api_keys=keys)


def _push(client: Any, gate: str, photo: LabelledPhoto, headers: dict[str, str]) -> Any:
    return client.post(f"/api/v1/gates/{gate}/frames", content=photo.path.read_bytes(),
                       headers={**headers, "Content-Type": "image/jpeg"})


def _passages(client: Any) -> int:
    with client.app.state.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Passage)) or 0)


def test_another_cameras_key_cannot_open_a_gate_that_names_its_camera(
    app_factory: Any, readable_photos: list[LabelledPhoto]
) -> None:
    client = _app(app_factory)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    photo = readable_photos[0]
    register_resident_car(client, admin, photo.plate)
    barrier = client.app.state.services.barriers["main-in"]

    refused = _push(client, "main-in", photo, EXIT_CAMERA)
    assert refused.status_code == 403, refused.text
    assert "'cam-exit' is not the one set for main-in's camera" in refused.json()["detail"]
    assert str(barrier.state) == "closed" and _passages(client) == 0
    # A key no gate names is refused as well where the gate names its camera.
    assert _push(client, "main-in", photo, {"X-API-Key": "test-camera-key"}).status_code == 403

    own = _push(client, "main-in", photo, ENTRY_CAMERA)
    assert own.status_code == 200, own.text
    assert own.json()["decision"] == "allow" and str(barrier.state) in ("opening", "open")


def test_staff_and_gates_naming_no_camera_are_as_before(
    app_factory: Any, readable_photos: list[LabelledPhoto]
) -> None:
    client = _app(app_factory)
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    photo = readable_photos[1]
    assert _push(client, "main-in", photo, guard).status_code == 200  # a guard's upload
    # ped-1 names no camera: any camera key may push to it (a 4xx of its own, not a 403).
    assert _push(client, "ped-1", photo, EXIT_CAMERA).status_code != 403


def test_a_camera_key_reaches_no_staff_route(app_factory: Any) -> None:
    client = _app(app_factory)
    for headers in (ENTRY_CAMERA, {"Authorization": f"Bearer {ENTRY_CAMERA['X-API-Key']}"}):
        for method, path in (("GET", "/api/v1/passages"), ("GET", "/api/v1/households"),
                             ("POST", "/api/v1/gates/main-in/actions"),
                             ("POST", "/api/v1/gates/main-in/typed-plate"),
                             ("GET", "/api/v1/events/stream")):
            answer = client.request(method, path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers, answer.text)


def test_a_keypad_takes_pins_from_its_gates_camera_key_only(app_factory: Any) -> None:
    """A pedestrian gate's keypad or QR reader posts with the gate's camera key (a face
    terminal with a keypad is one device): another camera's key guessing PINs there is
    refused before the PIN is tried, so it counts nothing toward the resident's lock-out."""
    from settings import demo_community

    community = demo_community().model_dump()
    community["gates"][2]["push_camera"] = {"key_name": "cam-ped"}  # ped-1
    ped_camera = {"X-API-Key": "ped-camera-key-0123456789"}
    client = app_factory(community=community, camera_api_keys={
        "cam-ped": ped_camera["X-API-Key"], "cam-exit": EXIT_CAMERA["X-API-Key"]})
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    rid = resident_with_pin(client, admin)
    barrier = client.app.state.services.barriers["ped-1"]

    def present(pin: str, headers: dict[str, str]) -> Any:
        return client.post("/api/v1/gates/ped-1/credentials", headers=headers,
                           json={"kind": "pin", "resident_id": rid, "pin": pin})

    for guess in ("000001", "000002", "000003", "000004", "000005", "482913"):
        refused = present(guess, EXIT_CAMERA)
        assert refused.status_code == 403, refused.text
        assert "'cam-exit' is not the one set for ped-1's camera" in refused.json()["detail"]
    assert str(barrier.state) == "closed" and _passages(client) == 0

    own = present("482913", ped_camera)  # not locked out by the refused guesses
    assert own.status_code == 200, own.text
    assert (own.json()["decision"], own.json()["reason"]) == ("allow", "pin")
    # The guard's login is no camera key: it may still present a PIN at the gate.
    guard = {"Authorization": f"Bearer {add_user(client, 'guard', 'guard')}"}
    assert present("482913", guard).json()["reason"] == "pin"
