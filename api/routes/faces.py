"""Face consent, enrolment and deletion for residents (PIPL: consent first, deletable)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, ServicesDep
from api.params import PathId
from api.routes.frames import frame_images
from api.schemas import Note
from errors import InvalidInputError
from models.db import empty_write_ahead_log
from services.faces import FaceService
from services.gate_snapshot_erasure import erase_gate_snapshots

router = APIRouter(prefix="/api/v1/residents", tags=["faces"])


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = Field(
        "", max_length=500, description="Where the signed consent is kept, e.g. form number."
    )


class FaceSummary(BaseModel):
    resident_id: int
    templates: int


def _faces(services: ServicesDep) -> FaceService:
    faces = getattr(services, "faces", None)
    if faces is None:
        raise InvalidInputError("face recognition is not enabled in this installation")
    return faces


@router.put("/{resident_id}/consent", response_model=FaceSummary)
def record_consent(
    resident_id: PathId,
    services: ServicesDep,
    user: AdminUser,
    body: Annotated[ConsentIn | None, Body()] = None,
) -> FaceSummary:
    """Record the resident's separate consent to face recognition (time and operator)."""
    faces = _faces(services)
    faces.record_consent(resident_id, user.name, body.note if body else "")
    return FaceSummary(resident_id=resident_id, templates=faces.template_count(resident_id))


@router.delete("/{resident_id}/consent", response_model=FaceSummary)
def withdraw_consent(resident_id: PathId, services: ServicesDep, user: AdminUser) -> FaceSummary:
    """Withdrawing consent deletes every face template at once, from storage and the matcher."""
    _faces(services).withdraw_consent(resident_id, user.name, "consent withdrawn")
    _off_the_disk(services)
    return FaceSummary(resident_id=resident_id, templates=0)


@router.get("/{resident_id}/faces", response_model=FaceSummary)
def face_summary(resident_id: PathId, services: ServicesDep, _: AdminUser) -> FaceSummary:
    return FaceSummary(
        resident_id=resident_id, templates=_faces(services).template_count(resident_id)
    )


class EnrolOut(FaceSummary):
    added: int = Field(description="Photos stored now.")
    already_on_file: int = Field(
        description="Photos the resident has on file already (the same photo, or a re-saved "
        "copy): not stored twice."
    )


@router.post(
    "/{resident_id}/faces",
    response_model=EnrolOut,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "image": {"type": "array", "items": {"type": "string",
                                                                 "format": "binary"}}
                        },
                    }
                },
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    },
)
async def enrol_faces(
    resident_id: PathId, request: Request, services: ServicesDep, user: AdminUser
) -> EnrolOut:
    """Enrol one or more photos (multipart ``image`` fields). Each photo must show exactly one
    face; nothing is stored unless every photo is usable and consent is recorded. A photo
    the resident has on file already is not stored twice (``already_on_file``)."""
    faces = _faces(services)
    photos = await frame_images(request, services.settings.api.max_upload_bytes)
    # 404 or no consent before the expensive part, and before any face is read at all.
    taken_up = await asyncio.to_thread(faces.require_consent, resident_id)
    # On enrolment's own thread and engine, one request at a time: never on the gate's.
    embeddings = await faces.embed_photos_async(photos)
    # A deletion request another admin made meanwhile: 409, none of these photos stored.
    added = await asyncio.to_thread(faces.enrol, resident_id, embeddings, user.name, taken_up)
    return EnrolOut(resident_id=resident_id, templates=faces.template_count(resident_id),
                    added=added, already_on_file=len(embeddings) - added)


@router.delete("/{resident_id}/faces", response_model=FaceSummary)
def delete_faces(resident_id: PathId, services: ServicesDep, user: AdminUser) -> FaceSummary:
    """A deletion request: templates leave the database and the live matcher at once."""
    _faces(services).delete(resident_id, user.name, "deletion request")
    _off_the_disk(services)
    return FaceSummary(resident_id=resident_id, templates=0)


class SnapshotErasureOut(BaseModel):
    resident_id: int
    deleted: int = Field(description="Snapshots deleted now.")
    kept_for_guards: int = Field(
        description="Snapshots a guard still needs (a passage waiting for review, an alarm not "
        "acknowledged): kept; ask again once it is dealt with."
    )
    audit_id: int


@router.delete("/{resident_id}/gate-snapshots", response_model=SnapshotErasureOut)
def delete_gate_snapshots(
    resident_id: PathId, services: ServicesDep, user: AdminUser
) -> SnapshotErasureOut:
    """A deletion request for the photos the pedestrian gate took of the resident (their own
    face and PIN passages; not their car's): deleted now instead of after
    ``retention.snapshot_days``. The passages stay, saying the snapshot was deleted on
    request. Face templates are deleted separately (``DELETE …/faces``). 404 for an id
    parkgate has neither a resident nor a passage of."""
    done = erase_gate_snapshots(
        services.sessions, services.snapshots, resident_id, user.name, "deletion request"
    )
    return SnapshotErasureOut(
        resident_id=done.resident_id, deleted=done.deleted,
        kept_for_guards=done.kept_for_guards, audit_id=done.audit_id,
    )


def _off_the_disk(services: ServicesDep) -> None:
    """The erased templates out of SQLite's write-ahead log too, at once when no reader holds
    it (else within the hour: the retention job does the same)."""
    empty_write_ahead_log(services.engine)
