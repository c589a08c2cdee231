"""Apps built in one process share their routers' analysis (api/app.py, ``api_routes``).

FastAPI analyses an included router's endpoints at the first request an app routes through
it, per inclusion: each app (a restarted controller, every test's app) paid ~0.6 s of CPU
for it before the routers were included once per process."""

from __future__ import annotations

from typing import Any

from tests.conftest import services_of


def included_routers(app: Any) -> list[Any]:
    return [route for route in app.routes if hasattr(route, "original_router")]


def test_a_second_app_routes_through_the_routers_the_first_analysed(client: Any) -> None:
    from api.app import create_app

    assert client.get("/healthz").status_code == 200  # the first app has routed a request
    again = create_app(services_of(client))
    first, second = included_routers(client.app), included_routers(again)
    assert len(first) > 20
    assert all(a is b for a, b in zip(first, second, strict=True))
