"""The JSON API's error messages in the console's language.

The API answers in English (scripts and the city platform read it too), but the admin pages
show its errors to property staff and guards who read Chinese. This module is the one place
that maps those messages to console texts: the server uses it for the forms it renders
itself (users), and the admin pages' script gets the same table (``browser_table``) for the
errors of the forms it sends, so both say the same thing.

The expressions are written in the syntax Python and JavaScript share (numbered groups, no
lookbehind, no ``\\A``/``\\Z``) because the browser runs them too; each is matched against
the whole message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.console.i18n import Lang, translate

# Pydantic puts these before the text of a ValueError/AssertionError raised by a validator.
PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")
# Parts of a 422 location that say where the value was, not which field it was.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


@dataclass(frozen=True, slots=True)
class ErrorPattern:
    """One API message: the expression over the whole message, the key of its console text
    and the names its groups fill in. A name starting with ``@`` is a field or record word
    (``valid_to``, ``household``) that is shown by its label."""

    regex: str
    key: str
    names: tuple[str, ...] = ()
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = re.compile(self.regex)
        if compiled.groups != len(self.names):
            raise ValueError(
                f"{self.regex!r} has {compiled.groups} groups but names {self.names}"
            )
        object.__setattr__(self, "_compiled", compiled)

    def values(self, message: str) -> dict[str, str] | None:
        match = self._compiled.fullmatch(message)
        if match is None:
            return None
        return dict(zip(self.names, match.groups(default=""), strict=True))


_Q = "['\"]"  # Python's repr() quotes a string with ' unless it contains one
# The group that holds a zone id: shown as the console names the zone where the page gives
# its zones (the site page's 车位计数), the id otherwise.
ZONE = "zone"

# First match wins: specific messages before the generic ones.
PATTERNS: tuple[ErrorPattern, ...] = (
    # 409 conflicts (api/routes/admin.py, services/users.py)
    ErrorPattern(f"user {_Q}(.+){_Q} already exists", "err.user_exists", ("name",)),
    ErrorPattern(f"user {_Q}(.+){_Q} is the last active admin; make another account an "
                 "active admin first", "err.last_admin", ("name",)),
    ErrorPattern("plate (\\S+) is already registered", "err.plate_registered", ("plate",)),
    ErrorPattern("plate (\\S+) is already on a list", "err.plate_listed", ("plate",)),
    ErrorPattern("(?:plate|list entry for) (\\S+) already exists", "err.plate_exists",
                 ("plate",)),
    ErrorPattern("household (.+) already exists", "err.household_exists", ("household",)),
    ErrorPattern("(.+) already exists", "err.exists", ("@what",)),
    ErrorPattern("household (\\d+) still has (\\d+) vehicles; remove them first",
                 "err.household_has_vehicles", ("id", "count")),
    ErrorPattern("household (\\d+) still has (\\d+) residents; remove them first",
                 "err.household_has_residents", ("id", "count")),
    ErrorPattern("household (\\d+) still has (\\d+) visitor passes; remove them first",
                 "err.household_has_passes", ("id", "count")),
    ErrorPattern("resident (\\d+) belongs to household (\\d+), not (\\d+)",
                 "err.resident_elsewhere", ("id", "household", "other")),
    ErrorPattern("(household|resident|vehicle|pass|list entry|alarm|passage) (\\d+) not found",
                 "err.not_found", ("@what", "id")),
    ErrorPattern("household (\\d+) does not exist", "err.not_found_household", ("id",)),
    ErrorPattern("resident (\\d+) has no phone number on record", "err.no_phone", ("id",)),
    # 429 from 显示号码 (api/routes/resident_phone.py): the hour's reveals are used up
    ErrorPattern("(\\d+) phone numbers revealed by (.+) in the last hour: try again in (\\d+) s "
                 "or ask the office", "err.reveal_limit", ("count", "user", "wait")),
    # 422 from the schemas' validators (api/schemas.py, api/params.py)
    ErrorPattern(f"{_Q}(.*){_Q} is not a valid Chinese plate \\(GA 36-2018\\), e\\.g\\. (\\S+)",
                 "err.not_a_plate", ("value", "example")),
    ErrorPattern("(\\w+) must be after (\\w+)", "err.must_be_after", ("@later", "@earlier")),
    ErrorPattern("(\\w+) may not be null; leave it out to keep it", "err.not_null",
                 ("@field",)),
    ErrorPattern("must not be blank", "err.blank"),
    ErrorPattern("must not contain control characters", "err.control_characters"),
    ErrorPattern("must not start with a combining mark", "err.control_characters"),
    ErrorPattern("must be one line: no line breaks or tabs in a name", "err.one_line_name"),
    ErrorPattern("a reason needs at least (\\d+) characters", "err.too_short", ("count",)),
    ErrorPattern("say why the plate is listed, at least (\\d+) characters", "err.list_reason",
                 ("count",)),
    ErrorPattern("must be at most (\\d+) characters", "err.too_long", ("count",)),
    ErrorPattern("give a date as YYYY-MM-DD, e\\.g\\. (\\S+)", "err.needs_date", ("example",)),
    ErrorPattern("(\\S+) is outside 2000-2100", "err.outside_span", ("value",)),
    ErrorPattern("the pass would already be over: valid_to is in the past", "err.pass_over"),
    # editing a pass (api/pass_patch.py)
    ErrorPattern("pass (\\d+) is for a car: its plate can be corrected but not removed.*",
                 "err.pass_kind_car", ("id",)),
    ErrorPattern("pass (\\d+) is a walk-in pass and stays without a plate.*",
                 "err.pass_kind_walk_in", ("id",)),
    ErrorPattern("the host household of pass (\\d+) cannot be changed;.*",
                 "err.pass_host_fixed", ("id",)),
    ErrorPattern("uses is counted by the gates and cannot be set;.*", "err.pass_uses_fixed"),
    ErrorPattern("max_uses (\\d+) is below the (\\d+) entries this pass has already made",
                 "err.pass_uses_below", ("max", "uses")),
    ErrorPattern("a pass needs the visitor's plate unless walk_in is true.*",
                 "err.pass_needs_plate"),
    ErrorPattern("a walk-in pass has no plate.*", "err.walk_in_has_plate"),
    ErrorPattern("weekdays must name at least one day.*", "err.pass_no_days"),
    ErrorPattern("give hours_from and hours_to together.*", "err.pass_hours_pair"),
    ErrorPattern("hours_from and hours_to are both (\\S+): the range has no length.*",
                 "err.pass_hours_empty", ("time",)),
    ErrorPattern("a visitor pass lasts at most (\\d+) days;.*", "err.pass_too_long",
                 ("days",)),
    ErrorPattern("(?:a time needs a zone|give an ISO 8601 time with a zone), e\\.g\\. (\\S+)",
                 "err.needs_zone", ("example",)),
    ErrorPattern("password must have at least (\\d+) characters", "err.password_short",
                 ("count",)),
    ErrorPattern("password is too easy to guess: .*", "err.password_weak"),
    ErrorPattern("the new password must differ from the current one", "err.password_same"),
    ErrorPattern("username must be 1.64 characters", "err.username_length"),
    ErrorPattern("username must not contain spaces or control characters",
                 "err.username_spaces"),
    # the month report (api/routes/reports.py): Firefox and Safari type the month as text
    ErrorPattern("give a month as YYYY-MM, e\\.g\\. (\\S+), got .*", "err.needs_month",
                 ("example",)),
    ErrorPattern("(\\d{4}-\\d{2}) has no month \\d+", "err.no_such_month", ("value",)),
    ErrorPattern("(\\d{4}-\\d{2}) has not begun yet", "err.month_not_begun", ("value",)),
    ErrorPattern("role must be admin or guard, got .*", "err.role"),
    # gate actions (hardware/relay_barrier.py, services/gate_actions.py, api/routes/safety.py)
    ErrorPattern("gate (\\S+): (\\w+) refused: (\\w+)", "err.gate_refused",
                 ("@gate", "@action", "@state")),
    # The device's own words (a driver's English) stay, marked as such, as on the gate card.
    # A failed 关闸 or 取消常开 leaves the arm up: the guard lowers it by hand, not lets a car in.
    ErrorPattern("gate (\\S+): (close|release) failed: (.+)", "err.gate_close_failed",
                 ("@gate", "@action", "detail")),
    ErrorPattern("gate (\\S+): (\\w+) failed: (.+)", "err.gate_failed",
                 ("@gate", "@action", "detail")),
    ErrorPattern("gate (\\S+): (\\w+) not confirmed in time", "err.gate_unconfirmed",
                 ("@gate", "@action")),
    ErrorPattern("passage (\\d+) was at gate (\\S+), not (\\S+)", "err.passage_other_gate",
                 ("id", "@gate", "@other")),
    # two booths resolving one car (services/review.py): the other booth's answer stands
    ErrorPattern("passage (\\d+) was already resolved \\((\\w+)\\) by (.+)", "err.review_taken",
                 ("id", "@resolution", "user")),
    ErrorPattern("alarm (\\d+) was already acknowledged by (.+)", "err.alarm_taken",
                 ("id", "user")),
    ErrorPattern("no fire alarm is active", "err.no_fire_alarm"),
    ErrorPattern("the fire-alarm input is still active; it cannot be cleared",
                 "err.fire_input_active"),
    ErrorPattern("no safety supervisor is configured", "err.no_safety"),
    # a typed plate (services/typed_plates.py)
    ErrorPattern("gate (\\S+) is a pedestrian gate: a typed plate is for vehicle gates",
                 "err.typed_pedestrian", ("@gate",)),
    # A zone id may hold spaces ("地下 1层"): the text up to ", got" is the id.
    ErrorPattern("occupied must be between 0 and (\\d+) for zone (.+), got (-?\\d+)",
                 "err.occupied_range", ("capacity", ZONE, "value")),
    ErrorPattern(f"zone {_Q}(.+){_Q} not found", "err.zone_not_found", (ZONE,)),
    # face enrolment and PINs (services/faces.py, vision/faces.py, services/credentials.py)
    ErrorPattern("photo (\\d+): no face found in the photo.*", "err.photo_no_face", ("n",)),
    ErrorPattern("photo (\\d+): (\\d+) faces found in the photo.*", "err.photo_faces",
                 ("n", "count")),
    ErrorPattern("photo (\\d+): the face lies outside the photo", "err.photo_face_outside",
                 ("n",)),
    ErrorPattern("photo (\\d+): the face is too small \\((\\d+) px, need at least (\\d+) px\\).*",
                 "err.photo_face_small", ("n", "size", "need")),
    ErrorPattern("photo (\\d+): (?:empty body|body is not a JPEG).*", "err.photo_not_image",
                 ("n",)),
    ErrorPattern("photo (\\d+): the \\w+ image (?:is corrupt|could not be decoded).*",
                 "err.photo_corrupt", ("n",)),
    ErrorPattern("photo (\\d+): image has ([\\d.]+) MP, more than the limit of (\\d+) MP",
                 "err.photo_pixels", ("n", "mp", "limit")),
    ErrorPattern("(?:body|.+) (?:of \\d+ bytes )?exceeds the limit of (\\d+)(?: bytes)?",
                 "err.upload_too_large", ("limit",)),
    ErrorPattern("resident (\\d+) has no recorded face consent.*", "err.no_face_consent",
                 ("id",)),
    ErrorPattern("resident (\\d+)'s face data was erased while these photos were being read.*",
                 "err.faces_erased_meanwhile", ("id",)),
    ErrorPattern("face recognition is not enabled in this installation", "err.faces_off"),
    ErrorPattern("(\\d+) face enrolments are already waiting or running.*", "err.enrol_busy",
                 ("n",)),
    ErrorPattern("a PIN is 4 to 8 digits 0-9", "err.pin_digits"),
    ErrorPattern("choose a PIN that is not all one digit or a simple sequence",
                 "err.pin_simple"),
    # 403 / 503
    ErrorPattern("this needs the admin role;.*", "err.admin_only"),
    ErrorPattern("missing or wrong CSRF token:.*", "err.csrf"),
    ErrorPattern("the database is unavailable;.*", "err.database"),
    # pydantic's own messages for types and bounds
    ErrorPattern("Field required", "err.required"),
    ErrorPattern("String should have at most (\\d+) characters?", "err.too_long", ("count",)),
    ErrorPattern("String should have at least (\\d+) characters?", "err.too_short",
                 ("count",)),
    ErrorPattern("Input should be greater than or equal to (\\S+)", "err.at_least",
                 ("limit",)),
    ErrorPattern("Input should be less than or equal to (\\S+)", "err.at_most", ("limit",)),
    ErrorPattern("String should match pattern .*", "err.format"),
    ErrorPattern("Input should be a valid (?:datetime|date)\\b.*", "err.bad_time"),
    ErrorPattern("Input should be a valid (?:integer|number)\\b.*", "err.bad_number"),
    ErrorPattern("Input should be .*", "err.bad_choice"),
    ErrorPattern("Extra inputs are not permitted", "err.extra"),
)

# Field names (request bodies, 422 locations) and record words in messages → text keys.
LABELS: Mapping[str, str] = {
    "plate": "col.plate",
    "household": "field.household",
    "household_id": "field.household",
    "host_household_id": "review.host",
    "resident": "field.resident",
    "resident_id": "field.resident",
    "vehicle": "veh.title",
    "pass": "field.pass",
    "list entry": "field.list_entry",
    "alarm": "alarms.title",
    "passage": "col.passage",
    "valid_from": "pass.from",
    "valid_to": "pass.to",
    "max_uses": "field.max_uses",
    "note": "hh.note",
    "building": "hh.building",
    "unit": "hh.unit",
    "spaces": "hh.spaces",
    "name": "res.name",
    "phone": "res.phone",
    "plate_color": "veh.color",
    "kind": "list.kind",
    "reason": "col.reason",
    "username": "login.username",
    "password": "login.password",
    "role": "col.role",
    # gate commands and the states that refuse them (hardware/relay_barrier.py)
    "open": "audit.action.gate.open",
    "close": "audit.action.gate.close",
    "hold_open": "audit.action.gate.hold_open",
    "release": "audit.action.gate.release",
    "held_open": "code.held_open",
    "fire_alarm_active": "err.refusal.fire_alarm_active",
    # a review's resolutions, as passages store them (services/review.py STORED)
    "allowed_once": "code.allowed_once",
    "visitor_pass": "code.visitor_pass",
    "denied": "code.denied",
}


def label(lang: Lang, word: str) -> str:
    """A field or record word by its label; an unknown word shows as itself."""
    key = LABELS.get(word)
    return translate(lang, key) if key else word


def strip_prefix(message: str) -> str:
    for prefix in PYDANTIC_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def explain_message(
    lang: Lang, message: str, names: Mapping[str, str] | None = None,
    zones: Mapping[str, str] | None = None,
) -> str:
    """One API message in ``lang``; a message the table does not know stays as it is.
    ``names``: the site's own words (gate ids → gate names) shown by name too, as
    ``browser_table`` gives them to the pages' scripts. ``zones``: zone ids → the zone as
    the console names it (``zone_label``: "A · A区地面"), for the messages naming a zone."""
    message = strip_prefix(message.strip())
    words = names or {}
    for pattern in PATTERNS:
        values = pattern.values(message)
        if values is None:
            continue
        shown = {name.removeprefix("@"): _shown(lang, name, value, words, zones or {})
                 for name, value in values.items()}
        return translate(lang, pattern.key, **shown)
    return message


def _shown(
    lang: Lang, name: str, value: str, words: Mapping[str, str], zones: Mapping[str, str]
) -> str:
    if name.startswith("@"):
        return words.get(value) or label(lang, value)
    if name == ZONE:
        # Apart from the gates' and fields' words: a zone id may be any text, "A" or "note"
        # too, which must not turn into a gate's name or 备注. A zone not configured (any
        # more) stays its id.
        return zones.get(value, value)
    return value


def _field_of(loc: object) -> str | None:
    if not isinstance(loc, list | tuple):
        return None
    names = [str(part) for part in loc if isinstance(part, str) and part not in _LOCATIONS]
    return names[-1] if names else None


def explain_detail(lang: Lang, detail: object) -> str:
    """An API error body's ``detail`` (a message, or 422's list of problems) in ``lang``."""
    if isinstance(detail, str):
        return explain_message(lang, detail)
    if isinstance(detail, list) and detail:
        parts = []
        for problem in detail:
            if not isinstance(problem, Mapping):
                continue
            text = explain_message(lang, str(problem.get("msg", "")))
            name = _field_of(problem.get("loc"))
            if name is not None:
                text = label(lang, name) + translate(lang, "admin.sep") + text
            parts.append(text)
        if parts:
            return translate(lang, "admin.join").join(parts)
    return translate(lang, "msg.failed")


def browser_table(
    lang: Lang, names: Mapping[str, str] | None = None, zones: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The table for errors.js: the same expressions with their texts already in ``lang``.
    ``names``: the site's own words (gate ids → gate names) shown by name too; ``zones``
    as ``explain_message`` takes them."""
    return {
        "patterns": [[p.regex, translate(lang, p.key), list(p.names)] for p in PATTERNS],
        "labels": {**{word: translate(lang, key) for word, key in LABELS.items()},
                   **(names or {})},
        "zone": ZONE,
        "zones": dict(zones or {}),
        "prefixes": list(PYDANTIC_PREFIXES),
        "locations": sorted(_LOCATIONS),
        "sep": translate(lang, "admin.sep"),
        "join": translate(lang, "admin.join"),
        "failed": translate(lang, "msg.failed"),
    }
