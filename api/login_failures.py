"""What a failed login sets off, the same at both doors (console page and API token)."""

from __future__ import annotations

import asyncio

from api.console.throttle import LoginThrottle
from services.container import Services
from services.login_audit import LOGIN_FAILED, Door, alarm_guessing, audit_login, paused


async def login_failed(
    services: Services, throttle: LoginThrottle, username: str, *, via: Door, address: str,
    database_down: bool,
) -> None:
    """Count it (the pause it starts), audit it, and tell the guards when it paused the
    whole address: someone is trying name after name."""
    failure = throttle.failed(address, username)
    await asyncio.to_thread(audit_login, services, LOGIN_FAILED, username, via=via,
                            address=address, database_down=database_down,
                            **paused(failure.pause_s))
    if failure.address_paused_at:
        await alarm_guessing(services, address, failure.address_paused_at)
