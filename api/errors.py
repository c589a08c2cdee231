"""Domain errors → HTTP, in one place. Nothing unexpected leaks a traceback to a client."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.console.rendering import render, session_principal
from errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    HardwareError,
    InvalidInputError,
    MalformedBodyError,
    NotFoundError,
    ParkgateError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RecognitionError,
    StoreUnavailableError,
    UnsupportedMediaError,
)
from models.db import DATABASE_DOWN

logger = logging.getLogger(__name__)

_STATUS: list[tuple[type[ParkgateError], int]] = [
    (PayloadTooLargeError, 413),
    (UnsupportedMediaError, 415),
    (MalformedBodyError, 400),
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (HardwareError, 503),
    (RecognitionError, 503),
    (StoreUnavailableError, 503),
    (BusyError, 503),
]


def status_for(err: ParkgateError) -> int:
    for cls, status in _STATUS:
        if isinstance(err, cls):
            return status
    return 400


async def _parkgate_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, ParkgateError)
    status = status_for(err)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(err, BusyError):
        headers = {"Retry-After": str(err.retry_after_s)}
    return JSONResponse({"detail": str(err)}, status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> Any:
    """The parameter a validation error is about: ("query", "plate_kind", member) names it
    second; a loc of one item (or none) is all there is."""
    return loc[1] if len(loc) > 1 else (loc[0] if loc else "?")


async def _validation_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, RequestValidationError)
    path = request.url.path
    if request.method == "GET" and path.startswith("/console") and "/fragments/" not in path:
        # A hand-edited or cut-off address on a page: a page that says so, not a JSON body.
        # The field is the parameter's name (loc[1]): a union's errors end their loc with
        # each member's type ("str-enum[PlateKind]", "literal['']"), one line per member.
        shown = list(dict.fromkeys(
            (str(_field_of(tuple(e.get("loc", ())))), str(e.get("input", ""))[:80])
            for e in err.errors()))
        return render(request, "bad_request.html", {"problems": shown, "back": path},
                      session_principal(request), status_code=422, refresh_session=False)
    problems = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in err.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


async def _http_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, StarletteHTTPException)
    path = request.url.path
    if (err.status_code == 404 and request.method == "GET" and path.startswith("/console")
            and "/fragments/" not in path):
        # A mistyped or old bookmark: a page with the way back, not the API's JSON.
        return render(request, "not_found.html", {}, session_principal(request),
                      status_code=404, refresh_session=False)
    return await http_exception_handler(request, err)


async def _database_down(request: Request, err: Exception) -> Response:
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, err)
    headers = {"Retry-After": "5"}
    if request.url.path.startswith("/console") and "/fragments/" not in request.url.path:
        # A guard's browser gets a page that says what still works, not a JSON body.
        waiting = len(request.app.state.services.runtime.journalled_passages())
        response = render(request, "outage.html", {"waiting": waiting}, None,
                          status_code=503, refresh_session=False)
        response.headers.update(headers)
        return response
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"}, status_code=503,
        headers=headers,
    )


async def _out_of_range(request: Request, err: Exception) -> JSONResponse:
    # Routes bound their numbers and times (api/params.py); this is the net under them, for
    # a value the database cannot store that a route let through.
    logger.warning("value out of range on %s %s: %s", request.method, request.url.path, err)
    return JSONResponse(
        {"detail": "a number or time in the request is out of the range that can be stored"},
        status_code=422,
    )


async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ParkgateError, _parkgate_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Connection-level failures (server down, network cut, pool exhausted) are an outage, not a
    # bug: 503 with Retry-After, never a 500.
    for cls in DATABASE_DOWN:
        app.add_exception_handler(cls, _database_down)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(Exception, _unexpected)
