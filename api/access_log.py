"""uvicorn's access log without the polls: a line per request is right for a person's
requests, not for what machines ask every few seconds all day.

Measured in the log-volume walk (``main.py --log-format json serve``): a board polling
availability every 5 s is 17,280 access lines a day (2.5 MB of JSON), a pushing camera's
heartbeat every 30 s 2,880, a Prometheus scrape every 15 s 5,760, and every frame a camera
pushes one more beside its passage's own line. Those answered without error are dropped; a
refusal or a failure (status 400 and up) is still logged, as is every other request, except
a login refused for a pause (429): a client trying every 2 s through its pauses was an access
line a try (43,200 a day), and the pause's first refusal is logged by the login itself.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"

# (method, path without the query) of the requests machines repeat; what they tell an operator
# is elsewhere: /healthz and /metrics themselves, a frame's passage line, a camera's
# silence (camera_watch logs it dark and back).
QUIET_REQUESTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GET", re.compile(r"/healthz")),
    ("GET", re.compile(r"/metrics")),
    ("GET", re.compile(r"/api/v1/availability(/spaces(/[^/]+)?)?")),
    ("POST", re.compile(r"/api/v1/gates/[^/]+/(heartbeat|frames)")),
    ("POST", re.compile(r"/console/keepalive")),
)
# Logins (and the console's password change) answered 429 while their throttle pauses them.
THROTTLED_LOGINS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"/api/v1/auth/token")),
    ("POST", re.compile(r"/console/(login|password)")),
)


class QuietPolls(logging.Filter):
    """Drops uvicorn.access records of ``QUIET_REQUESTS`` answered below 400 and of
    ``THROTTLED_LOGINS`` answered 429."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's record: (client address, method, path with query, HTTP version, status).
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        _client, method, full_path, _version, status = args
        if not isinstance(status, int) or not isinstance(full_path, str):
            return True
        if status < 400:
            quiet = QUIET_REQUESTS
        elif status == 429:
            quiet = THROTTLED_LOGINS
        else:
            return True
        path = full_path.split("?", 1)[0]
        if method == "HEAD":
            method = "GET"  # a monitor's HEAD /healthz is its GET without the body
        return not any(method == m and pattern.fullmatch(path) for m, pattern in quiet)


def quiet_polls() -> None:
    """Installs the filter on uvicorn's access logger (once)."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, QuietPolls) for f in access.filters):
        access.addFilter(QuietPolls())
