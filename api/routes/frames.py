"""Camera push: one frame in, one decided and recorded passage out; and the pushing
camera's keep-alive, which with its frames tells the camera watch it is alive."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from email.message import Message

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from api.deps import CameraOnly, CameraOrUser, Principal, ServicesDep
from api.schemas import FrameResult, HeartbeatResult
from errors import (
    ConflictError,
    InvalidInputError,
    MalformedBodyError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnsupportedMediaError,
)
from services.container import Services
from settings import GateConfig, PushCameraConfig

router = APIRouter(prefix="/api/v1/gates", tags=["cameras"])

_RAW_TYPES = ("image/jpeg", "image/jpg", "image/png", "application/octet-stream")


async def _limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks, refusing with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit}")
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"body exceeds the limit of {limit} bytes")
            yield chunk
    except ClientDisconnect as err:
        # Nobody is left to read the answer, but it must not be logged as a server error.
        raise MalformedBodyError(
            f"the client disconnected after {size} bytes, before the body was complete"
        ) from err


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing with 413 as soon as it passes ``limit`` bytes."""
    return b"".join([chunk async for chunk in _limited_stream(request, limit)])


def _multipart_boundary(content_type: str) -> bytes:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MalformedBodyError(
            "a multipart/form-data body needs a boundary in its Content-Type, e.g. "
            "multipart/form-data; boundary=frame"
        )
    return boundary.encode("latin-1", errors="replace")


async def read_form(request: Request, limit: int) -> FormData:
    """A whole multipart body, parsed; 400 (``MalformedBodyError``) if it does not parse or
    was cut off, 413 past ``limit`` bytes in all (also without a Content-Length)."""
    close = b"--" + _multipart_boundary(request.headers.get("content-type", "")) + b"--"
    closed = False
    tail = b""

    async def watched() -> AsyncGenerator[bytes, None]:  # what MultiPartParser takes
        # Starlette keeps the parts it finished and silently drops one cut off mid-way, so a
        # truncated upload parses as a form without its file. Only the closing delimiter
        # says the body is whole; it may straddle two chunks, hence the carried tail.
        nonlocal closed, tail
        async for chunk in _limited_stream(request, limit):
            closed = closed or close in tail + chunk
            tail = (tail + chunk)[-len(close) :]
            yield chunk

    parser = MultiPartParser(request.headers, watched(), max_files=64, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as err:
        raise MalformedBodyError(f"the multipart body could not be parsed: {err.message}") from err
    if not closed:
        await form.close()
        raise MalformedBodyError(
            "the multipart upload is incomplete: the body ends before its closing boundary "
            f"({close.decode('latin-1')}), so it was cut off in transit; send it again"
        )
    return form


async def _read_uploads(uploads: list[UploadFile], limit: int) -> list[bytes]:
    contents = []
    for upload in uploads:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLargeError(
                f"{upload.filename or 'file'} exceeds the limit of {limit} bytes"
            )
        contents.append(data)
    return contents


async def frame_uploads(
    request: Request, limit: int, *, extra_field: str | None = None
) -> tuple[list[bytes], list[bytes]]:
    """Images from a raw JPEG/PNG body or from multipart ``image`` fields, and the files of
    ``extra_field`` (e.g. ``depth``) when the body is multipart."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await read_form(request, limit)
        try:
            files = [f for f in form.getlist("image") if isinstance(f, UploadFile)]
            if not files:
                raise InvalidInputError(
                    "multipart body needs at least one file field named 'image'"
                )
            extra = [
                f for f in (form.getlist(extra_field) if extra_field else [])
                if isinstance(f, UploadFile)
            ]
            return await _read_uploads(files, limit), await _read_uploads(extra, limit)
        finally:
            await form.close()  # files past 1 MB were spooled to disk
    if content_type in _RAW_TYPES or content_type == "":
        return [await read_limited(request, limit)], []
    raise UnsupportedMediaError(
        f"Content-Type {content_type!r} is not supported: send image/jpeg, image/png "
        "or multipart/form-data with an 'image' field"
    )


async def frame_images(request: Request, limit: int) -> list[bytes]:
    """Images from a raw JPEG/PNG body or from multipart ``image`` fields."""
    images, _ = await frame_uploads(request, limit)
    return images


@router.post(
    "/{gate_id}/frames",
    response_model=FrameResult,
    summary="Push a camera frame; parkgate reads, decides, drives the barrier and records",
    responses={
        403: {"description": "Another camera's key than the gate's push_camera.key_name"},
        404: {"description": "Unknown gate"},
        413: {"description": "Body or image too large"},
        415: {"description": "Not a JPEG/PNG image"},
        422: {"description": "Corrupt image"},
        503: {"description": "Every slot for this kind of push stayed busy for "
                             "api.burst_wait_s (api.max_concurrent_bursts or "
                             "api.max_concurrent_frames); Retry-After says when to send again"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "image": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "One frame, or a burst (~1 s, at least "
                                "faces.liveness.min_frames = 15 frames, all of one size) "
                                "at a pedestrian gate",
                            },
                            "depth": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "description": "Pedestrian gates with a depth camera: one "
                                "16-bit PNG (mm, aligned to its image) per image, same order",
                            },
                        },
                        "required": ["image"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def push_frame(
    gate_id: str, request: Request, services: ServicesDep, caller: CameraOrUser
) -> FrameResult:
    services.runtime.gate(gate_id)
    gate = services.settings.gate(gate_id)
    require_gates_camera(gate_id, gate, caller)
    _heard_pushing(services, gate_id, caller)
    images, depth = await frame_uploads(
        request, services.settings.api.max_upload_bytes, extra_field="depth"
    )
    if gate is not None and gate.kind == "pedestrian":
        handler = getattr(services, "face_gate", None)
        if handler is None:
            raise InvalidInputError(f"{gate_id} is a pedestrian gate: face entry is not set up")
        return await handler.process(gate_id, images, depth or None)
    if depth:
        raise InvalidInputError(f"{gate_id} is a vehicle gate: depth maps are for face entry")
    outcome = await services.frames.process_bytes(gate_id, images[0])
    services.metrics.observe_frame(gate_id, outcome.timings_ms, source="push")
    result = outcome.result
    return FrameResult(
        passage_id=result.passage_id,
        journal_id=result.journal_id,
        gate_id=result.gate_id,
        plate=result.plate,
        confidence=round(result.confidence, 4),
        decision=result.decision.verdict.value,
        reason=result.decision.reason.value,
        barrier=result.barrier,
        matched_plate=result.decision.matched_plate,
        match_distance=result.decision.match_distance,
        candidates=result.details.get("candidates", []),
        timings_ms=outcome.timings_ms,
    )


def _heard_pushing(services: Services, gate_id: str, caller: Principal) -> None:
    """A frame a camera pushed with its key says that camera is alive, before it is even
    read: a corrupt or refused frame still came from a working camera. A staff upload says
    nothing of the camera (another camera's key is refused before this); a camera parkgate
    reads has its own watch."""
    gate = services.settings.gate(gate_id)
    if (caller.role == "camera" and services.cameras is not None and gate is not None
            and gate.camera is None
            and _is_gates_camera(gate.push_camera, caller)):
        services.cameras.heard(gate_id, frame=True)


def require_gates_camera(gate_id: str, gate: GateConfig | None, caller: Principal) -> None:
    """403 for a camera key other than the one the gate's push_camera names; staff logins
    and gates that name no camera pass. For all a camera key sends a gate that opens it:
    frames, and the PIN/QR of its keypad or QR reader (one device with the camera, e.g. a
    face terminal, so the same key)."""
    if caller.role == "camera" and gate is not None and not _is_gates_camera(
        gate.push_camera, caller
    ):
        # Another camera's key (a misaddressed camera, a key read out of a side gate's
        # camera) would otherwise open this barrier for whatever plate it pushes, or guess
        # PINs at every gate: the lock-out counts per resident, not per gate.
        raise PermissionDeniedError(
            f"the key of camera {caller.name!r} is not the one set for {gate_id}'s camera "
            "(push_camera.key_name): check the gate id in this camera's URL"
        )


def _is_gates_camera(push: PushCameraConfig | None, caller: Principal) -> bool:
    """Whether ``caller``'s key is the one the gate's push_camera names (any camera key when
    it names none: the camera is not watched, and nothing rides on who says it is alive)."""
    return push is None or push.key_name is None or caller.name == push.key_name


@router.post(
    "/{gate_id}/heartbeat",
    response_model=HeartbeatResult,
    summary="A pushing camera's keep-alive: it is heard, as by a frame (camera key only)",
    responses={
        401: {"description": "No X-API-Key, or one camera_api_keys does not hold"},
        403: {"description": "A login instead of a camera key, or another camera's key "
                       "than the gate's push_camera.key_name"},
        404: {"description": "Unknown gate"},
        409: {"description": "The gate's camera is read by parkgate (camera.source)"},
    },
)
async def camera_heartbeat(
    gate_id: str, services: ServicesDep, caller: CameraOnly
) -> HeartbeatResult:
    # No body is read and nothing is stored: a keep-alive must be answered at once, during
    # a database outage too, and vendors' bodies differ.
    gate = services.settings.gate(gate_id)
    if gate is None:
        raise NotFoundError(f"unknown gate {gate_id!r}: the camera's heartbeat URL must name "
                            "a gate of community.gates")
    if gate.camera is not None:
        raise ConflictError(f"{gate_id}'s camera is read by parkgate (camera.source) and "
                            "watched from what it reads: heartbeats are for cameras that "
                            "push frames (push_camera)")
    if not _is_gates_camera(gate.push_camera, caller):
        # The name the gate expects is not told: the caller is known only by its own key.
        raise PermissionDeniedError(
            f"the key of camera {caller.name!r} is not the one set for {gate_id}'s camera "
            "(push_camera.key_name): check the gate id in this camera's heartbeat URL"
        )
    if services.cameras is None:  # services built without their camera watch
        return HeartbeatResult(gate_id=gate_id, watched=False, alarm_after_s=None)
    camera = services.cameras.heard(gate_id, frame=False)
    return HeartbeatResult(gate_id=gate_id, watched=camera.alarm_after_s is not None,
                           alarm_after_s=camera.alarm_after_s)
