"""The city hub runs for months on a broker others publish to: what it refuses is logged once
per kind, and the kinds it remembers for that are bounded (a refusal quotes the message's own
schema, so a publisher sending ever-new ones made the hub's memory and log grow for ever)."""

from __future__ import annotations

import json

import pytest

from services.city_hub import REFUSALS_LOGGED, CityHub


def test_ever_new_bad_schemas_are_counted_not_remembered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = CityHub()
    sent = REFUSALS_LOGGED * 3
    for i in range(sent):
        body = json.dumps({"schema": f"junk.{i}", "id": i}).encode()
        assert hub.take("parkgate/east/passages", body) is None
    assert hub.refused == sent
    assert len(hub._refusals_logged) == REFUSALS_LOGGED
    said = [r.getMessage() for r in caplog.records if r.name == "services.city_hub"]
    assert len(said) == REFUSALS_LOGGED + 1  # one per kind remembered, one saying it is full
    assert "counted without a word" in said[-1]
    # A kind already remembered is still refused quietly.
    assert hub.take("parkgate/east/passages", json.dumps({"schema": "junk.0"}).encode()) is None
    assert len(caplog.records) == REFUSALS_LOGGED + 1
