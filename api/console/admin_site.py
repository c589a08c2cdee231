"""The admin page for the site as a whole: zone counts after a physical check, and the
fire-alarm hold (trigger for a drill, clear once the panel is reset).

Both act through the JSON API (``PUT /api/v1/zones/{id}/occupancy``,
``POST /api/v1/safety/fire-alarm[/clear]``) from the page's script, so the bounds, the
409 while the panel's contact is still active and the audit entries are the API's own.

The page stays current from the console's event stream (api/static/site.js): an alarm the
panel raises or clears, gates moving and counts changing show without a reload.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.console.admin import admin_page
from api.console.error_texts import browser_table
from api.console.i18n import code, translate
from api.console.rendering import current_lang, gate_names, page_user, services_of, zone_label
from controllers.barrier import BarrierState
from models.site import configured_zones

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin", include_in_schema=False)

# What site.js says about its stream beyond the texts every page has (msg.live_lost).
LIVE_JS_KEYS = ("site.live_on",)


@dataclass(frozen=True, slots=True)
class GateState:
    gate_id: str
    name: str
    state: str


@router.get("/site", response_class=HTMLResponse)
def site_page(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    services = services_of(request)
    with services.sessions() as session:
        zones = configured_zones(session)
        session.expunge_all()
    safety = services.safety
    names = gate_names(services)
    gates = [GateState(gate_id, names.get(gate_id, gate_id), str(barrier.state))
             for gate_id, barrier in services.barriers.items()]
    lang = current_lang(request)
    return admin_page(request, "admin/site.html", {
        "zones": zones, "gates": gates,
        # A refused count names its zone as the reports do (区域 A · A区地面), not by id only.
        "error_table": browser_table(
            lang, zones={zone.id: zone_label(zone.id, zone.name) for zone in zones}),
        "live_texts": json.dumps({key: translate(lang, key) for key in LIVE_JS_KEYS},
                                 ensure_ascii=False),
        # A gate's state as the server words it, for the states the stream brings later.
        "state_labels": json.dumps({str(s): code(lang, str(s)) for s in BarrierState},
                                   ensure_ascii=False),
        # No supervisor configured: the page says so instead of offering buttons that 422.
        "safety_enabled": safety is not None,
        "fire_alarm": safety is not None and safety.fire_alarm_active,
    }, user)
