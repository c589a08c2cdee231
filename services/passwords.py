"""Password hashing (argon2id) for console users and resident PINs."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _decoy_hash() -> str:
    """A hash no password is checked against, made once (argon2 takes ~0.2 s)."""
    return hash_password("timing-equaliser")


def spend_a_verification(password: str) -> None:
    """Take as long as :func:`verify_password` for a wrong password, for no account: a login
    for a name that is no (active) account must cost one argon2 run like a wrong password.
    Hashing anew each time cost two, and the extra run told a guesser which names are
    accounts."""
    verify_password(_decoy_hash(), password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
