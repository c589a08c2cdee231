"""Password hashing (argon2id) for console users and resident PINs."""

from __future__ import annotations

import functools
import hashlib
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8

# Staff passwords open barriers: the first ones a guesser tries are refused, as 8 characters
# alone let "12345678" and "password" through. Compared folded (case, full width), as typed
# with their trailing digits and punctuation cut ("password2026", "admin123!").
_COMMON_STEMS = frozenset(
    {
        "password",
        "passw0rd",
        "passwd",
        "admin",
        "administrator",
        "qwerty",
        "qwertyuiop",
        "asdfgh",
        "asdfghjkl",
        "zxcvbnm",
        "abc",
        "abcd",
        "iloveyou",
        "woaini",
        "welcome",
        "letmein",
        "guard",
        "baoan",
        "wuye",
        "parkgate",
        "test",
        "root",
        "user",
        "1qaz2wsx",
        "1q2w3e4r",
        "qazwsx",
        "qazwsxedc",
        "a",
        "aa",
        "q",
        "qq",
    }
)
# Keyboard rows and the alphabet, either way round: "12345678", "87654321", "qwertyui".
_RUNS = ("01234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")

WEAK_PASSWORD = (
    "password is too easy to guess: not one character repeated, a run like 12345678 or "
    "qwertyui, a common password or the username with digits"
)


def weak_password(password: str, username: str = "") -> bool:
    """True for a password a guesser tries first: two or fewer different characters, a run
    on the keyboard or in the alphabet, or a common word or the username with only digits or
    punctuation after it ("zhangwei2026" for zhangwei)."""
    folded = unicodedata.normalize("NFKC", password).lower()
    name = unicodedata.normalize("NFKC", username).lower()
    if len(set(folded)) <= 2:
        return True
    if any(folded in run or folded in run[::-1] for run in _RUNS):
        return True
    stem = _stem(folded)
    return stem in _COMMON_STEMS or (stem != "" and stem in (name, _stem(name)))


def _stem(text: str) -> str:
    return text.rstrip("0123456789!@#$%^&*.-_ ")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_stamp(password_hash: str, sessions_generation: int) -> str:
    """What a session or token carries of the password it was logged in with and of the
    account's ``sessions_generation`` (services/tokens.py): a new password changes the
    account's hash, deactivating or reactivating it or changing its role the generation, so
    every token issued before is refused at its next request, after a restart and during a
    database outage too, as both are in the database and in the staff file
    (services/known_staff.py). A digest of the hash, short: nothing in it helps a guesser
    (the argon2 hash is salted).

    Generation 0, an account never deactivated nor given another role, stamps the hash alone,
    as before the generation existed: tokens issued before the upgrade stay valid."""
    stamped = (password_hash if sessions_generation == 0
               else f"{password_hash}\n{sessions_generation}")
    return hashlib.sha256(stamped.encode()).hexdigest()[:16]


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
