"""批量导入 on 住户与车辆 (admin only): choose the office's CSV, 预览, then 导入.

Server-rendered forms, as the 用户 page's: the preview runs the import's own checks
(``services/resident_import.py``) without writing and shows the counts and a table of the
rows in error (行号, 内容, 问题), and what it changes of households and residents on file
(电话 138… → 139…, 车位数, 备注; phones shown whole, as the households page shows them). The
file is kept in memory for a while under a random
token tied to the admin who sent it, so 导入 does not ask for it again; 导入 checks it once
more in its own transaction (someone may have registered one of its plates meanwhile) and
writes all of it or nothing. The template (``template.csv``) is UTF-8 with a BOM, so Excel
on a Chinese Windows opens it with its Chinese headers intact.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from api.console.admin import admin_page
from api.console.i18n import Lang, translate
from api.console.rendering import current_lang, page_user, services_of
from api.console.security import verify_csrf
from api.deps import Principal
from api.routes.resident_import import FILE_NAME_MAX, read_file_field, read_import_form
from errors import ConflictError, InvalidInputError
from services.resident_import import ImportOutcome, run_import
from services.resident_import_file import MAX_BYTES, MAX_ROWS, chinese_text, template_csv
from services.resident_import_updates import FieldChange

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin/households/import", include_in_schema=False)

TEMPLATE_NAME = "household-import-template.csv"
# Previews kept for 导入: a few admins at once, each file at most 2 MB.
KEPT_PREVIEWS = 8
PREVIEW_TTL_S = 30 * 60
# A note's old and new words in the changes table: enough to tell them apart.
NOTE_SHOWN = 40
_FIELD_LABELS = {"phone": "res.phone", "spaces": "hh.spaces", "note": "hh.note"}


@dataclass(frozen=True, slots=True)
class _Kept:
    username: str
    file_name: str
    data: bytes
    at: float


class PreviewStore:
    """The files previewed, by token, until imported, replaced or old."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, username: str, file_name: str, data: bytes) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._drop_old()
            self._kept[token] = _Kept(username, file_name, data, time.monotonic())
            while len(self._kept) > KEPT_PREVIEWS:
                self._kept.popitem(last=False)
        return token

    def take(self, token: str, username: str) -> _Kept | None:
        with self._lock:
            self._drop_old()
            kept = self._kept.get(token)
            if kept is None or kept.username != username:
                return None
            del self._kept[token]
            return kept

    def _drop_old(self) -> None:
        now = time.monotonic()
        for token in [t for t, k in self._kept.items() if now - k.at > PREVIEW_TTL_S]:
            del self._kept[token]


def previews(request: Request) -> PreviewStore:
    state = request.app.state
    store = getattr(state, "import_previews", None)
    if store is None:
        store = state.import_previews = PreviewStore()
    return store


def _shown(lang: Lang, value: int | str | None) -> str:
    if value is None or value == "":
        return translate(lang, "imp.empty")
    text = str(value)
    return text if len(text) <= NOTE_SHOWN else text[:NOTE_SHOWN] + "…"


def change_rows(lang: Lang, changes: list[FieldChange]) -> list[tuple[int, str, str]]:
    """The changes table's rows (行号, 住户/成员, 电话 138… → 139…；车位数 1 → 2): one per
    row of the sheet and object changed."""
    grouped: dict[tuple[int, str], list[str]] = {}
    for c in changes:
        grouped.setdefault((c.row, c.who), []).append(
            f"{translate(lang, _FIELD_LABELS[c.field])} {_shown(lang, c.old)} → "
            f"{_shown(lang, c.new)}")
    return [(row, who, translate(lang, "admin.join").join(texts))
            for (row, who), texts in grouped.items()]


def _page(request: Request, user: Principal, **context: Any) -> Response:
    outcome = context.get("outcome")
    changes = (change_rows(current_lang(request), outcome.plan.changes)
               if outcome is not None else [])
    return admin_page(request, "admin/resident_import.html",
                      {"max_bytes": MAX_BYTES, "max_rows": MAX_ROWS, "outcome": None,
                       "token": None, "problem": None, "done": False, "changes": changes,
                       **context}, user)


def _refused(request: Request, user: Principal, err: Exception) -> Response:
    """A file refused whole: said in the page's language, the form offered again."""
    text = chinese_text(err) if current_lang(request) == "zh" else str(err)
    return _page(request, user, problem=text)


@router.get("", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    return _page(request, user)


@router.get("/template.csv")
def template(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    return Response(template_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{TEMPLATE_NAME}"'})


async def _uploaded(request: Request, user: Principal) -> tuple[bytes, str] | None:
    """The file of the preview form, CSRF checked; None when no file was chosen."""
    form = await read_import_form(request)
    try:
        token = form.get("csrf_token")
        await verify_csrf(request, user.name, token if isinstance(token, str) else "")
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return None
        return await read_file_field(upload), upload.filename[:FILE_NAME_MAX]
    finally:
        await form.close()


@router.post("", response_class=HTMLResponse)
async def preview(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    try:
        uploaded = await _uploaded(request, user)
        if uploaded is None:
            return _page(request, user, problem=translate(current_lang(request), "imp.no_file"))
        data, file_name = uploaded
        outcome: ImportOutcome = await asyncio.to_thread(
            run_import, services_of(request).sessions, data, file_name, operator=user.name,
            dry_run=True)
    except InvalidInputError as err:
        return _refused(request, user, err)
    token = None if outcome.plan.errors else previews(request).keep(user.name, file_name, data)
    return _page(request, user, outcome=outcome, token=token)


@router.post("/apply", response_class=HTMLResponse)
async def apply(
    request: Request,
    token: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    kept = previews(request).take(token, user.name)
    if kept is None:
        return _page(request, user, problem=translate(current_lang(request), "imp.expired"))
    try:
        outcome = await asyncio.to_thread(
            run_import, services_of(request).sessions, kept.data, kept.file_name,
            operator=user.name, dry_run=False)
    except (InvalidInputError, ConflictError) as err:
        return _refused(request, user, err)
    if outcome.audit_id is not None:  # something was written
        services_of(request).access_changed()  # as the API does: the offline snapshot too
    return _page(request, user, outcome=outcome, done=outcome.applied)
