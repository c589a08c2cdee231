"""``POST /api/v1/households/import``: households, residents and cars from a CSV file.

The file comes as the API's other uploads do (``api/routes/frames.py``): a multipart form
with a ``file`` field (the console, curl ``-F``, /docs) or the raw bytes (``text/csv``,
curl ``--data-binary``). It is read in chunks after the admin check, up to the import's own
limit (``services/resident_import_file.MAX_BYTES``), not the 1 MiB of forms and JSON.
``dry_run=true`` (the default) previews; ``false`` imports, all or nothing
(``services/resident_import.py``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile

from api.deps import AdminUser, ServicesDep
from api.routes.frames import read_form, read_limited
from errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError
from services.resident_import import run_import
from services.resident_import_file import MAX_BYTES, too_large

router = APIRouter(prefix="/api/v1", tags=["admin"])

# What browsers and tools label a .csv or .txt file with (Windows: Excel's type for .csv).
RAW_TYPES = frozenset({"", "text/csv", "text/plain", "text/tab-separated-values",
                       "application/csv", "application/vnd.ms-excel",
                       "application/octet-stream"})
# A multipart body is the file and a few hundred bytes of headers and boundaries.
FORM_SLACK = 64 * 1024
FILE_NAME_MAX = 200


async def read_file_field(upload: UploadFile) -> bytes:
    """A form's file, refused (413) past the import's limit: read one byte further to tell."""
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise too_large(len(data))
    return data


async def read_import_form(request: Request) -> FormData:
    """The upload's form. A body past the file's limit and the form's slack is refused in
    the import's own words (文件太大…, split the file), not the body limit's English ("body
    of 3000000 bytes exceeds the limit of 2065536"), which the console showed as it was."""
    try:
        return await read_form(request, MAX_BYTES + FORM_SLACK)
    except PayloadTooLargeError as err:
        raise too_large(None) from err


async def read_upload(request: Request, file_name: str | None) -> tuple[bytes, str]:
    """The file's bytes and its name, from a multipart ``file`` field or the raw body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await read_import_form(request)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInputError(
                    "the multipart body needs a file field named 'file' (the CSV file)"
                )
            data = await read_file_field(upload)
            return data, (upload.filename or file_name or "upload.csv")[:FILE_NAME_MAX]
        finally:
            await form.close()
    if content_type in RAW_TYPES:
        return await read_limited(request, MAX_BYTES), (file_name or "upload.csv")
    raise UnsupportedMediaError(
        f"Content-Type {content_type!r} is not supported: send the CSV file as text/csv or "
        "as multipart/form-data with a 'file' field"
    )


@router.post(
    "/households/import",
    responses={
        200: {"description": "The preview, or the import's result (applied true)"},
        413: {"description": f"File over {MAX_BYTES} bytes or 20,000 rows"},
        415: {"description": "Not a text table (an Excel workbook, an image)"},
        422: {"description": "Not readable as a table (encoding, header, empty), or rows "
                             "in error when importing: nothing imported, errors listed"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"],
                               "properties": {"file": {"type": "string", "format": "binary"}}},
                },
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    },
)
async def import_households(
    request: Request,
    services: ServicesDep,
    user: AdminUser,
    dry_run: Annotated[bool, Query(description="true: preview only, nothing written")] = True,
    file_name: Annotated[str | None, Query(
        max_length=FILE_NAME_MAX, description="Name recorded for a raw body's file")] = None,
) -> JSONResponse:
    """Households, residents and cars from a CSV (UTF-8, UTF-8 with BOM or GBK/GB18030;
    comma or tab), headers 楼栋,房号,姓名,电话,车牌,车牌颜色,车位数,备注 (or building, unit,
    name, phone, plate, plate_color, spaces, note). The answer counts what would be (or was)
    created, updated and left unchanged, lists the changes to households and residents on
    file (``changes``: a resident's phone, a household's spaces and note, old and new; an
    empty cell changes nothing) and the rows in error with their row number and a message in
    Chinese. An import with any row in error writes nothing (422). Nothing is deleted."""
    data, name = await read_upload(request, file_name)
    outcome = await asyncio.to_thread(
        run_import, services.sessions, data, name, operator=user.name, dry_run=dry_run
    )
    if outcome.audit_id is not None:
        # Committed: online, the next decision reads the new rows; the offline snapshot is
        # retaken at the loop's next wake, so an outage starting now still knows the cars and
        # the spaces an import changed (an update-only import too: 业主超车位 counts them).
        services.access_changed()
    body: dict[str, Any] = {"dry_run": dry_run, **outcome.to_json()}
    if not dry_run and not outcome.applied:
        count = len(outcome.plan.errors)
        body = {"detail": f"{count} row(s) have errors; nothing was imported: correct the "
                          "file and import it again", **body}
        return JSONResponse(body, status_code=422)
    return JSONResponse(body)
