"""Security by default, route by route: every route of the API and the console refuses a
caller without a login (or a camera's key), except the few that are public on purpose and
listed here, and a guard reaches the booth's routes and none of the office's. A route added
without its auth dependency, or with the wrong role, fails this test before it ships; the
public ones never show a plate, a name or a phone."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from tests.api.test_console import add_staff, cookie_login

# (method, path template): what anyone on the network may call, and why.
PUBLIC = {
    # drivers' apps and the lot's signs (availability API, docs/parking.md)
    ("GET", "/api/v1/availability"),
    ("GET", "/api/v1/availability/spaces"),
    ("GET", "/api/v1/availability/spaces/{space_id:path}"),
    ("GET", "/api/v1/availability/stream"),
    ("GET", "/api/v1/guidance"),
    # monitoring (no personal data; /metrics takes its own token)
    ("GET", "/healthz"),
    # logging in and out, and the login page's language
    ("POST", "/api/v1/auth/token"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("POST", "/console/logout"),
    ("POST", "/console/lang"),
    # the console's own files, the browser's icon, the API's description
    ("GET", "/console/static/{name}"),
    ("GET", "/favicon.ico"),
    ("GET", "/favicon.svg"),
    ("GET", "/docs"),
}
REFUSED = {401, 403, 302, 303, 307}

# What a guard's login reaches beyond the public routes: the booth's work (gates, passages,
# review, alarms, visitor passes, looking up a household to call) and nothing of the office's
# (enrolment, lists, reports, audit, users, personal data, faces). Every other route answers
# a guard 403; a change of roles changes this list on purpose.
GUARD_API = {
    ("GET", "/api/v1/alarms"), ("POST", "/api/v1/alarms/{alarm_id}/ack"),
    ("GET", "/api/v1/gates"), ("POST", "/api/v1/gates/{gate_id}/actions"),
    ("POST", "/api/v1/gates/{gate_id}/credentials"), ("POST", "/api/v1/gates/{gate_id}/frames"),
    ("POST", "/api/v1/gates/{gate_id}/typed-plate"),
    ("POST", "/api/v1/guidance/hold"), ("DELETE", "/api/v1/guidance/hold/{holder}"),
    ("GET", "/api/v1/households"), ("GET", "/api/v1/households/{household_id}"),
    ("GET", "/api/v1/residents"), ("GET", "/api/v1/residents/{resident_id}"),
    # the host's whole number, one at a time and audited (the lists show it masked)
    ("POST", "/api/v1/residents/{resident_id}/phone-reveal"),
    ("GET", "/api/v1/vehicles"), ("GET", "/api/v1/vehicles/{vehicle_id}"),
    ("GET", "/api/v1/lists"),
    ("GET", "/api/v1/passages"), ("GET", "/api/v1/passages/{passage_id}"),
    ("GET", "/api/v1/passages/{passage_id}/snapshot"),
    ("POST", "/api/v1/passages/{passage_id}/resolve"),
    ("GET", "/api/v1/presence"), ("POST", "/api/v1/presence/{plate}/left"),
    ("GET", "/api/v1/passes"), ("POST", "/api/v1/passes"), ("GET", "/api/v1/passes/{pass_id}"),
    ("PATCH", "/api/v1/passes/{pass_id}"), ("GET", "/api/v1/passes/{pass_id}/qr"),
    ("GET", "/api/v1/review"),
    ("GET", "/api/v1/safety"), ("POST", "/api/v1/safety/fire-alarm"),
}
# Staff accounts (api/routes/users.py): admins only, as the console's 用户 page. Named here so
# that a route lost, or one opened to guards, fails below rather than going unnoticed.
STAFF_ACCOUNTS_API = {
    ("GET", "/api/v1/users"), ("POST", "/api/v1/users"), ("PATCH", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/password"),
}
GUARD_CONSOLE = {
    ("GET", "/console"), ("GET", "/console/alarms"), ("GET", "/console/history"),
    ("GET", "/console/password"), ("GET", "/console/fragments/alarms"),
    ("GET", "/console/fragments/review"), ("GET", "/console/fragments/journal"),
    ("GET", "/console/fragments/journal/{journal_id}"),
    ("GET", "/console/fragments/passage/{passage_id}"), ("GET", "/console/fragments/passages"),
    ("GET", "/console/admin/passes"), ("GET", "/console/admin/passes/{pass_id}/qr"),
    ("GET", "/console/presence"), ("GET", "/console/presence/left"),
}


def every_route(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every API route, through included routers (FastAPI keeps those as
    wrappers holding the router and the prefix it was included under)."""
    for route in routes:
        if isinstance(route, APIRoute):
            assert route.methods is not None  # an APIRoute's default is GET
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, prefix + route.path
        elif hasattr(route, "original_router") and hasattr(route, "include_context"):
            yield from every_route(
                route.original_router.routes, prefix + route.include_context.prefix
            )


SAMPLE = {"day": "2026-11-28", "month": "2026-11"}


def concrete(path: str) -> str:
    """A template with its parameters filled in: ids 1, days and months real, names a word."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return SAMPLE.get(name, "1" if name.endswith("id") else "main-in")

    return re.sub(r"\{([^}]+)\}", value, path)


def ask(client: Any, method: str, url: str, headers: dict[str, str] | None = None) -> Any:
    """The request (without a login unless ``headers`` carry one); a console form that first
    wants its fields (checked before the page's own login check) is sent again with each of
    them filled in."""
    response = client.request(method, url, json={}, headers=headers, follow_redirects=False)
    if response.status_code == 422 and response.headers["content-type"] == "application/json":
        detail = response.json().get("detail")
        missing = [e["loc"][-1] for e in (detail if isinstance(detail, list) else ())
                   if e.get("type") == "missing" and e["loc"][0] == "body"]
        if missing:
            response = client.request(method, url, data={name: "1" for name in missing},
                                      headers=headers, follow_redirects=False)
    return response


def test_every_route_needs_a_login_or_is_public_on_purpose(client: Any) -> None:
    routes = sorted(set(every_route(client.app.routes)))
    # A FastAPI that stopped exposing included routers would make this test pass on nothing.
    assert len(routes) > 90, routes
    paths = {path for _, path in routes}
    assert {"/api/v1/passes/{pass_id}", "/console/admin/passes"} <= paths
    stale = {p for p in PUBLIC if p not in set(routes)}
    assert not stale, f"listed as public but no such route: {sorted(stale)}"

    answered: list[str] = []
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        response = ask(client, method, concrete(path))
        if response.status_code not in REFUSED:
            answered.append(f"{method} {path} -> {response.status_code} {response.text[:80]}")
    assert answered == [], "\n".join(answered)


def test_head_is_refused_wherever_get_is(client: Any) -> None:
    """HEAD is answered as GET (api/head_requests.py), so through the same login and role
    checks: a GET route refused without a login refuses HEAD alike, a public one answers it."""
    routes = sorted(set(every_route(client.app.routes)))
    gets = [path for method, path in routes if method == "GET" and not path.endswith("/stream")]
    assert len(gets) > 40, gets
    differ = []
    for path in gets:
        url = concrete(path)
        got = client.get(url, follow_redirects=False).status_code
        head = client.head(url, follow_redirects=False).status_code
        if head != got or (("GET", path) not in PUBLIC and head not in REFUSED):
            differ.append(f"{path}: GET {got}, HEAD {head}")
    assert differ == [], "\n".join(differ)


def reached(client: Any, routes: list[tuple[str, str]], headers: dict[str, str]) -> set[Any]:
    """The routes that did not answer 401 or 403 (a 404 or 422 got past the role check)."""
    return {(method, path) for method, path in routes
            if ask(client, method, concrete(path), headers).status_code not in (401, 403)}


def test_a_guard_reaches_the_booths_routes_and_no_others(client: Any) -> None:
    headers = add_staff(client.app.state.services, "guard1", "guard")
    routes = sorted(set(every_route(client.app.routes)) - PUBLIC)
    # Not asked: a stream never ends, and a log-out would end the token for the rest.
    api = [(m, p) for m, p in routes if p.startswith("/api/")
           and not p.endswith("/stream") and not p.endswith("/logout")]
    assert reached(client, api, headers) == GUARD_API
    cookie_login(client, "guard1", "guard")
    # Pages only: a console POST without the page's CSRF token is refused whoever sends it.
    console = [(m, p) for m, p in routes if p.startswith("/console") and m == "GET"]
    assert reached(client, console, {}) == GUARD_CONSOLE


def test_the_staff_account_routes_are_for_admins_only(client: Any) -> None:
    routes = set(every_route(client.app.routes))
    assert routes >= STAFF_ACCOUNTS_API and not STAFF_ACCOUNTS_API & (GUARD_API | PUBLIC)
    admin = add_staff(client.app.state.services, "admin", "admin")
    assert reached(client, sorted(STAFF_ACCOUNTS_API), admin) == STAFF_ACCOUNTS_API


def test_the_public_routes_never_show_a_plate_a_name_or_a_phone(client: Any) -> None:
    """With a resident, her car, a visitor pass and the car's passage on file, nothing public
    (availability, guidance, health, metrics, the login page, docs) holds any of them."""
    admin = add_staff(client.app.state.services, "admin", "admin")

    def post(path: str, body: dict[str, Any]) -> Any:
        response = client.post(path, json=body, headers=admin)
        assert response.status_code in (200, 201), response.text
        return response.json()

    home = post("/api/v1/households", {"building": "3栋", "unit": "1201"})["id"]
    post("/api/v1/residents", {"household_id": home, "name": "王芳", "phone": "13800001234"})
    post("/api/v1/vehicles", {"household_id": home, "plate": "闽AD12345"})
    post("/api/v1/gates/main-in/typed-plate", {"plate": "闽AD12345", "reason": "摄像机没认出"})
    private = ("闽AD12345", "AD12345", "王芳", "13800001234", "1201")
    for method, path in sorted(PUBLIC):
        if path.endswith("/stream") or "{" in path or method != "GET":
            continue  # streams and files have tests of their own; the POSTs take credentials
        query = {"building": "3"} if path == "/api/v1/guidance" else None
        response = client.get(path, params=query, follow_redirects=False)
        assert response.status_code == 200, (path, response.status_code)
        leaked = [word for word in private if word in response.text]
        assert leaked == [], (path, leaked)
