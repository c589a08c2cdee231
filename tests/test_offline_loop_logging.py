"""The background write-back that keeps failing (not an outage) does not flood the log.

It retries every ``access.offline_retry_s`` (5 s by default), and logged a full traceback
each time: 720 an hour, burying everything else an operator needs to read. Now the traceback
comes once, then a one-line reminder at most every few minutes, and one line when it works
again. The journal file is damaged the way a disk damages it (a byte that does not decode);
the app, its database and its background loop are real.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from services import container

REMIND_S = 0.5
FAILING_S = 1.6  # about 30 retries at 0.05 s


def test_a_write_back_that_keeps_failing_logs_one_traceback_then_short_reminders(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(container, "WRITE_BACK_REMINDER_S", REMIND_S)
    client = app_factory(access={"offline_retry_s": 0.05})
    journal = client.app.state.services.settings.data_dir / "journal" / "passages.jsonl"
    with caplog.at_level(logging.INFO, logger="services.container"):
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_bytes(b"\xff\n")
        time.sleep(FAILING_S)
        journal.write_bytes(b"")  # repaired: the damaged line taken out
        deadline = time.monotonic() + 5
        while not any("works again" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the loop never said it works again"
            time.sleep(0.05)

    lines = [r for r in caplog.records
             if r.name == "services.container" and "offline journal" in r.getMessage()]
    tracebacks = [r for r in lines if r.exc_info]
    reminders = [r for r in lines if "still failing" in r.getMessage()]
    assert len(tracebacks) == 1, [r.getMessage() for r in lines]
    assert "UnicodeDecodeError" in str(tracebacks[0].exc_info)
    # At most one per REMIND_S, one line each, saying what still fails.
    assert 1 <= len(reminders) <= FAILING_S // REMIND_S + 1
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in reminders)
    assert all("UnicodeDecodeError" in r.getMessage() for r in reminders)
    (recovered,) = [r for r in lines if "works again" in r.getMessage()]
    assert recovered.levelno == logging.INFO
