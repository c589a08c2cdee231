"""Staff accounts (admins and guards) for admins: what the console's 用户 page does, as JSON,
for a property-management system that keeps its staff list in step.

The rules and audit entries are the page's own (services/users.py): the same refusals of
weak passwords and of names another account already has (case and width folded), and an
admin cannot deactivate, demote or reset the password of their own account, so the one
acting stays an active admin. What ends an account's sessions and tokens at once:
deactivating it (each request asks whether the account is active), resetting its password
(they carry the old password's stamp) and changing its role (they carry the old role); the
memory of active staff that logins during a database outage are checked against is told at
once as well (api/active_accounts.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Request, Response

from api.active_accounts import account_changed
from api.deps import AdminUser, ServicesDep, SessionDep
from api.params import PathId
from api.schemas import PasswordResetIn, UserIn, UserOut, UserPatch
from models.db import transaction
from models.people import User
from services.known_staff import KnownAccount
from services.login_audit import last_logins
from services.users import (
    add_account,
    reset_password_of,
    set_active,
    set_role,
    staff_account,
    staff_accounts,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/users", tags=["users"])

_REFUSALS: dict[int | str, dict[str, str]] = {
    404: {"description": "No account with this id."},
    409: {"description": "Not on your own account (another admin can), not the last active "
                         "admin (deactivated or demoted), or the name is taken."},
    422: {"description": "A weak or short password, a bad name or role; `detail` says which."},
}


def _out(user: User, last_login: Mapping[str, datetime]) -> UserOut:
    return UserOut.model_validate(user).model_copy(
        update={"last_login": last_login.get(user.username)}
    )


@router.get("", response_model=list[UserOut], summary="List staff accounts")
def list_users(session: SessionDep, _: AdminUser) -> list[UserOut]:
    """Every admin and guard account, active or not, by name; never a password or its hash."""
    logins = last_logins(session)
    return [_out(user, logins) for user in staff_accounts(session)]


@router.post("", response_model=UserOut, status_code=201, summary="Create a staff account",
             responses=_REFUSALS)
def create_user(
    body: UserIn, request: Request, services: ServicesDep, user: AdminUser
) -> UserOut:
    """As the 用户 page's 新建用户 and `main.py create-user`; audited as `user.create`."""
    with transaction(services.sessions) as session:
        created = add_account(session, user.name, body.username, body.password, body.role)
        account = KnownAccount.of(created)
        answer = _out(created, {})
    # Committed: known to logins during a database outage at once, not at the next refresh
    # (a guard created just before an outage could not have logged in during it).
    account_changed(request.app.state, account, active=True)
    logger.info("user %s created by %s as %s (API)", account.username, user.name, body.role)
    return answer


@router.patch("/{user_id}", response_model=UserOut, summary="Deactivate, reactivate or "
              "change the role of a staff account", responses=_REFUSALS)
def update_user(
    user_id: PathId, body: UserPatch, request: Request, services: ServicesDep, user: AdminUser
) -> UserOut:
    """`active: false` is the page's 停用 and ends the account's sessions and tokens at once
    (`user.deactivate`); `active: true` is 启用 (`user.activate`). A new `role` ends them too,
    as they carry the old one (`user.role_change`; the same role again changes nothing).
    Reactivating does not revive the tokens from before the deactivation. Neither on your
    own account, nor deactivating or demoting the last active admin (409)."""
    with transaction(services.sessions) as session:
        target = staff_account(session, user_id)
        before = KnownAccount.of(target)
        if body.active is not None:
            set_active(session, user.name, user_id, body.active)
        if body.role is not None:
            set_role(session, user.name, user_id, body.role)
        account = KnownAccount.of(target)
        answer = _out(target, last_logins(session, target.username))
    # Deactivated: at once, not even a login during a database outage lets them in. A new
    # role: such a login gets it, not the old one. Reactivated: its tokens from before the
    # deactivation are checked against the new sessions generation during an outage too.
    if not answer.active or account != before:
        account_changed(request.app.state, account, active=answer.active)
    logger.info("user %s changed by %s (API): %s", account.username, user.name,
                body.model_dump(exclude_unset=True))
    return answer


@router.post("/{user_id}/password", status_code=204, summary="Reset another account's "
             "password", responses=_REFUSALS)
def reset_password(
    user_id: PathId, body: PasswordResetIn, request: Request, services: ServicesDep,
    user: AdminUser,
) -> Response:
    """The page's 重设密码: the account's sessions and tokens end at once, audited as
    `user.password_reset` (who reset whose, never the password). Not your own account (409):
    that is changed with the current password."""
    with transaction(services.sessions) as session:
        target = reset_password_of(session, user.name, user_id, body.password)
        account = KnownAccount.of(target)
        active = target.active
    # The staff file for logins during a database outage gets the new hash now, not at the
    # next refresh: the old password must not open the booth in an outage that starts soon.
    account_changed(request.app.state, account, active=active)
    logger.info("password of %s reset by %s (API)", account.username, user.name)
    return Response(status_code=204)
