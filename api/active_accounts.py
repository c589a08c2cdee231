"""Whether a staff account is still active, and what stands for that answer during an outage.

Every request asks the database, so a deactivated guard loses access at once rather than when
the token expires. While the database is down that question cannot be asked. What the guards
need most then needs no database then: the alarm list (the unstored alarms come from the
journal), the booth page with its gate strip, gate actions (audited in the audit journal) and
the event stream. Those alone accept the valid session or token of an account the controller
last knew active (services/known_staff.py: every active account, refreshed with the offline
snapshot, kept on disk so a restart during an outage keeps them). Nothing else is trusted,
and an account the database answered inactive or missing is forgotten at once.

A login during an outage is checked against the argon2 hash kept with that account; a
password changed elsewhere since the last refresh cannot be known, so the password it had
then is the one that works until the database answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import DATABASE_DOWN, transaction
from models.people import User, username_key
from services.known_staff import KnownAccount, LastSeenActive
from services.passwords import spend_a_verification, verify_password
from services.users import authenticate

logger = logging.getLogger(__name__)


def last_seen_active(app_state: Any) -> LastSeenActive:
    """The controller's memory of active staff (``request.app.state.services.staff``)."""
    staff: LastSeenActive = app_state.services.staff
    return staff


def account_changed(app_state: Any, account: KnownAccount, *, active: bool) -> None:
    """After the commit of an admin's change to ``account`` (its password, role, or whether
    it is active): the memory logins during an outage are checked against knows it as it is
    now, at once rather than at the next refresh, and forgets it when it is not active: a
    new password given to a deactivated account must not let it in during an outage."""
    memory = last_seen_active(app_state)
    if active:
        memory.remember(account)
    else:
        memory.forget(account.username)


def account_active(
    app_state: Any, sessions: sessionmaker[Session], username: str, *,
    during_outage: bool = False, stamp: str | None = None, role: str | None = None,
) -> bool:
    """The database's answer, remembered. With ``during_outage``, a database that cannot be
    reached answers with the last answer remembered for an active account; otherwise (and
    for an account not remembered) its error propagates: the caller's 503.

    ``stamp``: the session's password stamp; a session logged in with a password that has
    been reset since, or before the account was deactivated (and reactivated since), is
    answered False (the account itself stays remembered). ``role``: the
    role the session was logged in with; once the account's role was changed (an admin
    demoted to guard) it is answered False too, as its token still says the old one."""
    memory = last_seen_active(app_state)
    mark = memory.refresh_mark()
    try:
        with sessions() as session:
            row = session.execute(
                select(User.role, User.password_hash, User.sessions_generation, User.active)
                .where(User.username == username)
            ).one_or_none()
    except DATABASE_DOWN:
        known = memory.get(username)
        if during_outage and known is not None:
            _database_found_down(app_state)
            return _same_password(stamp, known) and _same_role(role, known.role)
        raise
    if row is None or not row.active:
        memory.forget(username)
        return False
    account = KnownAccount(username, row.role, row.password_hash, row.sessions_generation)
    memory.remember(account, mark)
    return _same_password(stamp, account) and _same_role(role, row.role)


def _same_password(stamp: str | None, account: KnownAccount) -> bool:
    if stamp is None:
        # A session an older parkgate issued (tokens had no stamp; kept across the upgrade, as
        # the signing key is). It cannot say which password or generation it was issued under,
        # but the generations began at 0 with the upgrade: an account whose generation moved
        # since (deactivated, reactivated, role changed) moved after it was issued. Else
        # deactivating and reactivating an account brought such a token back.
        return account.sessions_generation == 0
    return stamp == account.stamp


def _same_role(claimed: str | None, role: str) -> bool:
    return claimed is None or claimed == role


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """A login's answer: the account (None: refused) and whether the database was down, in
    which case the password was checked against the account as last seen active."""

    account: KnownAccount | None
    database_down: bool
    # Whether the name is an active account's (a refusal for a wrong password): only such a
    # name is logged, since a password typed into the name box would otherwise be.
    name_known: bool = False

    def name_for_log(self, name: str) -> str:
        return repr(name) if self.account is not None or self.name_known else unknown_name(name)


def unknown_name(name: str) -> str:
    """A name that is no account's, as the log may carry it: its length only."""
    return f"an unknown name of {len(name)} characters"


def name_for_log(app_state: Any, name: str) -> str:
    """A name not checked against the database (a throttled try), as the log may carry it:
    whole when it is an active account's as last seen, else its length only."""
    return repr(name) if last_seen_active(app_state).get(name) is not None else unknown_name(name)


def check_login(
    app_state: Any, sessions: sessionmaker[Session], username: str, password: str
) -> LoginCheck:
    """The password checked by the database's user row, or while the database cannot be
    reached by the remembered one. argon2 takes tens of milliseconds: call it off the event
    loop."""
    memory = last_seen_active(app_state)
    mark = memory.refresh_mark()
    try:
        with transaction(sessions) as session:
            user = authenticate(session, username, password)
            account = None if user is None else KnownAccount.of(user)
            gone = user is None and not _still_active(session, username)
    except DATABASE_DOWN as err:
        _database_found_down(app_state)
        known = memory.get(username) is not None
        logger.info("login for %s while the database is down (%s): checked against the "
                    "account as last seen active", repr(username) if known
                    else unknown_name(username), type(err).__name__)
        return LoginCheck(_check_remembered(memory, username, password), database_down=True,
                          name_known=known)
    if account is not None:
        memory.remember(account, mark)
    elif gone:
        # Deactivated or deleted where this process did not see it happen (SQL, another
        # tool): a login during a later outage must not let it in on the password it had.
        memory.forget(username)
    return LoginCheck(account, database_down=False, name_known=account is not None or not gone)


def _still_active(session: Session, username: str) -> bool:
    """Whether the account a login names (folded as a login matches it) exists, active."""
    return bool(session.scalar(
        select(User.active).where(User.username_key == username_key(username))
    ))


def _check_remembered(
    memory: LastSeenActive, username: str, password: str
) -> KnownAccount | None:
    account = memory.get(username)
    if account is None:
        # Verify anyway, as authenticate does: an unknown name must take as long as a wrong
        # password, or the answer's time would list the accounts remembered.
        spend_a_verification(password)
        return None
    return account if verify_password(account.password_hash, password) else None


def _database_found_down(app_state: Any) -> None:
    """Trip the gates' short breaker, as a gate that found the database down does: the
    guard's gate action then journals its audit entry before the barrier moves, and the
    next cars go offline at once, instead of each waiting on the database again."""
    services = getattr(app_state, "services", None)
    runtime = getattr(services, "runtime", None)
    if runtime is not None:
        runtime.mark_database_unavailable()
