"""What a lane screen says to the person at the gate, for each outcome (pure: no I/O).

These are resident-facing texts, not the guards' labels in api/console/i18n.py: short enough
for a lane screen (车道屏) and polite, and they never tell a driver *why* a car is refused
when that would give something away. A car on the block list is shown exactly what an
unregistered car is shown (lines, level and speech), so a driver cannot learn from the
screen that the community listed them; the guards still get the alarm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hardware.base import SCREEN_MAX_LINE_CHARS, ScreenLevel, ScreenMessage

WELCOME_HOME = "欢迎回家"
WELCOME_VISITOR = "欢迎光临"
GOODBYE = "一路平安"
PLEASE_WAIT = "请稍候，保安确认中"
CALL_GUARD = "请联系保安"
UNREGISTERED = "未登记车辆"
NO_ENTRY = "禁止通行"
ZONE_FULL = "车位已满"
BARRIER_FAULT = "道闸故障"
GUARD_OPENED = "保安已放行"
TURN_HEAD = "请转头再试"
STEP_CLOSER = "请靠近摄像头"
ONE_AT_A_TIME = "请一人一次刷脸"

# A plate as drivers read it on the plate itself: 闽A·12345 (GA 36-2018 puts the dot after
# the issuing letter).
_PLATE = re.compile(r"^([^\x00-\x7f])([A-Z])([A-Z0-9\u4e00-\u9fff]{4,6})$")

# Person-gate refusals the person can act on; any other is the generic one.
_PERSON_TEXTS: dict[str, tuple[tuple[str, ...], ScreenLevel]] = {
    "liveness_challenge": ((TURN_HEAD,), ScreenLevel.WAIT),
    "no_face": (("请正对摄像头",), ScreenLevel.WAIT),
    "face_unknown": (("未能识别", CALL_GUARD), ScreenLevel.WAIT),
    "liveness_failed": (("验证未通过", CALL_GUARD), ScreenLevel.STOP),
    "pin_wrong": (("密码错误", "请重试"), ScreenLevel.STOP),
    "pin_locked": (("密码已锁定", CALL_GUARD), ScreenLevel.STOP),
    "qr_invalid": (("二维码无效",), ScreenLevel.STOP),
    "pass_not_yet_valid": (("通行证未生效",), ScreenLevel.STOP),
    "pass_expired": (("通行证已过期",), ScreenLevel.STOP),
    "pass_used_up": (("通行证次数已用完",), ScreenLevel.STOP),
}

# A QR pass refused at this hour by its own weekdays and daily hours (a cleaner's 周一至周五
# 08:00–12:00 at 14:00). Only a refusal: a gate's own hours hold a person for the guard
# (review, 请稍候) under the same reason code. The pass's hours are not shown: the passage
# does not carry them, and the visitor was given them with the code.
PASS_OFF_HOURS = (("不在通行时段", "请在约定时段再来"), ScreenLevel.STOP)


def shown_plate(plate: str | None) -> str | None:
    """``闽A12345`` → ``闽A·12345``; anything that is not a whole plate is shown as read."""
    if not plate:
        return None
    found = _PLATE.match(plate)
    if found is None:
        return plate[:SCREEN_MAX_LINE_CHARS]
    return f"{found[1]}{found[2]}·{found[3]}"


def shown_building(building: str | None) -> str | None:
    """A household's building as a visitor reads it on the signs: ``5`` → ``5栋``."""
    if not building:
        return None
    building = building.strip()
    return f"{building}栋" if building.isdigit() else building


def _message(
    plate: str | None,
    lines: tuple[str, ...],
    level: ScreenLevel,
    speak: str | None,
    passage_id: int | None,
) -> ScreenMessage:
    shown = tuple(line[:SCREEN_MAX_LINE_CHARS] for line in ((plate,) if plate else ()) + lines)
    return ScreenMessage(shown, level, speak, passage_id)


def passage_message(
    passage: Mapping[str, Any], *, pedestrian: bool, host_building: str | None = None
) -> ScreenMessage:
    """The screen's answer to one decided passage (the bus's ``passage`` event data).

    ``host_building``: the building of the household a visitor's pass names, when known."""
    decision = passage.get("decision")
    reason = str(passage.get("reason") or "")
    flags = set(passage.get("flags") or ())
    leaving = passage.get("direction") == "out"
    passage_id = passage.get("id")
    allowed = decision == "allow"
    plate = (
        None
        if pedestrian
        else shown_plate(
            (passage.get("matched_plate") or passage.get("plate"))
            if allowed
            else passage.get("plate")
        )
    )
    if allowed:
        if leaving:
            return _message(plate, (GOODBYE,), ScreenLevel.OK, GOODBYE, passage_id)
        if passage.get("pass_id") is not None:
            building = shown_building(host_building)
            visitor = (f"访客 · {building}",) if building else ("访客",)
            return _message(
                plate, (WELCOME_VISITOR, *visitor), ScreenLevel.OK, WELCOME_VISITOR, passage_id
            )
        return _message(plate, (WELCOME_HOME,), ScreenLevel.OK, WELCOME_HOME, passage_id)
    if pedestrian:
        if "turn_head" in flags:
            reason = "liveness_challenge"
        if reason == "pin_wrong" and "now_locked" in flags:
            locked = ("密码错误，已锁定", CALL_GUARD)
            return _message(None, locked, ScreenLevel.STOP, "，".join(locked), passage_id)
        if "face_too_small" in flags:
            return _message(None, (STEP_CLOSER,), ScreenLevel.WAIT, STEP_CLOSER, passage_id)
        if "several_faces" in flags:
            return _message(None, (ONE_AT_A_TIME,), ScreenLevel.WAIT, ONE_AT_A_TIME, passage_id)
        if reason == "outside_schedule" and decision == "deny":
            off_hours, stop = PASS_OFF_HOURS
            return _message(None, off_hours, stop, "，".join(off_hours), passage_id)
        lines, level = _PERSON_TEXTS.get(
            reason,
            ((PLEASE_WAIT,), ScreenLevel.WAIT)
            if decision == "review"
            else ((NO_ENTRY, CALL_GUARD), ScreenLevel.STOP),
        )
        return _message(None, lines, level, "，".join(lines), passage_id)
    if reason in ("blocked", "unknown_plate") and not leaving:
        # One message for both: the screen must not tell a listed car from an unknown one.
        return _message(
            plate,
            (UNREGISTERED, CALL_GUARD),
            ScreenLevel.WAIT,
            f"{UNREGISTERED}，{CALL_GUARD}",
            passage_id,
        )
    if reason == "zone_full":
        return _message(plate, (ZONE_FULL,), ScreenLevel.STOP, ZONE_FULL, passage_id)
    if decision == "deny" and not leaving:
        return _message(
            plate, (NO_ENTRY, CALL_GUARD), ScreenLevel.STOP, f"{NO_ENTRY}，{CALL_GUARD}", passage_id
        )
    return _message(plate, (PLEASE_WAIT,), ScreenLevel.WAIT, PLEASE_WAIT, passage_id)


def offline_message(passage: Mapping[str, Any], *, pedestrian: bool) -> ScreenMessage:
    """The answer to a passage decided during a database outage (``passage_offline``): as
    online, from the reason, flags and direction the event carries (请转头再试 at a face gate,
    一路平安 at an exit; a listed car still told what an unknown one is), with no passage id
    (there is no row yet) and no visitor's host building (no database to ask)."""
    return passage_message({**passage, "id": None}, pedestrian=pedestrian)


def with_hold(
    message: ScreenMessage, *, space: str, zone: str | None, distance_m: float | None
) -> ScreenMessage:
    """The entry's message with the space parkgate held for the car: 请停 B-001, then where
    it is (zone, walking distance)."""
    where = " ".join(
        part
        for part in (
            zone,
            f"约{math.ceil(distance_m)}米" if distance_m is not None else None,
        )
        if part
    )
    keep = message.lines[:2]
    lines = (
        *keep,
        f"请停 {space}"[:SCREEN_MAX_LINE_CHARS],
        *((where[:SCREEN_MAX_LINE_CHARS],) if where else ()),
    )
    speak = f"{message.speak}，请停{space}" if message.speak else f"请停{space}"
    return replace(message, lines=lines, speak=speak)


def fault_message(plate_line: str | None, passage_id: int | None) -> ScreenMessage:
    """The barrier did not open for an allowed car."""
    return _message(
        plate_line,
        (BARRIER_FAULT, CALL_GUARD),
        ScreenLevel.STOP,
        f"{BARRIER_FAULT}，{CALL_GUARD}",
        passage_id,
    )


def guard_opened_message(passage_id: int | None = None) -> ScreenMessage:
    """A guard let the car or person through (the gate strip's 开闸, the review queue)."""
    return ScreenMessage((GUARD_OPENED,), ScreenLevel.OK, GUARD_OPENED, passage_id)


def idle_message(free: int | None) -> ScreenMessage:
    """The screen at rest: the free spaces of the gate's zone when they are known."""
    return ScreenMessage((f"余位 {free}",) if free is not None else ())
