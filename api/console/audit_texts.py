"""The audit log in the console's language: action names, filter groups and detail labels.

The log stores codes (``gate.open``) and raw details (``outcome=opening``) because the CSV
export and the API hand them to other programs; the page shows them to people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from api.console.error_texts import LABELS, explain_message
from api.console.i18n import Lang, code, translate
from api.console.pass_schedule import weekdays_text
from api.console.rendering import local_time

# Every action the audit log records (grep AuditEntry / audit(…)), grouped by the prefix the
# search matches on, so the filter offers "all gate actions" as well as "open gate".
AUDIT_ACTIONS: dict[str, tuple[str, ...]] = {
    "gate": ("gate.open", "gate.close", "gate.hold_open", "gate.release", "gate.typed_plate"),
    "passage": ("passage.resolve",),
    "alarm": ("alarm.ack",),
    "pass": ("pass.create", "pass.update", "pass.delete"),
    "list": ("list.block", "list.allow", "list.delete"),
    "household": ("household.create", "household.update", "household.delete",
                  "household.import", "household.move_out"),
    "resident": ("resident.create", "resident.update", "resident.delete", "resident.pin_set",
                 "resident.pin_cleared", "resident.data_export", "resident.phone_reveal"),
    "vehicle": ("vehicle.create", "vehicle.update", "vehicle.delete"),
    "face": ("face.consent", "face.consent_withdrawn", "face.enrol", "face.delete",
             "face.snapshots_delete"),
    "user": ("user.create", "user.activate", "user.deactivate", "user.role_change",
             "user.password_reset", "user.password_change"),
    "zone": ("zone.correct",),
    "presence": ("presence.left",),
    "safety": ("safety.fire_alarm", "safety.fire_alarm_cleared"),
    "guidance": ("guidance.hold", "guidance.release"),
    "auth": ("auth.login", "auth.login_failed", "auth.logout"),
}
# Detail values that are stored codes (decisions, barrier states, alarm kinds, roles).
_CODED_DETAILS = frozenset({"outcome", "kind", "resolution", "role", "admission", "via",
                            "decision", "passage_reason", "previous_role"})
_HOUSEHOLD_DETAILS = frozenset({"household_id", "host_household_id"})
_ID_DETAILS = frozenset({"pass_id", "resident_id", "vehicle_id", "passage_id"})
# 批量导入's summary entry: each kind's counts and how they are worded.
_IMPORT_COUNTS = {"households": "audit.import_counts", "residents": "audit.import_counts",
                  "vehicles": "audit.import_counts.vehicles"}
# Details whose null says something (a pass's max_uses: no limit).
_NULL_MEANS = frozenset({"max_uses"})


def action_label(lang: Lang, action: str) -> str:
    """An audit action by its name; an action without one shows as its code."""
    key = f"audit.action.{action}"
    text = translate(lang, key)
    return action if text == key else text


def _detail_label(lang: Lang, key: str) -> str:
    text_key = f"audit.detail.{key}"
    text = translate(lang, text_key)
    if text != text_key:
        return text
    return translate(lang, LABELS[key]) if key in LABELS else key


def _detail_value(
    lang: Lang, key: str, value: Any, households: Mapping[int, str], tz: ZoneInfo,
    residents: Mapping[int, str], zones: Mapping[str, str] | None = None,
    gates: Mapping[str, str] | None = None,
) -> str:
    if key in _CODED_DETAILS and isinstance(value, str):
        return code(lang, value)
    if isinstance(value, bool):
        return translate(lang, "audit.yes" if value else "audit.no")
    if key == "list" and isinstance(value, str):
        return translate(lang, f"list.{value}")  # 黑名单, 白名单
    if key == "plate_color" and isinstance(value, str):
        return translate(lang, f"color.{value}")
    if key in _HOUSEHOLD_DETAILS and isinstance(value, int):
        return households.get(value, f"#{value}")
    if key == "resident_id" and isinstance(value, int) and value in residents:
        return f"#{value} {residents[value]}"  # a car's driver, by name while they are on file
    if key in _ID_DETAILS and isinstance(value, int):
        return f"#{value}"
    if key == "zone" and isinstance(value, str):
        # By its name, as 场内车辆 and the boards name it; the id while no zone has it.
        return (zones or {}).get(value, value)
    if key == "error" and isinstance(value, str):
        # The API's English, as the console words it; a gate by its name, as the row's 道闸
        # column names it (a guard knows 东门入口, not main-in).
        return explain_message(lang, value, gates)
    if key == "session" and isinstance(value, str):
        return value[:12]  # enough to pair a log-out with its login; the CSV has it whole
    if key == "inside" and isinstance(value, str):
        # A car parked inside whose presence moved with its corrected plate or flat.
        text = translate(lang, f"audit.inside.{value}")
        return value if text == f"audit.inside.{value}" else text
    if key == "max_uses" and value is None:
        return translate(lang, "audit.unlimited")
    if key == "weekdays" and isinstance(value, str):
        try:
            return weekdays_text(lang, value)  # mon,tue,wed,thu,fri → 周一至周五
        except ValueError:
            return value
    if key in ("until", "refused_until", "valid_from", "valid_to", "entered_at", "listed_at") \
            and isinstance(value, str):
        try:
            return local_time(value, tz, "%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if key in _IMPORT_COUNTS and isinstance(value, dict) and "create" in value:
        # 批量导入's counts (services/resident_import.py summary) as the import page words
        # them; cars are only ever added, so they have no 更新.
        return translate(lang, _IMPORT_COUNTS[key], **{
            k: value.get(k, 0) for k in ("create", "existing", "update", "unchanged")})
    if key == "fields" and isinstance(value, list):
        return translate(lang, "pass.day_sep").join(_detail_label(lang, str(v)) for v in value)
    if key == "changes" and isinstance(value, dict):
        # A pass edit's old -> new values, each shown as its own detail would be.
        return translate(lang, "admin.join").join(
            _detail_label(lang, name) + translate(lang, "admin.sep")
            + " → ".join(_changed_value(lang, name, v, households, tz, residents)
                         for v in pair)
            for name, pair in value.items() if isinstance(pair, list)
        )
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _changed_value(
    lang: Lang, key: str, value: Any, households: Mapping[int, str], tz: ZoneInfo,
    residents: Mapping[int, str],
) -> str:
    """One side of a change; an empty side says what empty means for that field."""
    if value is None and key not in _NULL_MEANS:
        return translate(lang, "pass.every_day" if key == "weekdays" else
                         "pass.all_day" if key in ("hours_from", "hours_to") else "audit.none")
    return _detail_value(lang, key, value, households, tz, residents)


def audit_details(
    lang: Lang, details: Mapping[str, Any], households: Mapping[int, str], tz: ZoneInfo,
    residents: Mapping[int, str] | None = None, zones: Mapping[str, str] | None = None,
    gates: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """An audit row's details as (label, value) pairs (times in ``tz``; households,
    residents, zones and gates by name while they exist, else by id); empty values say
    nothing and go, except a pass's ``max_uses: null``, which is 不限 (unlimited)."""
    names = residents or {}
    return [
        (_detail_label(lang, key),
         _detail_value(lang, key, value, households, tz, names, zones, gates))
        for key, value in details.items()
        if (value is not None or key in _NULL_MEANS) and value != ""
    ]


# Targets named here; a gate's or a passage's has a column of its own and says nothing here.
_TARGET_KINDS = frozenset(
    {"resident", "household", "vehicle", "pass", "user", "alarm", "zone", "space", "plate",
     "import"}
)
_SHOWN_ELSEWHERE = frozenset({"gate", "passage"})
# Reasons the system writes itself (api/routes/faces.py, services/household_move_out.py), not
# words a person typed.
_SYSTEM_REASONS = {
    "consent withdrawn": "audit.reason.consent_withdrawn",
    "deletion request": "audit.reason.deletion_request",
    "move out": "audit.reason.move_out",  # services/household_move_out.py
}


def audit_target(
    lang: Lang,
    target: str | None,
    households: Mapping[int, str],
    residents: Mapping[int, str],
    zones: Mapping[str, str] | None = None,
) -> str:
    """What an entry acted on ("resident:3" → 住户成员 #3 王先生): without it 加入白名单 or
    删除人脸 does not say which car or person. A zone goes by its name, as 车位与火警 names
    it (修正车位计数 of 区域 A read as a zone the page does not show); an import by the start
    of its file's checksum (import:<sha256>, its details name the file)."""
    if not target:
        return ""
    if target == "all gates":
        return translate(lang, "audit.target.all_gates")
    kind, sep, ident = target.partition(":")
    if not sep or kind in _SHOWN_ELSEWHERE:
        return "" if sep else target
    if kind not in _TARGET_KINDS:
        return target
    if kind == "zone":
        ident = (zones or {}).get(ident, ident)
    text = translate(lang, f"audit.target.{kind}", id=ident)
    names = {"household": households, "resident": residents}.get(kind, {})
    name = names.get(int(ident)) if ident.isdigit() else None
    return f"{text} {name}" if name else text


def audit_reason(lang: Lang, reason: str | None) -> str:
    """A reason as typed, or the system's own reason in the page's language."""
    if not reason:
        return ""
    key = _SYSTEM_REASONS.get(reason)
    return translate(lang, key) if key else reason
