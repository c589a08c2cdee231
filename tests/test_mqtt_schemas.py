"""The city messages parkgate publishes match the JSON Schemas a city hub validates against
(docs/schemas/), and the schemas follow the codes the controller can emit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from controllers.barrier import BarrierState
from controllers.events import Event
from controllers.values import Credential, Direction, Reason, Verdict
from services.city_mqtt import to_message
from tests.conftest import ROOT

SCHEMAS = ROOT / "docs" / "schemas"
AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"parkgate.{name}.v1.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def message(event: Event, *, publish_plates: bool = False) -> tuple[str, dict[str, Any]]:
    # As a controller sends them since the controller field (services/controller_id.py).
    produced = to_message(event, "demo", publish_plates=publish_plates, controller="0a1b2c3d4e5f")
    assert produced is not None
    topic, payload, _retain = produced
    return topic.split("/")[0], payload


def passage(**over: Any) -> Event:
    data = {
        "id": 812,
        "at": "2026-11-28T09:59:58.120000+00:00",
        "gate_id": "main-in",
        "direction": "in",
        "zone_id": "A",
        "plate": "闽A12345",
        "plate_color": "blue",
        "decision": "allow",
        "reason": "resident",
        "credential": "plate",
        **over,
    }
    return Event("passage", data, AT)


EXAMPLES = [
    Event(
        "availability",
        {
            "zones": [{"id": "A", "capacity": 40, "free": 31}],
            "total_capacity": 40,
            "total_free": 31,
        },
        AT,
    ),
    passage(),
    passage(plate=None, plate_color=None, credential="face", zone_id=None),  # a pedestrian
    passage(decision="review", reason="unknown_plate", plate="闽AD12345", plate_color="green"),
    passage(flags=["typed"], credential="plate"),  # a guard typed it, the camera dark
    passage(plate="冀A1234挂", plate_color="yellow", plate_kind="trailer"),  # 挂车
    passage(
        flags=["offline", "outside_schedule", "resident"],
        decision="review",
        reason="outside_schedule",
    ),
    Event(
        "alarm", {"id": 17, "kind": "blocked_plate", "gate_id": "main-in", "passage_id": 812}, AT
    ),
    # Raised during a database outage: no row, so no id yet.
    Event(
        "alarm",
        {"id": None, "kind": "hardware_fault", "gate_id": "main-in", "passage_id": None},
        AT,
    ),
    Event("alarm", {"id": 3, "kind": "database_outage", "gate_id": None, "passage_id": None}, AT),
    *[
        Event(
            "gate",
            {
                "gate_id": "main-in",
                "state": str(state),
                "fault": "no answer" if state is BarrierState.FAULT else None,
            },
            AT,
        )
        for state in BarrierState
    ],
]
KIND = {"availability": "availability", "passages": "passage", "alarms": "alarm", "gates": "gate"}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: f"{e.type}-{e.data.get('state', '')}")
@pytest.mark.parametrize("publish_plates", [False, True], ids=["masked", "full_plates"])
def test_every_published_message_matches_its_schema(event: Event, publish_plates: bool) -> None:
    topic, payload = message(event, publish_plates=publish_plates)
    validator(KIND[topic]).validate(payload)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schema": "parkgate.passage/2"}, "schema"),  # another major version
        ({"decision": "maybe"}, "decision"),
        ({"direction": "sideways"}, "direction"),
        ({"id": None}, "id"),  # a passage always has its database id
        ({"time": "yesterday"}, "time"),
    ],
)
def test_the_passage_schema_refuses_what_a_hub_must_not_take(
    change: dict[str, Any], field: str
) -> None:
    _topic, payload = message(passage())
    with pytest.raises(ValidationError) as refused:
        validator("passage").validate({**payload, **change})
    assert field in refused.value.json_path or field in refused.value.message


@pytest.mark.parametrize("event", EXAMPLES[::3], ids=lambda e: e.type)
def test_a_minor_version_validates_and_another_major_does_not(event: Event) -> None:
    """docs/mqtt.md: a consumer reads a minor version (as the reference hub does) and refuses
    another major one; the schemas had "const": "parkgate.<kind>/1", so a hub validating with
    them would have refused parkgate.<kind>/1.1."""
    topic, payload = message(event)
    schema = validator(KIND[topic])
    name = payload["schema"].partition("/")[0]
    for version in ("1.1", "1.12"):
        schema.validate({**payload, "schema": f"{name}/{version}"})
    for version in ("2", "11", "1.", "1.x", "10.1"):
        with pytest.raises(ValidationError):
            schema.validate({**payload, "schema": f"{name}/{version}"})
    with pytest.raises(ValidationError):
        schema.validate({**payload, "schema": f"parkgate-{name}/1"})  # the dot is a dot


def test_a_message_without_a_required_field_is_refused() -> None:
    _topic, payload = message(passage())
    del payload["gate_id"]
    with pytest.raises(ValidationError, match="'gate_id' is a required property"):
        validator("passage").validate(payload)


def test_the_schemas_name_every_code_the_controller_can_send() -> None:
    """A new barrier state, verdict or direction must reach the schema (and a hub's
    validation) in the same change; reasons and credentials are open codes of one form."""
    props = {
        name: json.loads((SCHEMAS / f"parkgate.{name}.v1.json").read_text("utf-8"))["properties"]
        for name in ("passage", "gate")
    }
    assert set(props["gate"]["state"]["enum"]) == {str(s) for s in BarrierState}
    assert set(props["passage"]["decision"]["enum"]) == {str(v) for v in Verdict}
    assert set(props["passage"]["direction"]["enum"]) == {str(d) for d in Direction}
    passage_schema = validator("passage")
    _topic, payload = message(passage())
    for reason in Reason:
        passage_schema.validate({**payload, "reason": str(reason)})
    for credential in Credential:
        passage_schema.validate({**payload, "credential": str(credential)})


def test_docs_link_each_schema() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    for path in sorted(SCHEMAS.glob("*.json")):
        assert f"schemas/{path.name}" in text, path.name


def test_a_passage_says_which_flags_qualify_it() -> None:
    """A hub learns that a guard typed the plate (the camera did not read it) or that the
    gates decided offline; an ordinary read has none."""
    _topic, typed = message(passage(flags=["typed"]))
    assert typed["flags"] == ["typed"]
    _topic, plain = message(passage())
    assert plain["flags"] == []
    with pytest.raises(ValidationError):
        validator("passage").validate({**plain, "flags": ["Typed by guard1"]})


def test_a_trailer_passage_says_its_plate_kind_and_an_older_row_says_none() -> None:
    """plate_kind (挂车, 双层黄牌) is carried to the hub as the stored passage says it; a row
    stored before the field, or a passage without a read plate, sends null."""
    trailer_passage = passage(plate="冀A1234挂", plate_color="yellow", plate_kind="trailer")
    _topic, trailer = message(trailer_passage)
    assert trailer["plate_kind"] == "trailer" and trailer["plate"] == "冀A1***挂"
    _topic, older = message(passage())
    assert older["plate_kind"] is None
    with pytest.raises(ValidationError):
        validator("passage").validate({**trailer, "plate_kind": "挂车"})  # a code, not a label
