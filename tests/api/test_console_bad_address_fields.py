"""A console page's address with a value the page would not write names the parameter once,
by its name: 号牌种类's plate_kind=bogus read “str-enum[PlateKind]” 的值 “bogus” 无效 and
“literal['']” 的值 “bogus” 无效, the types pydantic tried, not the field."""

from __future__ import annotations

from typing import Any

from tests.api.test_console import add_staff, cookie_login


def test_a_bad_plate_kind_in_the_address_names_plate_kind_once(client: Any) -> None:
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    page = client.get("/console/history", params={"plate_kind": "bogus"})
    assert page.status_code == 422
    assert page.text.count("“plate_kind” 的值 “bogus” 无效") == 1, page.text
    assert "str-enum" not in page.text and "literal[" not in page.text
    # A plain parameter reads as before.
    since = client.get("/console/history", params={"since": "2026-13-01"})
    assert since.status_code == 422 and "“since” 的值 “2026-13-01” 无效" in since.text
