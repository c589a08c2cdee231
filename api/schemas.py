"""Request and response schemas, kept apart from the ORM classes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vision.plate_grammar import normalize_plate


def _plate(value: str) -> str:
    plate = normalize_plate(value.strip().upper())
    if plate is None:
        raise ValueError(f"{value!r} is not a valid Chinese plate (GA 36-2018), e.g. 闽A12345")
    return plate


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_in: int


class HouseholdIn(_In):
    building: str = Field(min_length=1, max_length=64, examples=["3栋"])
    unit: str = Field(min_length=1, max_length=64, examples=["2单元1201"])
    spaces: int = Field(1, ge=0, le=20, description="Cars of this household inside at once.")
    note: str = Field("", max_length=500)


class HouseholdPatch(_In):
    building: str | None = Field(None, min_length=1, max_length=64)
    unit: str | None = Field(None, min_length=1, max_length=64)
    spaces: int | None = Field(None, ge=0, le=20)
    note: str | None = Field(None, max_length=500)


class HouseholdOut(_Out):
    id: int
    building: str
    unit: str
    spaces: int
    note: str
    created_at: datetime


class ResidentIn(_In):
    household_id: int
    name: str = Field(min_length=1, max_length=128)
    phone: str | None = Field(None, max_length=32)


class ResidentPatch(_In):
    household_id: int | None = None
    name: str | None = Field(None, min_length=1, max_length=128)
    phone: str | None = Field(None, max_length=32)


class ResidentOut(_Out):
    id: int
    household_id: int
    name: str
    phone: str | None
    face_consent_at: datetime | None
    face_consent_by: str | None
    created_at: datetime


class VehicleIn(_In):
    plate: str = Field(examples=["闽A12345"])
    household_id: int
    resident_id: int | None = None
    plate_color: Literal["blue", "yellow", "green", "white", "black", "unknown"] = "unknown"

    _norm = field_validator("plate")(_plate)


class VehiclePatch(_In):
    plate: str | None = None
    household_id: int | None = None
    resident_id: int | None = None
    plate_color: Literal["blue", "yellow", "green", "white", "black", "unknown"] | None = None

    @field_validator("plate")
    @classmethod
    def _norm(cls, value: str | None) -> str | None:
        return None if value is None else _plate(value)


class VehicleOut(_Out):
    id: int
    plate: str
    plate_color: str
    household_id: int
    resident_id: int | None
    created_at: datetime


class PassIn(_In):
    plate: str = Field(examples=["粤B88888"])
    host_household_id: int
    valid_from: datetime
    valid_to: datetime
    max_uses: int | None = Field(1, ge=1, description="Entries allowed; null for unlimited.")
    note: str = Field("", max_length=500)

    _norm = field_validator("plate")(_plate)

    @model_validator(mode="after")
    def _window(self) -> PassIn:
        if self.valid_from.tzinfo is None or self.valid_to.tzinfo is None:
            raise ValueError("valid_from and valid_to need a time zone, e.g. …T09:00+08:00")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class PassOut(_Out):
    id: int
    plate: str
    host_household_id: int
    valid_from: datetime
    valid_to: datetime
    max_uses: int | None
    uses: int
    note: str
    created_by: str
    created_at: datetime


class ListEntryIn(_In):
    plate: str
    kind: Literal["allow", "block"]
    reason: str = Field("", max_length=500)

    _norm = field_validator("plate")(_plate)


class ListEntryOut(_Out):
    id: int
    plate: str
    kind: str
    reason: str
    created_by: str
    created_at: datetime


class PassageOut(BaseModel):
    id: int
    at: datetime
    gate_id: str
    direction: str
    zone_id: str | None
    plate: str | None
    confidence: float
    plate_color: str
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


class OccupancyCorrection(_In):
    occupied: int = Field(ge=0)
    reason: str = Field(min_length=3, max_length=500)


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    gates: dict[str, str]
    journal_waiting: int = Field(
        0, description="Passages decided during a database outage, not yet written to it."
    )
