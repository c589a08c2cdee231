"""Background work that meets a database outage reports it as one, not as a traceback.

The overstay check runs every minute and the offline refresh every 30 s; during an outage
each raised OperationalError with a full traceback, logged every time (the outage is real,
tests/db_outage.py).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from errors import StoreUnavailableError
from services.container import _load_credentials
from tests.api.test_database_outage import FAST
from tests.db_outage import DatabaseOutage


def test_overstay_and_credential_reads_meet_an_outage_as_an_outage(
    app_factory: Any, outage: DatabaseOutage, caplog: pytest.LogCaptureFixture
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    outage.cut(services.engine)

    with pytest.raises(StoreUnavailableError):
        services.parking.check_overstays()
    with pytest.raises(StoreUnavailableError):
        _load_credentials(services.offline_credentials, services.sessions, [])
    with caplog.at_level(logging.INFO, logger="services.parking"):
        for _ in range(2):
            client.portal.call(services.parking._overstay_once)
    logged = [r for r in caplog.records if r.name == "services.parking"]
    assert [(r.levelno, r.exc_info) for r in logged] == [(logging.WARNING, None)]
