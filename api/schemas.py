"""Request and response schemas, kept apart from the ORM classes."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from api.params import BodyId, JsonInt, Moment
from controllers.pass_hours import normal_hours, normal_weekdays
from errors import PlateFilterError
from vision.plate_grammar import fold_plate_part, fold_typed_plate, normalize_typed_plate
from wall_clock import utcnow

# A visitor pass longer than this is a resident's car, or a typing mistake ("until 2099").
MAX_PASS_DAYS = 366


PLATE_ECHO_MAX = 20  # characters of a refused plate repeated in its error message


def plate_field(value: str) -> str:
    plate = normalize_typed_plate(value)
    if plate is None:
        # Shortened: the message goes back to the client and into the log, and a plate is at
        # most 8 characters plus separators, not the kilobytes a client may send.
        shown = value if len(value) <= PLATE_ECHO_MAX else value[:PLATE_ECHO_MAX] + "…"
        raise ValueError(f"{shown!r} is not a valid Chinese plate (GA 36-2018), e.g. 闽A12345")
    return plate


def verify_walk_in(plate: str | None, walk_in: bool | None) -> None:
    """A form that says whether the visitor walks (``walk_in``) must agree with its plate: a
    forgotten plate must not silently become a walk-in pass."""
    if walk_in is False and plate is None:
        raise ValueError("a pass needs the visitor's plate unless walk_in is true "
                         "(a visitor on foot)")
    if walk_in and plate is not None:
        raise ValueError("a walk-in pass has no plate: leave plate out or set walk_in false")


def check_pass_window(
    valid_from: datetime, valid_to: datetime, *, now: datetime | None = None,
    ending: bool = False,
) -> None:
    """The rules every visitor pass follows, from the admin pages or a guard's review.
    ``ending``: an edit that moves ``valid_to`` earlier, which may end the pass now (a time
    already past); a new pass, or a later end, must still be to come."""
    if valid_to <= valid_from:
        raise ValueError("valid_to must be after valid_from")
    # The held clock, as every record's stamp: the system clock may read 2000 (wall_clock.py).
    if not ending and valid_to <= (now or utcnow()):
        raise ValueError("the pass would already be over: valid_to is in the past")
    if valid_to - valid_from > timedelta(days=MAX_PASS_DAYS):
        raise ValueError(
            f"a visitor pass lasts at most {MAX_PASS_DAYS} days; register a car that "
            "comes for longer as a household's vehicle"
        )


# Control, format (zero-width, bidi overrides, BOM, tags), surrogate, private-use and
# unassigned characters: none of them is text a person typed on purpose, and the format ones
# make two values look alike or a reason read backwards in the audit log.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _clean(value: str) -> str:
    """Text people type: trimmed, NFC-composed, and no hidden characters to store."""
    value = unicodedata.normalize("NFC", value.strip())
    if any(unicodedata.category(c) in _HIDDEN and c not in "\n\t" for c in value):
        raise ValueError("must not contain control characters")
    if value and unicodedata.category(value[0]).startswith("M"):
        raise ValueError("must not start with a combining mark")
    return value


def _named(value: str) -> str:
    value = _clean(value)
    if not value:
        raise ValueError("must not be blank")
    return value


def _one_line_name(value: str) -> str:
    """A person's name: as ``_named``, on one line. A line break or a tab pasted from a
    spreadsheet cell (Alt+Enter) is no part of a name: the console showed it as a space, an
    export's cell as two lines, and ``enrol-faces``, which finds a resident by the name of
    their photo folder, never found them."""
    value = _named(value)
    if "\n" in value or "\t" in value:
        raise ValueError("must be one line: no line breaks or tabs in a name")
    return value


def _reason(value: str) -> str:
    # The length limit is checked before trimming: "  ab  " must not pass as a reason.
    value = _named(value)
    if len(value) < 2:
        raise ValueError("a reason needs at least 2 characters")
    return value


_LABEL_MAX = 64


def _label(value: str) -> str:
    """A building or unit label, folded so that "Ａ1" and "A1 " are the "A1" already there:
    full-width digits and letters come from Chinese input methods."""
    folded = " ".join(_named(unicodedata.normalize("NFKC", value)).split())
    # NFKC can grow a character into many ("ﷺ" is 18): the column holds 64.
    if len(folded) > _LABEL_MAX:
        raise ValueError(f"must be at most {_LABEL_MAX} characters")
    return folded


# A free-text note (may be empty), a name (may not be blank) and a building/unit label.
Note = Annotated[str, AfterValidator(_clean)]
Name = Annotated[str, AfterValidator(_named)]
PersonName = Annotated[str, AfterValidator(_one_line_name)]
Reason = Annotated[str, AfterValidator(_reason)]
Label = Annotated[str, AfterValidator(_label)]


def _list_reason(value: str) -> str:
    # Blank or one character says nothing a colleague can act on a year later ("写清楚").
    value = _clean(value)
    if len(value) < 2:
        raise ValueError("say why the plate is listed, at least 2 characters")
    return value


ListReason = Annotated[str, AfterValidator(_list_reason)]
# Cars of one household inside at once, and the entries a visitor pass allows.
Spaces = Annotated[int, JsonInt(0, 20)]
EntryLimit = Annotated[int, JsonInt(1, 10_000)]


def search_plate(text: str) -> str:
    """A plate typed into a search box, in the canonical form rows are stored in, folded as
    every entry point folds one (``vision.plate_grammar.normalize_typed_plate``). Part of a
    plate is folded alike and loses its separators too (a guard types ``B·7M2`` as the lane
    screen shows it); text that would be left empty stays as typed."""
    return normalize_typed_plate(text) or fold_plate_part(text) or fold_typed_plate(text)


def plate_filter(text: str | None, name: str = "plate") -> str | None:
    """A plate search's text as ``search_plate`` folds it; None when none was typed (a form
    sends ``plate=`` for an empty box, and blanks alike). ``PlateFilterError`` (422) when the
    text holds a control character or folds to nothing a plate holds (a zero-width space, a
    BOM, only dots or dashes): such a filter searched for "" and listed every car or passage;
    a NUL ended the search text early on SQLite (every plate matched) and PostgreSQL's refusal
    came back as "a number or time … out of the range that can be stored"."""
    if text is None or not text.strip():
        return None
    folded = search_plate(text.strip())
    bad = next((c for c in folded if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise PlateFilterError(
            f"{name} must not contain control characters (found U+{ord(bad):04X})")
    if not fold_plate_part(text):
        raise PlateFilterError(
            f"{name} {text.strip()!r} holds no letter or digit of a plate: give a whole plate "
            "or part of one, e.g. 闽A12345 or A123")
    return folded


def search_label(text: str) -> str:
    """A building or unit typed into a search box, folded as stored labels are."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_In):
    """A partial update: a field left out is unchanged; null only clears what may be empty."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> _Patch:
        for name in sorted(self.model_fields_set - self.nullable):
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null; leave it out to keep it")
        return self


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_in: int


class HouseholdIn(_In):
    building: Label = Field(min_length=1, max_length=64, examples=["3栋"])
    unit: Label = Field(min_length=1, max_length=64, examples=["2单元1201"])
    spaces: Spaces = Field(1, description="Cars of this household inside at once.")
    note: Note = Field("", max_length=500)


class HouseholdPatch(_Patch):
    building: Label | None = Field(None, min_length=1, max_length=64)
    unit: Label | None = Field(None, min_length=1, max_length=64)
    spaces: Spaces | None = None
    # The length before the clean-up and inside the union, as PassPatch's: on ``Note | None``
    # pydantic checks it after, as a count of "items", which the console cannot explain.
    note: Annotated[str, Field(max_length=500), AfterValidator(_clean)] | None = None


class HouseholdOut(_Out):
    id: int
    building: str
    unit: str
    spaces: int
    note: str
    created_at: datetime


# Digits with the separators people write (+86 138-0000-0000, 0591 8765 4321, ext. x12).
# A landline's area code is often written in brackets first: (021) 6234 5678.
_PHONE = r"^\+?\(?[0-9][0-9 ()\-]{2,30}(x[0-9]{1,6})?$"


def _half_width_phone(value: object) -> object:
    """A number typed with a Chinese input method (１３８ ００１３ ８０００, （０２１）) is
    the same number: its full-width digits, brackets, dashes and spaces are read as the
    ASCII ones the pattern checks and the gates' staff dial."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


Phone = Annotated[
    str, BeforeValidator(_half_width_phone), Field(max_length=32, pattern=_PHONE)
] | None


class ResidentIn(_In):
    household_id: BodyId
    name: PersonName = Field(min_length=1, max_length=128)
    phone: Phone = None


class ResidentPatch(_Patch):
    nullable = frozenset({"phone"})

    household_id: BodyId | None = None
    name: Annotated[
        str, Field(min_length=1, max_length=128), AfterValidator(_one_line_name)
    ] | None = None
    phone: Phone = None


class ResidentOut(_Out):
    id: int
    household_id: int
    name: str
    # Whole for admins; a guard reads 138****8000 (services/phone_privacy.py) and asks for
    # one number at a time by POST /residents/{id}/phone-reveal, which is audited.
    phone: str | None
    phone_masked: bool = Field(False, description="phone shows only its first 3 and last 4")
    face_consent_at: datetime | None
    face_consent_by: str | None
    created_at: datetime


class PhoneRevealIn(_In):
    # Optional: a guard at the barrier calls first; the office reads who, whom and when.
    reason: Annotated[str, Field(max_length=200), AfterValidator(_clean)] = ""


class PhoneRevealOut(BaseModel):
    id: int
    phone: str | None
    audit_id: int


class VehicleIn(_In):
    plate: str = Field(examples=["闽A12345"])
    household_id: BodyId
    resident_id: BodyId | None = None
    plate_color: Literal["blue", "yellow", "green", "white", "black", "unknown"] = "unknown"

    _norm = field_validator("plate")(plate_field)


class VehiclePatch(_Patch):
    nullable = frozenset({"resident_id"})

    plate: str | None = None
    household_id: BodyId | None = None
    resident_id: BodyId | None = None
    plate_color: Literal["blue", "yellow", "green", "white", "black", "unknown"] | None = None

    @field_validator("plate")
    @classmethod
    def _norm(cls, value: str | None) -> str | None:
        return None if value is None else plate_field(value)


class VehicleOut(_Out):
    id: int
    plate: str
    plate_color: str
    household_id: int
    resident_id: int | None
    created_at: datetime


class PassIn(_In):
    plate: str | None = Field(
        None, examples=["粤B88888"],
        description="The visitor's car; null or left out for a walk-in pass (a visitor on "
        "foot), which admits only by its QR code at a pedestrian gate.",
    )
    walk_in: bool | None = Field(
        None, description="Say which it is, as the console's form does: true needs no plate "
        "(and takes none), false needs one. Left out: a pass without a plate is walk-in.",
    )
    host_household_id: BodyId
    valid_from: Moment
    valid_to: Moment
    max_uses: EntryLimit | None = Field(1, description="Entries allowed; null for unlimited.")
    note: Note = Field("", max_length=500)
    weekdays: list[Annotated[str, Field(max_length=16)]] | None = Field(
        None, max_length=7, examples=[["mon", "tue", "wed", "thu", "fri"]],
        description="Days of the week the pass admits on within its window (mon … sun); "
        "null for every day. An empty list is refused.",
    )
    hours_from: str | None = Field(
        None, max_length=5, examples=["08:00"],
        description="Start of the daily hours it admits, HH:MM in community.timezone "
        "(inclusive); null with hours_to for all day.",
    )
    hours_to: str | None = Field(
        None, max_length=5, examples=["12:00"],
        description="End of the daily hours, HH:MM (exclusive; 24:00 or 00:00 is midnight). "
        "Before hours_from it runs past midnight into the next morning (22:00-02:00).",
    )

    @field_validator("plate")
    @classmethod
    def _norm(cls, value: str | None) -> str | None:
        return None if value is None else plate_field(value)

    @model_validator(mode="after")
    def _window(self) -> PassIn:
        verify_walk_in(self.plate, self.walk_in)
        check_pass_window(self.valid_from, self.valid_to)
        normal_weekdays(self.weekdays)
        normal_hours(self.hours_from, self.hours_to)
        return self

    def columns(self) -> dict[str, Any]:
        """The pass's stored columns: weekdays and hours as ``controllers.pass_hours`` keeps
        them ("mon,tue", "08:00", "24:00")."""
        hours = normal_hours(self.hours_from, self.hours_to)
        return {**self.model_dump(exclude={"weekdays", "hours_from", "hours_to", "walk_in"}),
                "weekdays": normal_weekdays(self.weekdays),
                "hours_from": hours[0] if hours else None,
                "hours_to": hours[1] if hours else None}


class PassOut(_Out):
    id: int
    plate: str | None = Field(description="null: a walk-in pass")
    walk_in: bool = Field(description="no plate: admits only by its QR code at a pedestrian "
                          "gate, never at a vehicle gate")
    host_household_id: int
    valid_from: datetime
    valid_to: datetime
    max_uses: int | None
    uses: int
    note: str
    created_by: str
    created_at: datetime
    weekdays: list[str] | None = Field(description="mon … sun; null: every day")
    hours_from: str | None = Field(description="HH:MM, community.timezone; null: all day")
    hours_to: str | None = Field(description="HH:MM (24:00: midnight); null: all day")

    @field_validator("weekdays", mode="before")
    @classmethod
    def _split_weekdays(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value


class ListEntryIn(_In):
    plate: str
    kind: Literal["allow", "block"]
    reason: ListReason = Field(
        max_length=500, examples=["物业费欠费"],
        description="Why the plate is listed; required, at least 2 characters.",
    )

    _norm = field_validator("plate")(plate_field)


class ListEntryOut(_Out):
    id: int
    plate: str
    kind: str
    reason: str
    created_by: str
    created_at: datetime


# --- staff accounts (/api/v1/users) ---------------------------------------------------------
# The rules (name folding, weak passwords, duplicates, one's own account) are the 用户 page's,
# in services/users.py; these only bound the sizes, as the page's form does.

StaffRole = Literal["admin", "guard"]


class UserIn(_In):
    username: str = Field(max_length=64, examples=["guard3"],
                          description="1–64 characters, no spaces; 'GUARD3' or full-width "
                          "'ｇｕａｒｄ３' is the same name as 'guard3'.")
    role: StaffRole = Field(description="admin: the office's work; guard: the booth's.")
    password: str = Field(max_length=256, description="At least 8 characters, not a common "
                          "password nor the username with digits.")


class UserPatch(_Patch):
    active: bool | None = Field(None, description="false ends the account's sessions and "
                                "tokens at once; not your own account.")
    role: StaffRole | None = Field(None, description="A change ends the account's sessions "
                                   "and tokens at once; not your own account.")


class PasswordResetIn(_In):
    password: str = Field(max_length=256, description="The account's new password, by the "
                          "rules a new account's follows.")


class UserOut(_Out):
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    last_login: datetime | None = Field(None, description="The account's latest login, from "
                                        "the audit log; null: never logged in.")


class PassageOut(BaseModel):
    id: int
    at: datetime
    gate_id: str
    direction: str
    zone_id: str | None
    plate: str | None
    confidence: float
    plate_color: str
    plate_kind: str | None = Field(
        None, description="The read plate's family: trailer (挂), double_row (a large "
        "vehicle's two-row yellow plate), ordinary, new_energy_small, …; null when no plate "
        "was read, the plate was typed, or the passage is older than the field.")
    matched_plate: str | None
    match_distance: int
    decision: str
    reason: str
    credential: str
    flags: list[str]
    vehicle_id: int | None
    household_id: int | None
    resident_id: int | None
    pass_id: int | None
    has_snapshot: bool
    barrier_outcome: str
    details: dict[str, Any]
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    resolved_plate: str | None


class PassagePage(BaseModel):
    items: list[PassageOut]
    total: int
    limit: int
    offset: int


class FrameResult(BaseModel):
    passage_id: int | None = Field(
        description="None while the database is unreachable: the passage then waits in the "
        "local journal (journal_id) and gets its id when written."
    )
    journal_id: str | None = None
    gate_id: str
    plate: str | None
    confidence: float
    decision: Literal["allow", "deny", "review"]
    reason: str
    barrier: str
    matched_plate: str | None = None
    match_distance: int = 0
    candidates: list[dict[str, Any]] = []
    timings_ms: dict[str, float] = {}


class ZoneAvailability(BaseModel):
    id: str
    name: str
    capacity: int
    occupied: int
    free: int
    updated_at: datetime


class Availability(BaseModel):
    zones: list[ZoneAvailability]
    total_capacity: int
    total_free: int
    updated_at: datetime
    stale: bool = Field(
        False,
        description="True while the database cannot be read: these are the last counts "
        "read, at as_of (the response's Age header says how many seconds ago).",
    )
    as_of: datetime | None = Field(
        None, description="When stale: when these counts were read from the database."
    )


class OccupancyCorrection(_In):
    occupied: Annotated[int, JsonInt(0, 100_000)]
    reason: Name = Field(min_length=3, max_length=500)


class StorageHealth(BaseModel):
    """Free space on data_dir's disk (database, journals, snapshots); low or full makes
    ``status`` degraded before a passage could be lost."""

    free_mb: float
    min_free_mb: int = Field(description="storage.min_free_mb: below it, low.")
    low: bool = Field(description="Free space below min_free_mb: new snapshots are not saved "
                      "and the oldest are deleted (passages are kept).")
    full: bool = Field(description="A write was refused for want of room since there was "
                       "last enough.")
    reserve_held: bool = Field(description="Whether the space reserve for the journals is "
                               "held (false once a full disk gave it up).")


class ClockHealth(BaseModel):
    """The system clock against the latest time this controller saw (services/clock_watch.py);
    behind makes ``status`` degraded: records carry the held time until it is set."""

    in_step: bool = Field(description="False while the system clock reads earlier than a time "
                          "already past (a board without a real-time clock after a power cut, "
                          "NTP out of reach).")
    system: datetime = Field(description="What the system clock reads (UTC).")
    now: datetime = Field(description="What records are stamped with (UTC): the system clock, "
                          "or while it is behind the held time.")


class CityLink(BaseModel):
    """The city platform's MQTT link; it does not count towards ``status``: gates keep working
    while the hub is away, and a supervisor restarting on "degraded" would drop the queue."""

    connected: bool
    since: datetime = Field(description="When the link last came up or went down (UTC).")
    queued: int = Field(description="Messages the broker has not acknowledged yet.")
    dropped: int = Field(description="Passages and alarms dropped over the queue limit.")
    queue_limit: int


class CameraStatus(BaseModel):
    """A gate's camera: one parkgate reads itself (``camera`` of a gate) or one that pushes
    frames to the API; a down one makes ``status`` degraded, as a faulted barrier does: cars
    at that gate wait for the guard."""

    up: bool | None = Field(description="False once it was silent for alarm_after_s (a "
                            "camera_offline alarm was raised then); null when it is not "
                            "watched (a pushing camera without push_camera.heartbeat_s).")
    state: str = Field(description="A camera parkgate reads: connecting, streaming, "
                       "backing_off, ended (a recording that finished) or stopped. One that "
                       "pushes: awaiting (not heard since start) or heard.")
    silent_s: float | None = Field(description="Seconds since the camera was last heard (a "
                                   "read it answered; a pushed frame or heartbeat), since "
                                   "start if never; null when the worker is not running.")
    frames_read: int = Field(description="Frames read from it, or pushed by it with its "
                             "camera key, since start.")
    failures: int = Field(description="Opens refused and streams that broke since start "
                          "(the worker retries each with back-off); 0 for a pushing camera.")
    last_error: str | None = Field(
        description="What is wrong with it now: the last failure of a camera parkgate reads "
        "(open:, read:, corrupt:) or of its frame handling (handler:, idle:); null once that "
        "works again (the camera answers a read, a frame is handled), so a camera that "
        "recovered shows none; failures counts those since start. Always null for a pushing "
        "camera."
    )
    delivery: Literal["read", "push"] = Field(
        "read", description="read: parkgate reads it (camera.source); push: it pushes frames "
        "to POST /api/v1/gates/{id}/frames."
    )
    watched: bool = Field(True, description="Whether its silence raises camera_offline.")
    alarm_after_s: float | None = Field(
        None, description="The silence that is an outage: camera.offline_alarm_s, or for a "
        "pushing camera the longer of push_camera.offline_alarm_s and 3 heartbeat intervals; "
        "null when not watched."
    )
    heartbeats: int = Field(0, description="Heartbeats a pushing camera posted since start.")


class HeartbeatResult(BaseModel):
    """The answer to a pushing camera's keep-alive."""

    gate_id: str
    watched: bool = Field(description="Whether this camera's silence raises camera_offline "
                          "(push_camera.heartbeat_s is set for the gate).")
    alarm_after_s: float | None = Field(
        description="Silence after which it is reported dark; null when not watched."
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    gates: dict[str, str]
    journal_waiting: int = Field(
        0, description="What the passage journal holds for the database, not yet written to "
        "it: passages decided during an outage, barrier outcomes of passages stored just "
        "before it, alarms raised meanwhile, guards' opens naming a passage. 0 once all is "
        "written."
    )
    audit_journal_waiting: int = Field(
        0, description="Audit entries made during a database outage (guards' gate actions, "
        "logins and log-outs), not yet written to the audit log."
    )
    city_mqtt: CityLink | None = Field(
        None, description="The city platform's MQTT link; null when publishing is off."
    )
    storage: StorageHealth | None = Field(
        None, description="Free space on data_dir's disk."
    )
    clock: ClockHealth | None = Field(None, description="The system clock's trust.")
    cameras: dict[str, CameraStatus] = Field(
        default_factory=dict, description="Per gate id, the cameras parkgate reads itself, "
        "those configured to push (push_camera), and any other that pushed with its camera "
        "key since start (unwatched)."
    )
    screens: dict[str, bool] = Field(
        default_factory=dict, description="Per gate with a screen (车道屏): whether it took "
        "the last message sent to it. Not counted in status: the gates work without it."
    )
