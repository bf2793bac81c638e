"""Logging in: the rate limit, the password, the account's state, and a browser session or a
device token, each attempt in the audit log (a failure too: who tried, from where).

Two short transactions around the password check: Argon2 takes 0.2 s, which must not hold
SQLite's write lock. A failure is committed before it is raised, so the rate limit counts it.
"""

from __future__ import annotations

from argon2 import PasswordHasher

from ..i18n import _
from . import audit, ratelimit, sessions
from ._common import FleetError, _now
from .accounts import DEFAULT_HASHER, PASSWORD_MAX, account_record, verify_password
from .models import Account, AccountRecord, TokenRecord
from .roles import Caller
from sqlalchemy import select

# Verified against when the login name is unknown, so an unknown name takes as long as a
# wrong password and the answer's time tells nobody which names exist.
_DUMMY_HASH = DEFAULT_HASHER.hash("not a password of anyone's")


class LoginFailedError(FleetError):
    """Wrong login name or password: one message for both (the API answers 401)."""

    rule = "login-failed"

    def __init__(self):
        super().__init__(_("wrong login name or password"))


class AccountDisabledError(FleetError):
    """The password was right but the account is disabled (the API answers 403)."""

    rule = "account-disabled"

    def __init__(self, login: str):
        super().__init__(_("account {login!r} is disabled: ask your lock administrator")
                          .format(login=login))


def login(store, login_name: str, password: str, *, address: str | None = None,
          device: str | None = None, hasher: PasswordHasher = DEFAULT_HASHER,
          now: int | None = None) -> tuple[str, TokenRecord, AccountRecord]:
    """Check a login and open a browser session (``device`` None) or enrol a device.

    Returns (the token, handed out once; its record; the account).

    Raises:
        RateLimitedError: too many recent failures for this login name or address.
        LoginFailedError: unknown login name or wrong password.
        AccountDisabledError: the right password for a disabled account.
    """
    now = _now(now)
    login_name = login_name if isinstance(login_name, str) else ""
    subjects = ratelimit.subjects(login_name, address)
    with store.unit_of_work() as uow:
        ratelimit.check(uow, subjects, now)
        row = uow.scalar(select(Account).where(Account.login == login_name.strip().casefold()))
        stored = row.password_hash if row is not None else _DUMMY_HASH
    ok, new_hash = (verify_password(stored, password, hasher)
                    if isinstance(password, str) and len(password) <= PASSWORD_MAX else (False, None))
    who = Caller(row.account_id if row else None, login_name.strip()[:64] or "(empty)",
                 row.display_name if row else "", row.role if row else "", None,
                 device=device, address=address)
    if not ok or row is None:
        with store.unit_of_work() as uow:
            ratelimit.record_failure(uow, subjects, now)
            audit.record(uow, who, "login", None, outcome=audit.REFUSED, now=now)
        raise LoginFailedError()
    with store.unit_of_work() as uow:
        row = uow.get(Account, row.account_id, with_for_update=True)
        if row.disabled_at is not None:
            audit.record(uow, who, "login", "account disabled", outcome=audit.REFUSED, now=now)
            disabled = AccountDisabledError(row.login)
        else:
            disabled = None
            if new_hash is not None:
                row.password_hash = new_hash
            ratelimit.clear_account(uow, login_name)
            kind = sessions.DEVICE if device is not None else sessions.BROWSER
            token, record = sessions.create_token(uow, row.account_id, kind, device, address, now)
            audit.record(uow, who, "login" if device is None else "devices.enrol",
                         None if device is None else f"device {record.device_name!r} (token "
                                                     f"{record.token_id})", now=now)
            account = account_record(uow, row)
    if disabled is not None:
        raise disabled
    return token, record, account
