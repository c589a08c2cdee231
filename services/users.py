"""Console and API users (admin, guard)."""

from __future__ import annotations

import unicodedata
from typing import Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from errors import ConflictError, InvalidInputError, NotFoundError
from models.events import AuditEntry
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


# --- what the 用户 page and /api/v1/users do to staff accounts -----------------------------
# One place for their rules and audit entries: a form and a JSON call must not drift apart.
# Each takes the acting admin's name, writes its audit entry in the caller's transaction
# (services never commit) and leaves the process's memory of active staff to the caller:
# api/active_accounts.py, after the commit.


class OwnAccountError(ConflictError):
    """What an admin may not do to their own account here: deactivate or demote it (so the
    one acting is always an active admin left), or reset its password without the current
    one (that is 修改密码, which asks for it)."""


OWN_DEACTIVATE = "you cannot deactivate your own account; another admin can"
OWN_DEMOTE = "you cannot change your own role; another admin can"
OWN_PASSWORD = (
    "this is your own account: change your own password with your current one, on the "
    "console's 修改密码 page (/console/password)"
)


def last_admin_message(username: str) -> str:
    """Why an account may not be deactivated or demoted: nobody could manage staff after."""
    return (f"user {username!r} is the last active admin; make another account an active "
            "admin first")


def staff_accounts(session: Session) -> list[User]:
    """Every admin and guard account, active or not, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def staff_account(session: Session, user_id: int) -> User:
    """The account with this id; NotFoundError (404) without one."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    return user


def _locked_with_admins(session: Session, user_id: int) -> tuple[User, int]:
    """The account ``user_id`` and the number of active admins, read under a row lock on it
    and on every active admin, held until the caller's transaction ends.

    The one acting cannot deactivate or demote themselves, so an active admin always
    remains, except when two admins deactivate or demote each other at the same moment:
    each would see the other still active and both would commit, leaving nobody to manage
    staff accounts. With the lock (PostgreSQL's SELECT ... FOR UPDATE) the second waits for
    the first to commit and then reads the admins as they are: PostgreSQL re-checks a locked
    row against the WHERE clause once the lock is granted, so an admin just deactivated is
    no longer counted, and the second change is refused. Rows are locked in id order, so
    two such changes cannot deadlock. SQLite has no row locks and ignores FOR UPDATE; it
    lets one writer at a time, but Python's sqlite3 begins a transaction only at its first
    write, so the count would be read outside it, before the other change commits. Writing
    first (a change to nothing) takes SQLite's one write lock before the count is read.
    ``populate_existing``: the rows as locked, not as this session read them earlier."""
    if session.connection().dialect.name == "sqlite":
        session.execute(
            update(User).where(User.id == user_id).values(active=User.active)
            .execution_options(synchronize_session=False)
        )
    rows = session.scalars(
        select(User)
        .where(or_(User.id == user_id, and_(User.role == "admin", User.active)))
        .order_by(User.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    user = next((row for row in rows if row.id == user_id), None)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    return user, sum(1 for row in rows if row.role == "admin" and row.active)


def add_account(session: Session, actor: str, username: str, password: str, role: str) -> User:
    """A new account by ``create_user``'s rules, audited as ``user.create``. The name's
    surrounding spaces are dropped, as a pasted name's are on the form."""
    created = create_user(session, username.strip(), password, role)
    session.add(AuditEntry(username=actor, action="user.create", target=f"user:{created.id}",
                           details={"role": role, "username": username.strip()}))
    return created


def set_active(session: Session, actor: str, user_id: int, active: bool) -> User:
    """Deactivate or reactivate an account, audited. A deactivated account's sessions and
    tokens are refused from their next request: every one asks the database whether it is
    still active (api/deps.py, api/console/rendering.py). Reactivating it does not bring them
    back: each change moves the account's sessions generation, which their password stamp
    carries (services/passwords.py), so a guard's token stolen before they left stays dead
    when the account is given back to someone. Both changes move it: a deactivation made
    where this code does not run (SQL) is still closed by a reactivation made here."""
    user, admins = _locked_with_admins(session, user_id)
    if user.username == actor and not active:
        raise OwnAccountError(OWN_DEACTIVATE)
    if not active and user.active and user.role == "admin" and admins <= 1:
        raise ConflictError(last_admin_message(user.username))
    if user.active != active:
        user.sessions_generation += 1
    user.active = active
    session.add(AuditEntry(username=actor, action="user.activate" if active else "user.deactivate",
                           target=f"user:{user_id}", details={"username": user.username}))
    return user


def set_role(session: Session, actor: str, user_id: int, role: str) -> User:
    """Another account's role, audited as ``user.role_change``. Its sessions and tokens carry
    the role they were logged in with and are refused once it differs (api/active_accounts.py):
    a demoted admin's token must not keep admin rights until it expires. The change moves the
    sessions generation too, as set_active's do: otherwise promoting the account back made
    the admin tokens from before the demotion valid again (their role matched once more), so
    a change that "ends the sessions" would only have paused them. The same role again
    changes nothing and is not logged."""
    if role not in ("admin", "guard"):
        raise InvalidInputError(f"role must be admin or guard, got {role!r}")
    user, admins = _locked_with_admins(session, user_id)
    if user.role == role:
        return user
    if user.username == actor:
        raise OwnAccountError(OWN_DEMOTE)
    if user.role == "admin" and user.active and admins <= 1:
        raise ConflictError(last_admin_message(user.username))
    previous, user.role = user.role, role
    user.sessions_generation += 1
    session.add(AuditEntry(username=actor, action="user.role_change", target=f"user:{user_id}",
                           details={"username": user.username, "role": role,
                                    "previous_role": previous}))
    return user


def reset_password_of(session: Session, actor: str, user_id: int, password: str) -> User:
    """重设密码: an admin gives another account a new password (reset_password's rules, and
    its end of the account's sessions), audited as ``user.password_reset``: who reset whose,
    never the password nor its hash."""
    user = staff_account(session, user_id)
    if user.username == actor:
        raise OwnAccountError(OWN_PASSWORD)
    reset_password(session, user, password)
    session.add(AuditEntry(username=actor, action="user.password_reset", target=f"user:{user_id}",
                           details={"username": user.username}))
    return user
