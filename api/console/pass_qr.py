"""A visitor pass's QR code as a page the guard shows, prints or photographs for the visitor.

The code is the one ``GET /api/v1/passes/{id}/qr`` answers (signed with the pass's own
nonce); the page draws it as an inline SVG, so nothing is fetched from outside and the
picture scales sharply on a phone screen and on paper.
"""

from __future__ import annotations

import io
import logging

import segno
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from api.console.admin import admin_page, pass_status
from api.console.pass_schedule import schedule_text
from api.console.rendering import current_lang, page_user, render, services_of
from api.params import PathId
from models.people import Household
from models.vehicles import VisitorPass
from services.credentials import qr_code
from wall_clock import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin", include_in_schema=False)


def qr_svg(code: str) -> Markup:
    """The code as an SVG element; error correction M survives a crease or a glare spot."""
    buffer = io.BytesIO()
    segno.make(code, error="m").save(
        buffer, kind="svg", xmldecl=False, svgns=True, scale=8, border=4, omitsize=True,
        title="QR", svgclass="qr-code", lineclass=None,
    )
    return Markup(buffer.getvalue().decode())  # segno's own SVG: no user text inside


@router.get("/passes/{pass_id}/qr", response_class=HTMLResponse)
def pass_qr_page(request: Request, pass_id: PathId) -> Response:
    # Guards too: they register the visitor at the booth and hand over the code there.
    user = page_user(request)
    if isinstance(user, Response):
        return user
    services = services_of(request)
    with services.sessions() as session:
        visitor_pass = session.get(VisitorPass, pass_id)
        if visitor_pass is None:
            # A link to a pass deleted since: a page saying so, not the API's JSON.
            return render(request, "admin/pass_qr.html", {"missing": pass_id}, user,
                          status_code=404)
        household = session.get(Household, visitor_pass.host_household_id)
        session.expunge(visitor_pass)
    code = qr_code(services.settings.signing_key(), pass_id, visitor_pass.qr_nonce)
    host = f"{household.building} {household.unit}" if household else ""
    return admin_page(request, "admin/pass_qr.html", {
        "visitor_pass": visitor_pass, "host": host, "qr_text": code, "svg": qr_svg(code),
        "status": pass_status(visitor_pass, utcnow()),
        "schedule": schedule_text(current_lang(request), visitor_pass.weekdays,
                                  visitor_pass.hours_from, visitor_pass.hours_to),
    }, user)
