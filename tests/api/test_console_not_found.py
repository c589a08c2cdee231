"""A console address with no page (a mistyped or old bookmark, a link from an older version):
a page in the console's language with the way back, not the API's ``{"detail":"Not Found"}``.
The API keeps its JSON."""

from __future__ import annotations

from typing import Any

from tests.api.test_console import add_staff, cookie_login


def test_an_unknown_console_address_shows_a_page_with_the_way_back(client: Any) -> None:
    add_staff(client.app.state.services, "guard1", "guard")
    cookie_login(client, "guard1", "guard")
    page = client.get("/console/pases")  # one letter short of 访客通行证's address
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "页面不存在" in page.text and "Not Found" not in page.text
    assert 'href="/console"' in page.text and "返回实时监控" in page.text
    assert "guard1 · 保安" in page.text  # still logged in, with the usual header


def test_logged_out_it_is_the_same_page_and_the_api_keeps_json(client: Any) -> None:
    page = client.get("/console/admin/nothing-here")
    assert page.status_code == 404 and "页面不存在" in page.text
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}
