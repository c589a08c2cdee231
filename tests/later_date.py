"""Run the suite as if it were a later day: ``PARKGATE_TEST_SHIFT_DAYS=400 bash scripts/test.sh
--ignore=tests/browser``. Tests that build dates from constants go stale silently (a pass
"from 2026-12-24 for 30 days" is refused as already over from 2027-01-24 on), and so does code
that compares the clock with a version's date; this finds both before the calendar does.

Only the wall clock moves (``time.time``, ``datetime.now``/``utcnow`` and friends, through
time-machine); the monotonic clock, the kernel's file times and the browser's ``Date`` do not.
So two kinds of failure are the shift's own, not the product's: a test that compares a file's
mtime set by the kernel with ``time.time()`` (``test_low_space_never_deletes_what_a_guard_still_
needs``: a file written just now looks shifted-days old) and the browser tests (excluded above:
the page's clock and the server's disagree). libfaketime shifts the monotonic clock too, where
Python's timed waits then last the shift's length: it hangs the suite."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

SHIFT_ENV = "PARKGATE_TEST_SHIFT_DAYS"


def pytest_configure() -> None:
    days = os.environ.get(SHIFT_ENV)
    if not days:
        return
    import time_machine  # a dev requirement; imported only for this check

    # Started once per process (each xdist worker too) and never stopped: the whole run is later.
    time_machine.travel(datetime.now(UTC) + timedelta(days=float(days)), tick=True).start()
