"""Console options (idle time-out, cookie flags, language).

Kept free of web imports so ``settings.py`` can embed it as ``Settings.console``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ConsoleConfig(BaseModel):
    """Console options. Read from ``settings.console`` when the settings have it."""

    model_config = ConfigDict(extra="forbid")

    idle_minutes: int = Field(
        15, ge=1, le=720, description="Log out after this many minutes without input."
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Secure flag on cookies: auto sets it when the request came over https "
        "(behind a proxy, run uvicorn with proxy headers).",
    )
    same_site: Literal["strict", "lax"] = Field(
        "strict", description="SameSite of the session cookie."
    )
    default_lang: Literal["zh", "en"] = Field("zh", description="Console language by default.")
