"""Signed bearer tokens: ``base64url(json).base64url(hmac-sha256)``.

Small on purpose: the payload is a user name, a role and an expiry; the signing key comes from
the settings (generated per installation in development, required in production).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from errors import AuthenticationError


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of text a client sent with the value expected.

    Compared as UTF-8 bytes: ``hmac.compare_digest`` refuses str with non-ASCII characters
    (TypeError), and a header, cookie or form field can carry any (a corrupted cookie, a
    probe), which must be a mismatch (401/403), not a 500.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class TokenClaims:
    username: str
    role: str
    expires_at: float


class TokenSigner:
    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key.encode()
        self._ttl = ttl_seconds

    def issue(self, username: str, role: str, *, now: float | None = None) -> str:
        expires = (now if now is not None else time.time()) + self._ttl
        body = _b64(json.dumps({"sub": username, "role": role, "exp": expires}).encode())
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, *, now: float | None = None) -> TokenClaims:
        body, _, signature = token.partition(".")
        if not body or not signature or not same_secret(signature, self._sign(body)):
            raise AuthenticationError("invalid token")
        try:
            payload = json.loads(_unb64(body))
            claims = TokenClaims(str(payload["sub"]), str(payload["role"]), float(payload["exp"]))
        except (ValueError, KeyError, TypeError) as err:
            raise AuthenticationError("invalid token") from err
        if claims.expires_at < (now if now is not None else time.time()):
            raise AuthenticationError("token expired")
        return claims

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
