"""The limit on a guard's phone reveals (api/routes/resident_phone.py) holds for requests sent
at once: each counted the reveals committed before any of them, so a script sending them
side by side got as many numbers as the server ran at a time, past the limit."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from api.routes import resident_phone
from tests.api.test_resident_phone_reveal import resident_with_phone, reveals
from wall_clock import utcnow


def test_reveals_sent_at_once_stop_at_the_limit(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resident_phone, "REVEALS_PER_WINDOW", 2)

    def slow_clock() -> datetime:
        # Each request reads its window a moment before counting: side by side, all of them
        # are there together before any has committed its reveal.
        time.sleep(0.3)
        return utcnow()

    monkeypatch.setattr(resident_phone, "utcnow", slow_clock)
    resident = resident_with_phone(client, admin_headers)
    url = f"/api/v1/residents/{resident}/phone-reveal"
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: client.post(url, headers=guard_headers), range(6)))
    assert sorted(a.status_code for a in answers) == [200, 200, 429, 429, 429, 429]
    assert len(reveals(client)) == 2
