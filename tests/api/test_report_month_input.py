"""A month for the reports is typed as YYYY-MM in ASCII digits: anything else, including
digits of other scripts that Python's ``\\d`` takes (full-width ２０２６, Arabic-Indic), is a
clear 422, never a 500 from a CSV file name the HTTP header cannot carry."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_console import add_staff, cookie_login


@pytest.mark.parametrize("month", ["２０２６-11", "٢٠٢٦-١١", "2026-１１"])
def test_a_month_in_other_digits_is_refused_on_the_api_page_and_csv(
    client: Any, month: str
) -> None:
    admin = add_staff(client.app.state.services, "boss", "admin")
    api = client.get(f"/api/v1/reports/month/{month}", headers=admin)
    assert api.status_code == 422, api.text
    assert "YYYY-MM" in api.json()["detail"]

    cookie_login(client, "boss", "admin")
    table = client.get(f"/console/admin/reports/month/{month}.csv")
    assert table.status_code == 422, table.text
    page = client.get("/console/admin/reports/month", params={"month": month})
    assert page.status_code == 422
    assert 'id="month-days"' not in page.text


def test_an_ascii_month_still_downloads(client: Any) -> None:
    add_staff(client.app.state.services, "boss", "admin")
    cookie_login(client, "boss", "admin")
    table = client.get("/console/admin/reports/month/2026-11.csv")
    assert table.status_code == 200
    assert table.headers["content-disposition"] == 'attachment; filename="parkgate-2026-11.csv"'


def test_a_day_typed_for_a_month_is_told_the_form(client: Any) -> None:
    """2026-11-01 (a date, or a copied day report's address) was refused by the length bound
    alone: 'String should have at most 7 characters' on the API, 「“month” 的值无效」 on the
    page, neither saying that a month is YYYY-MM."""
    admin = add_staff(client.app.state.services, "boss", "admin")
    api = client.get("/api/v1/reports/month/2026-11-01", headers=admin)
    assert api.status_code == 422, api.text
    assert api.json()["detail"] == "give a month as YYYY-MM, e.g. 2026-11, got '2026-11-01'"
    assert client.get(f"/api/v1/reports/month/{'1' * 33}", headers=admin).status_code == 422

    cookie_login(client, "boss", "admin")
    page = client.get("/console/admin/reports/month", params={"month": "2026-11-01"})
    assert page.status_code == 422
    assert "月份格式为 年-月，例如 2026-11" in page.text
