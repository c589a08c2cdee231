"""What the gate's screen says for each outcome: a decision table over the reason codes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controllers.values import Reason
from hardware.base import ScreenLevel
from services.screen_texts import (
    fault_message,
    idle_message,
    offline_message,
    passage_message,
    shown_plate,
    with_hold,
)

CAR = {
    "id": 5,
    "plate": "闽A12345",
    "matched_plate": None,
    "direction": "in",
    "flags": [],
    "pass_id": None,
}

VEHICLE_TABLE: list[tuple[dict[str, Any], tuple[str, ...], ScreenLevel]] = [
    ({"decision": "allow", "reason": "resident"}, ("闽A·12345", "欢迎回家"), ScreenLevel.OK),
    ({"decision": "allow", "reason": "allowed_list"}, ("闽A·12345", "欢迎回家"), ScreenLevel.OK),
    (
        {"decision": "allow", "reason": "visitor_pass", "pass_id": 3},
        ("闽A·12345", "欢迎光临", "访客 · 5栋"),
        ScreenLevel.OK,
    ),
    (
        {"decision": "allow", "reason": "exit_known_inside", "direction": "out"},
        ("闽A·12345", "一路平安"),
        ScreenLevel.OK,
    ),
    (
        {"decision": "review", "reason": "exit_not_inside", "direction": "out"},
        ("闽A·12345", "请稍候，保安确认中"),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "deny", "reason": "blocked"},
        ("闽A·12345", "未登记车辆", "请联系保安"),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "review", "reason": "unknown_plate"},
        ("闽A·12345", "未登记车辆", "请联系保安"),
        ScreenLevel.WAIT,
    ),
    ({"decision": "deny", "reason": "zone_full"}, ("闽A·12345", "车位已满"), ScreenLevel.STOP),
    (
        {"decision": "deny", "reason": "anti_passback"},
        ("闽A·12345", "禁止通行", "请联系保安"),
        ScreenLevel.STOP,
    ),
    (
        {"decision": "review", "reason": "low_confidence"},
        ("闽A·12345", "请稍候，保安确认中"),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "review", "reason": "outside_schedule"},
        ("闽A·12345", "请稍候，保安确认中"),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "review", "reason": "no_plate", "plate": None},
        ("请稍候，保安确认中",),
        ScreenLevel.WAIT,
    ),
]


@pytest.mark.parametrize(("passage", "lines", "level"), VEHICLE_TABLE)
def test_vehicle_gate_texts(
    passage: dict[str, Any], lines: tuple[str, ...], level: ScreenLevel
) -> None:
    message = passage_message(CAR | passage, pedestrian=False, host_building="5")
    assert (message.lines, message.level, message.passage_id) == (lines, level, 5)
    assert message.speak


def test_a_block_listed_car_is_told_exactly_what_an_unknown_car_is_told() -> None:
    blocked = passage_message(CAR | {"decision": "deny", "reason": "blocked"}, pedestrian=False)
    unknown = passage_message(
        CAR | {"decision": "review", "reason": "unknown_plate"}, pedestrian=False
    )
    assert blocked == unknown
    offline = [
        offline_message(CAR | {"decision": d, "reason": r, "flags": ["offline"]}, pedestrian=False)
        for d, r in (("deny", "blocked"), ("review", "unknown_plate"))
    ]
    assert offline[0] == offline[1]
    assert offline[0].lines == blocked.lines


def test_during_an_outage_the_screen_answers_as_online_without_a_passage_id() -> None:
    """The passage_offline event carries reason, flags and direction: a face gate still asks
    for the head turn, an exit still says goodbye; no row exists yet, so no passage id."""
    person = offline_message(
        {
            "plate": None,
            "decision": "review",
            "reason": "face_resident",
            "flags": ["turn_head", "offline"],
            "direction": "in",
        },
        pedestrian=True,
    )
    assert person.lines == ("请转头再试",)
    leaving = offline_message(
        CAR
        | {
            "decision": "allow",
            "reason": "exit_known_inside",
            "direction": "out",
            "flags": ["offline"],
        },
        pedestrian=False,
    )
    assert (leaving.lines, leaving.passage_id) == (("闽A·12345", "一路平安"), None)


PERSON_TABLE: list[tuple[dict[str, Any], tuple[str, ...], ScreenLevel]] = [
    ({"decision": "allow", "reason": "face_resident"}, ("欢迎回家",), ScreenLevel.OK),
    ({"decision": "allow", "reason": "pin", "direction": "out"}, ("一路平安",), ScreenLevel.OK),
    (
        {"decision": "review", "reason": "liveness_challenge", "flags": ["turn_head"]},
        ("请转头再试",),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "review", "reason": "outside_schedule", "flags": ["turn_head"]},
        ("请转头再试",),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "review", "reason": "face_unknown"},
        ("未能识别", "请联系保安"),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "deny", "reason": "liveness_failed"},
        ("验证未通过", "请联系保安"),
        ScreenLevel.STOP,
    ),
    ({"decision": "deny", "reason": "pin_wrong"}, ("密码错误", "请重试"), ScreenLevel.STOP),
    ({"decision": "deny", "reason": "qr_invalid"}, ("二维码无效",), ScreenLevel.STOP),
    # A visitor's QR pass refused for a reason the visitor can act on, never the host's name.
    (
        {"decision": "deny", "reason": "pass_not_yet_valid", "pass_id": 3},
        ("通行证未生效",),
        ScreenLevel.STOP,
    ),
    (
        {"decision": "deny", "reason": "pass_expired", "pass_id": 3},
        ("通行证已过期",),
        ScreenLevel.STOP,
    ),
    (
        {"decision": "deny", "reason": "pass_used_up", "pass_id": 3},
        ("通行证次数已用完",),
        ScreenLevel.STOP,
    ),
    (
        {"decision": "deny", "reason": "outside_schedule", "pass_id": 3},
        ("不在通行时段", "请在约定时段再来"),
        ScreenLevel.STOP,
    ),
    # The gate's own hours hold a resident or visitor for the guard: not a refusal.
    (
        {"decision": "review", "reason": "outside_schedule"},
        ("请稍候，保安确认中",),
        ScreenLevel.WAIT,
    ),
    (
        {"decision": "review", "reason": "database_unavailable"},
        ("请稍候，保安确认中",),
        ScreenLevel.WAIT,
    ),
]


@pytest.mark.parametrize(("passage", "lines", "level"), PERSON_TABLE)
def test_face_gate_texts(
    passage: dict[str, Any], lines: tuple[str, ...], level: ScreenLevel
) -> None:
    message = passage_message(CAR | passage, pedestrian=True, host_building="5")
    assert (message.lines, message.level) == (lines, level)
    if level is not ScreenLevel.OK:
        assert message.speak == "，".join(lines)


@pytest.mark.parametrize("reason", list(Reason))
@pytest.mark.parametrize("decision", ["allow", "deny", "review"])
@pytest.mark.parametrize("pedestrian", [False, True])
def test_every_reason_has_a_message_that_fits_a_screen(
    reason: Reason, decision: str, pedestrian: bool
) -> None:
    message = passage_message(
        CAR | {"decision": decision, "reason": str(reason)}, pedestrian=pedestrian
    )
    held = with_hold(message, space="B-001", zone="B区地下", distance_m=30.0)
    assert 1 <= len(message.lines) <= 3 and len(held.lines) <= 4 and message.level is not None


def test_plates_holds_faults_and_idle() -> None:
    assert shown_plate("闽A12345") == "闽A·12345"
    assert shown_plate("粤BD12345") == "粤B·D12345"
    assert shown_plate("WJ12345") == "WJ12345"
    welcome = passage_message(CAR | {"decision": "allow", "reason": "resident"}, pedestrian=False)
    held = with_hold(welcome, space="B-001", zone="B区", distance_m=29.2)
    assert held.lines == ("闽A·12345", "欢迎回家", "请停 B-001", "B区 约30米")
    assert with_hold(welcome, space="B-001", zone=None, distance_m=None).lines[2:] == (
        "请停 B-001",
    )
    assert fault_message("闽A·12345", 5).lines == ("闽A·12345", "道闸故障", "请联系保安")
    assert idle_message(23).lines == ("余位 23",) and idle_message(None).lines == ()


def test_every_message_the_screens_are_sent_matches_the_published_schema() -> None:
    """The JSON a screen driver sends (ScreenMessage.payload) for every message the texts
    can build validates against docs/schemas/parkgate.screen.v1.json, and the schema names
    and requires exactly the fields sent: a device maker codes against it."""
    import json
    from datetime import UTC, datetime

    from jsonschema import Draft202012Validator

    from services.screen_texts import guard_opened_message
    from tests.conftest import ROOT

    schema = json.loads(
        (ROOT / "docs" / "schemas" / "parkgate.screen.v1.json").read_text(encoding="utf-8")
    )
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    messages = [
        idle_message(23),
        idle_message(None),
        guard_opened_message(),
        guard_opened_message(5),
        fault_message("闽A·12345", 5),
        fault_message(None, 5),
    ]
    for pedestrian in (False, True):
        for decision in ("allow", "deny", "review"):
            offline = offline_message(
                CAR | {"decision": decision, "reason": "unknown_plate", "flags": ["offline"]},
                pedestrian=pedestrian,
            )
            messages += [offline, with_hold(offline, space="B-001", zone=None, distance_m=None)]
            for reason in Reason:
                for extra in ({}, {"pass_id": 3, "direction": "out"}, {"pass_id": 3}):
                    told = passage_message(
                        CAR | extra | {"decision": decision, "reason": str(reason)},
                        pedestrian=pedestrian,
                        host_building="12",
                    )
                    messages += [
                        told,
                        with_hold(told, space="B-001", zone="B区地下", distance_m=30.0),
                    ]
    at = datetime.now(UTC)
    for seq, message in enumerate(messages, start=1):
        payload = replace(message, seq=seq).payload("main-in", at)
        validator.validate(payload)
        assert set(payload) == set(schema["properties"]) == set(schema["required"]), payload
