"""The console's routers, assembled for ``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from api.console import (
    admin,
    admin_faces,
    admin_site,
    alarm_history,
    cars_inside,
    favicon,
    history,
    household_move_out,
    outage,
    own_password,
    pass_qr,
    reports,
    resident_import,
    routes,
)

router = APIRouter()
router.include_router(routes.router)
router.include_router(resident_import.router)  # before admin's /households/… pages
router.include_router(household_move_out.router)
router.include_router(admin.router)
router.include_router(admin_faces.router)
router.include_router(admin_site.router)
router.include_router(pass_qr.router)
router.include_router(reports.router)
router.include_router(history.router)
router.include_router(alarm_history.router)
router.include_router(cars_inside.router)
router.include_router(outage.router)
router.include_router(own_password.router)
router.include_router(favicon.router)  # /favicon.ico, asked for by browsers on every site
