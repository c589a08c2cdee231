"""Console and API users (admin, guard)."""

from __future__ import annotations

import unicodedata
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from errors import ConflictError, InvalidInputError
from models.people import User, username_key
from services.passwords import (
    MIN_PASSWORD_LENGTH,
    WEAK_PASSWORD,
    hash_password,
    spend_a_verification,
    verify_password,
    weak_password,
)

Role = Literal["admin", "guard"]


def create_user(session: Session, username: str, password: str, role: str) -> User:
    if role not in ("admin", "guard"):
        raise InvalidInputError(f"role must be admin or guard, got {role!r}")
    # Full-width "ｇｕａｒｄ１", styled "𝐚𝐝𝐦𝐢𝐧" and "e" + combining accent are the same name as
    # what they look like: fold them before anything is compared or stored.
    username = unicodedata.normalize("NFKC", username)
    if not username or len(username) > 64:
        raise InvalidInputError("username must be 1–64 characters")
    # Letters of any script, digits and punctuation; no spaces, NULs, invisible characters,
    # combining marks on their own, or bytes the form could not decode (U+FFFD), which make
    # two accounts look alike on the users page and in the audit log.
    if any(
        unicodedata.category(c)[0] in "CZ" or c == "\ufffd" or unicodedata.category(c) == "Mn"
        for c in username
    ):
        raise InvalidInputError("username must not contain spaces or control characters")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if weak_password(password, username):
        raise InvalidInputError(WEAK_PASSWORD)
    # "Guard1" next to "guard1" would be two accounts a person cannot tell apart.
    taken = session.scalar(
        select(User.username).where(User.username_key == username_key(username))
    )
    if taken is not None:
        raise ConflictError(f"user {taken!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    try:
        # In a savepoint: two admins creating the same name at once (the look-up above passes
        # for both) meet the unique username_key, so the second gets a 409, not a 500, and
        # the caller's transaction survives the refusal.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as err:
        raise ConflictError(f"user {username!r} already exists") from err
    return user


def reset_password(session: Session, user: User, password: str) -> None:
    """A new password for ``user``, by the rules a new account's follows. Every session and
    token logged in with the old one is refused from its next request (the password stamp
    they carry no longer matches: api/active_accounts.py)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if weak_password(password, user.username):
        raise InvalidInputError(WEAK_PASSWORD)
    user.password_hash = hash_password(password)


SAME_PASSWORD = "the new password must differ from the current one"


def change_own_password(session: Session, user: User, current: str, new: str) -> bool:
    """``user`` changes their own password: False, and nothing changed, when ``current`` is
    not their password (the caller counts it as a failed login). Otherwise the new one
    follows reset_password's rules and ends every other session the same way; typing the
    current one again is refused, as it would change nothing a colleague saw."""
    if not verify_password(user.password_hash, current):
        return False
    if new == current:
        raise InvalidInputError(SAME_PASSWORD)
    reset_password(session, user, new)
    return True


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, the name matched as creation matches it
    (case and width folded): "GUARD1" is guard1, as no second account can be."""
    user = session.scalar(select(User).where(User.username_key == username_key(username)))
    if user is None or not user.active:
        # Verify anyway so a missing user takes as long as a wrong password.
        spend_a_verification(password)
        return None
    return user if verify_password(user.password_hash, password) else None
