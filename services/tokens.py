"""Signed bearer tokens: ``base64url(json).base64url(hmac-sha256)``.

Small on purpose: the payload is a user name, a role, an expiry and a session id (``sid``):
a console session keeps its id while it is renewed, an API token has one of its own, so a
log-out can end every token of that session, or that one token (``EndedSessions``). Tokens
issued before API tokens carried one have none; they cannot be logged out and keep working
until they expire. The signing key comes from the settings (generated per installation in
development, required in production).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
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
    session_id: str | None = None  # None: an API token issued before they carried one
    # services.passwords.password_stamp of the password logged in with; None: a token
    # issued before tokens carried one, which a password reset does not end.
    password_stamp: str | None = None


def new_session_id() -> str:
    """A fresh session id: 128 random bits."""
    return secrets.token_urlsafe(16)


def session_fingerprint(session_id: str) -> str:
    """What the audit log keeps of a session id (SHA-256, hex): enough to recognise its
    tokens again after a restart, and never anything that could be put into one."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class TokenSigner:
    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key.encode()
        self._ttl = ttl_seconds

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def issue(
        self, username: str, role: str, *, now: float | None = None,
        session_id: str | None = None, password_stamp: str | None = None,
    ) -> str:
        expires = (now if now is not None else time.time()) + self._ttl
        payload: dict[str, object] = {"sub": username, "role": role, "exp": expires}
        if session_id is not None:
            payload["sid"] = session_id
        if password_stamp is not None:
            payload["pw"] = password_stamp
        body = _b64(json.dumps(payload).encode())
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, *, now: float | None = None) -> TokenClaims:
        body, _, signature = token.partition(".")
        if not body or not signature or not same_secret(signature, self._sign(body)):
            raise AuthenticationError("invalid token")
        try:
            payload = json.loads(_unb64(body))
            sid, stamp = payload.get("sid"), payload.get("pw")
            claims = TokenClaims(str(payload["sub"]), str(payload["role"]), float(payload["exp"]),
                                 None if sid is None else str(sid),
                                 None if stamp is None else str(stamp))
        except (ValueError, KeyError, TypeError) as err:
            raise AuthenticationError("invalid token") from err
        if claims.expires_at < (now if now is not None else time.time()):
            raise AuthenticationError("token expired")
        return claims

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


class EndedSessions:
    """Sessions logged out (console sessions, API tokens), each kept until the last token it
    was given has expired, by its :func:`session_fingerprint`.

    A console session's token is renewed on every page and keep-alive, and each is valid until
    its own expiry: clearing the browser's cookie at log-out left every copy of it (one read off
    the wire on a booth LAN without TLS) usable, and renewable, for as long as it was used. An
    API token lives ``api.token_ttl_minutes`` and is not renewed. Held in memory for the
    per-request check; a restart fills it again from the log-outs' audit entries
    (services/session_ends.py).
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def end(self, session_id: str, until: float, *, now: float | None = None) -> None:
        """``until``: when the last token issued for the session expires."""
        self.add(session_fingerprint(session_id), until, now=now)

    def add(self, fingerprint: str, until: float, *, now: float | None = None) -> None:
        """A session known by its fingerprint (read back from the audit log); one already
        held keeps the later of the two times."""
        now = time.time() if now is None else now
        with self._lock:
            # A new dict, swapped in whole: ended() reads it without the lock.
            kept = {fp: t for fp, t in self._until.items() if t >= now}
            kept[fingerprint] = max(until, kept.get(fingerprint, until))
            self._until = kept

    def ended(self, claims: TokenClaims) -> bool:
        return (claims.session_id is not None
                and session_fingerprint(claims.session_id) in self._until)
