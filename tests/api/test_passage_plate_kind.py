"""A trailer or a large vehicle's two-row plate, as the reader tells it, reaches the stored
passage, the API and the guard's rows and cards (挂车 / 双层黄牌); passages without it (older
than the field, no plate read) render as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.values import Sighting
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_live import card_of, row_of, unread_passage
from vision.types import PlateColor, PlateRead
from vision.voting import PlateVoter


def voted(plate: str, *, double_row: bool) -> Sighting:
    """Three frames of one plate through the gate's vote, as the camera pipeline does."""
    voter = PlateVoter(window_seconds=3, min_reads=3, cooldown_seconds=30)
    start = datetime.now(UTC)
    read = PlateRead(plate, 0.93, PlateColor.YELLOW, None, (0.93,) * len(plate),
                     double_row=double_row)
    sightings = [voter.add("main-in", [read], start + timedelta(seconds=i * 0.2))
                 for i in range(3)]
    sighting = sightings[-1]
    assert sighting is not None
    return sighting


def passage_of(client: Any, sighting: Sighting) -> int:
    result = client.portal.call(client.app.state.services.runtime.handle_sighting, sighting)
    assert result.passage_id is not None
    return int(result.passage_id)


def test_a_voted_trailer_is_stored_and_shown_to_the_guard(client: Any) -> None:
    from models.events import Passage

    sighting = voted("冀A1234挂", double_row=True)
    assert (sighting.plate, sighting.kind) == ("冀A1234挂", "trailer")
    passage_id = passage_of(client, sighting)

    with client.app.state.services.sessions() as session:
        stored = session.get(Passage, passage_id)
        assert stored is not None and (stored.plate_color, stored.plate_kind) == (
            "yellow", "trailer")
    headers = add_staff(client.app.state.services, "guard", "guard")
    api = client.get(f"/api/v1/passages/{passage_id}", headers=headers)
    assert api.status_code == 200 and api.json()["plate_kind"] == "trailer", api.text

    cookie_login(client, "guard", "guard")
    label = '<span class="badge plate-kind" data-plate-kind="trailer">挂车</span>'
    for html in (client.get("/console").text,
                 client.get(f"/console/fragments/passage/{passage_id}").text,
                 client.get("/console/fragments/passages").text):
        assert label in row_of(html, passage_id)
    # An unknown trailer waits for the guard: the card says what is at the gate too.
    assert label in card_of(client.get("/console").text, passage_id)
    client.cookies.set("parkgate_lang", "en")
    row = row_of(client.get(f"/console/fragments/passage/{passage_id}").text, passage_id)
    assert '<span class="badge plate-kind" data-plate-kind="trailer">Trailer</span>' in row


def test_a_two_row_truck_plate_is_labelled_and_an_ordinary_read_is_not(client: Any) -> None:
    truck = passage_of(client, voted("冀A12345", double_row=True))
    car = passage_of(client, voted("冀B12345", double_row=False))
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    rows = client.get("/console/fragments/passages").text
    assert '<span class="badge plate-kind" data-plate-kind="double_row">双层黄牌</span>' in (
        row_of(rows, truck))
    assert "plate-kind" not in row_of(rows, car)


def test_passages_without_a_kind_render_as_before(client: Any) -> None:
    """A passage stored before plate_kind (NULL), and one with no plate read at all."""
    from models.db import transaction
    from models.events import Passage

    older = passage_of(client, voted("冀A1234挂", double_row=True))
    with transaction(client.app.state.services.sessions) as session:
        passage = session.get(Passage, older)
        assert passage is not None
        passage.plate_kind = None  # as migration 0018 leaves the rows before it
    unread = unread_passage(client)
    headers = add_staff(client.app.state.services, "guard", "guard")
    for passage_id in (older, unread):
        api = client.get(f"/api/v1/passages/{passage_id}", headers=headers)
        assert api.status_code == 200 and api.json()["plate_kind"] is None, api.text
    cookie_login(client, "guard", "guard")
    page = client.get("/console")
    assert page.status_code == 200
    for passage_id in (older, unread):
        assert "plate-kind" not in row_of(page.text, passage_id)
        single = client.get(f"/console/fragments/passage/{passage_id}")
        assert single.status_code == 200 and "plate-kind" not in single.text
    assert "plate-kind" not in card_of(page.text, unread)


def test_a_trailer_decided_offline_is_labelled_from_the_journal(client: Any) -> None:
    """During an outage the booth shows the journalled passage until it is written back; the
    label comes with it, as the stored row will have it."""
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    services.runtime.hold_offline(True)  # as during an outage: decided and journalled offline
    try:
        result = client.portal.call(services.runtime.handle_sighting,
                                    voted("冀A1234挂", double_row=True))
        assert result.passage_id is None and result.journal_id is not None
        row = client.get(f"/console/fragments/journal/{result.journal_id}")
        assert row.status_code == 200, row.text
        assert f'data-journal="{result.journal_id}"' in row.text
        assert '<span class="badge plate-kind" data-plate-kind="trailer">挂车</span>' in row.text
    finally:
        services.runtime.hold_offline(False)
