"""The property office's question "which trailers came in this week?": the passage history
narrows to a plate kind (挂车, 双层黄牌, …) in the API and on 通行记录, across its pages; a
kind the reader does not know is refused naming the ones it does."""

from __future__ import annotations

from typing import Any

import pytest

from models.db import transaction
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_passage_history import local, passage, plates_listed


@pytest.fixture
def office(client: Any) -> Any:
    with transaction(client.app.state.services.sessions) as session:
        session.add_all([
            passage(local(24, 22, 0), "冀A1234挂", plate_kind="trailer"),
            passage(local(25, 7, 0), "冀B12345", plate_kind="double_row"),
            passage(local(26, 8, 0), "闽A12345", plate_kind="ordinary"),
            passage(local(27, 9, 0), "闽AD12345", plate_kind="new_energy_small"),
            passage(local(28, 23, 0), "鲁C5678挂", "review", reason="unknown_plate",
                    plate_kind="trailer"),
            # Typed at the booth or stored before 0018: no kind said, never a trailer.
            passage(local(29, 1, 0), "冀C9999挂"),
        ])
    return client


def test_the_api_lists_only_the_kind_asked_for(office: Any) -> None:
    headers = add_staff(office.app.state.services, "office", "guard")

    def plates(**params: str) -> list[str]:
        response = office.get("/api/v1/passages", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == len(response.json()["items"])
        return [item["plate"] for item in response.json()["items"]]

    assert plates(plate_kind="trailer") == ["鲁C5678挂", "冀A1234挂"]
    assert plates(plate_kind="double_row") == ["冀B12345"]
    assert plates(plate_kind="new_energy_small") == ["闽AD12345"]
    assert plates(plate_kind="police") == []
    # With the other filters: this week's trailers, the ones the gate let in.
    assert plates(plate_kind="trailer", since=local(27, 0).isoformat()) == ["鲁C5678挂"]
    assert plates(plate_kind="trailer", decision="allow") == ["冀A1234挂"]
    assert len(plates()) == 6  # no kind: every passage, those without one too


def test_the_api_refuses_an_unknown_kind_naming_the_known_ones(office: Any) -> None:
    headers = add_staff(office.app.state.services, "office", "guard")
    for wrong in ("truck", "Trailer", "挂车"):
        refused = office.get("/api/v1/passages", params={"plate_kind": wrong}, headers=headers)
        assert refused.status_code == 422, (wrong, refused.text)
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["query", "plate_kind"]
        for known in ("'trailer'", "'double_row'", "'ordinary'", "'new_energy_small'"):
            assert known in problem["msg"], problem


def test_the_history_page_lists_only_trailers_on_every_page(office: Any) -> None:
    with transaction(office.app.state.services.sessions) as session:
        session.add_all(
            passage(local(20, 8, minute), f"冀D{1000 + minute}挂", plate_kind="trailer")
            for minute in range(55)
        )
        session.add_all(
            passage(local(20, 9, minute), f"冀E{10000 + minute}", plate_kind="ordinary")
            for minute in range(30)
        )
    add_staff(office.app.state.services, "guard1", "guard")
    cookie_login(office, "guard1", "guard")

    first = office.get("/console/history", params={"plate_kind": "trailer"})
    assert first.status_code == 200, first.text
    assert "共 57 条" in first.text
    listed = plates_listed(first.text)
    assert len(listed) == 50 and all(p.endswith("挂") for p in listed)
    assert listed[:2] == ["鲁C5678挂", "冀A1234挂"] and "冀C9999挂" not in listed
    assert '<option value="trailer" selected>挂车</option>' in first.text
    assert '<option value="double_row" >双层黄牌</option>' in first.text
    # The next page keeps the filter: it is the rest of the trailers, not every passage.
    assert 'href="/console/history?plate_kind=trailer&amp;page=2" id="page-next"' in first.text
    second = office.get("/console/history", params={"plate_kind": "trailer", "page": "2"})
    assert plates_listed(second.text) == [f"冀D{1000 + m}挂" for m in range(6, -1, -1)]
    assert 'href="/console/history?plate_kind=trailer&amp;page=1" id="page-previous"' in (
        second.text)

    double = office.get("/console/history", params={"plate_kind": "double_row"})
    assert plates_listed(double.text) == ["冀B12345"]
    every = office.get("/console/history", params={"plate_kind": ""})  # 全部号牌种类
    assert every.status_code == 200 and "共 91 条" in every.text
    office.cookies.set("parkgate_lang", "en")
    english = office.get("/console/history", params={"plate_kind": "trailer"})
    assert '<option value="trailer" selected>Trailer</option>' in english.text
    assert '<option value="">All plate kinds</option>' in english.text
    assert office.get("/console/history", params={"plate_kind": "truck"}).status_code == 422
