"""The 住户 page's car rows: each names its driver and offers as drivers only the residents of
the car's own flat (the API refuses another flat's resident). Drawn from lookups by id since
each row searched every resident: 10 s for a 2,000-flat community's page."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_console import add_staff, cookie_login


def _created(response: Any) -> int:
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_each_car_names_its_driver_and_offers_its_own_flats_residents(client: Any) -> None:
    admin = add_staff(client.app.state.services, "admin", "admin")
    flats = [_created(client.post("/api/v1/households", headers=admin,
                                  json={"building": "3栋", "unit": unit}))
             for unit in ("101", "102")]
    people = {name: _created(client.post("/api/v1/residents", headers=admin,
                                         json={"household_id": flat, "name": name}))
              for name, flat in (("林芳", flats[0]), ("王五", flats[0]), ("赵六", flats[1]))}
    cars = [
        _created(client.post("/api/v1/vehicles", headers=admin, json={
            "plate": "闽A12345", "household_id": flats[0], "resident_id": people["王五"]})),
        _created(client.post("/api/v1/vehicles", headers=admin, json={
            "plate": "闽A54321", "household_id": flats[1]})),
    ]
    cookie_login(client, "admin", "admin")
    page = client.get("/console/admin/households").text

    rows = re.findall(r'<tr><td data-label="ID[^"]*">(\d+)</td><td class="plate".*?</tr>',
                      page, re.S)
    assert [int(row) for row in rows] == cars
    bodies = re.findall(r'<td class="plate".*?</tr>', page, re.S)
    drivers = [re.search(r'<td class="driver"[^>]*>(.*?)</td>', body, re.S) for body in bodies]
    assert [d.group(1) if d else None for d in drivers] == ["王五", ""]
    offered = [re.findall(r'<option value="(\d+)"( selected)?>([^<]+)</option>',
                          body.split('name="resident_id"', 1)[1].split("</select>", 1)[0])
               for body in bodies]
    assert offered == [
        [(str(people["林芳"]), "", "林芳"), (str(people["王五"]), " selected", "王五")],
        [(str(people["赵六"]), "", "赵六")],
    ]
