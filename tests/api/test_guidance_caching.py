"""``GET /api/v1/guidance`` is cached as docs/parking.md's public availability API says: an
ETag and ``If-None-Match`` → 304 by building. It had neither (``no-store`` by default), so a
driver app polling for its space fetched the whole answer each time although the docs
promised a 304. With ``resident_id`` (staff) the answer tells where one resident lives and is
never stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_parking import all_free, sensor
from tests.conftest import add_user


@pytest.fixture
def client(app_factory: Any) -> Any:
    """The demo community with its simulated car park switched off: tests set the states."""
    return app_factory(parking={"sensors": {"simulate": False}})


def test_guidance_by_building_has_an_etag_and_answers_304_until_its_space_is_taken(
    client: Any,
) -> None:
    all_free(client)
    first = client.get("/api/v1/guidance", params={"building": "1"})
    assert first.status_code == 200, first.text
    assert first.json()["space"]["id"] == "A-001"
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "public, max-age=2"

    unchanged = client.get("/api/v1/guidance", params={"building": "1"},
                           headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    # Another building or kind is another answer, with its own tag.
    other = client.get("/api/v1/guidance", params={"building": "5"},
                       headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag

    assert sensor(client, "A-001", True) == "accepted"  # a car parks in the space offered
    moved = client.get("/api/v1/guidance", params={"building": "1"},
                       headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.json()["space"]["id"] == "A-002" and moved.headers["etag"] != etag


def test_guidance_for_a_resident_is_never_stored(client: Any) -> None:
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    hid = client.post("/api/v1/households", json={"building": "3", "unit": "801"},
                      headers=headers).json()["id"]
    rid = client.post("/api/v1/residents", json={"household_id": hid, "name": "陈先生"},
                      headers=headers).json()["id"]
    all_free(client)
    answer = client.get("/api/v1/guidance", params={"resident_id": rid}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["building"] == "3"
    assert answer.headers["cache-control"] == "no-store"
    assert "etag" not in answer.headers
