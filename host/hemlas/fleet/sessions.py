"""Browser sessions and field devices' tokens: made at login, resolved on every request,
revoked one by one, per device, or all of an account's at once.

A token is 32 random bytes (secrets.token_urlsafe) handed out once; the store keeps only its
SHA-256, so a copy of the database opens no session. A browser session lasts a working day, a
device token until it is revoked or its long expiry (a phone is enrolled once, and blocked in
one action when lost).

Revoking a carer's device also revokes the staff keys issued to that carer: the keys are on
the phone (its key file), and a lost phone must open no door. Keys are issued per person by
name (issued_keys.person, `hemlas keys issue --person`), not per device, so every valid key
issued to the account's name is revoked; the lock learns of it at its next admin connection
(`hemlas keys push LOCK`). An account's display name is unique (accounts.py) so the name
finds that one carer's keys.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import false, select, update
from sqlalchemy.orm import Session

from ..i18n import _
from . import audit
from ._common import FleetError, _check_text, _now
from .models import (DEVICE_NAME_LENGTH, Account, AuthToken, IssuedKeyRow, TokenRecord)
from .roles import Caller

BROWSER, DEVICE = "browser", "device"
BROWSER_LIFETIME_S = 12 * 3600  # a working day: a shift and its paperwork, not overnight
DEVICE_LIFETIME_S = 180 * 86400  # a phone enrolled for half a year; revoking is the real end
_TOKEN_BYTES = 32


class TokenError(FleetError):
    """No valid login behind a request (the API answers 401)."""

    rule = "login-required"


class UnknownDeviceError(FleetError):
    rule = "unknown-device"

    def __init__(self, token_id: int):
        super().__init__(_("there is no device token {token_id} (hemlas devices list shows them)")
                          .format(token_id=token_id))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, account_id: int, kind: str, device_name: str | None = None,
                 address: str | None = None, now: int | None = None) -> tuple[str, TokenRecord]:
    """A new token for the account: (the token, to hand out once; its record)."""
    now = _now(now)
    if kind == DEVICE:
        device_name = " ".join(_check_text("device name", device_name or "", DEVICE_NAME_LENGTH).split())
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    row = AuthToken(token_sha256=token_hash(token), account_id=account_id, kind=kind,
                    device_name=device_name if kind == DEVICE else None, created_at=now,
                    expires_at=now + (DEVICE_LIFETIME_S if kind == DEVICE else BROWSER_LIFETIME_S),
                    address=address)
    session.add(row)
    session.flush()
    return token, token_record(row)


def resolve(session: Session, token: str, now: int | None = None) -> tuple[AuthToken, Account]:
    """The token's row and account, its last use noted.

    Raises:
        TokenError: unknown, expired or revoked, or the account is disabled: each said plainly
            (only the token's holder can learn which).
    """
    now = _now(now)
    if not isinstance(token, str) or not 10 <= len(token) <= 200:
        raise TokenError(_("not logged in: log in first (POST /api/v1/login)"))
    row = session.scalar(select(AuthToken).where(AuthToken.token_sha256 == token_hash(token)))
    if row is None:
        raise TokenError(_("not logged in (unknown session or token): log in again"))
    what = _("this device's token") if row.kind == DEVICE else _("your session")
    if row.revoked_at is not None:
        raise TokenError(_("{what} was ended (logged out or revoked): log in again")
                          .format(what=what))
    if row.expires_at <= now:
        raise TokenError(_("{what} has expired: log in again").format(what=what))
    account = session.get(Account, row.account_id)
    if account is None or account.disabled_at is not None:
        raise TokenError(_("this account is disabled: ask your lock administrator"))
    if row.last_used_at is None or now - row.last_used_at >= 60:  # one write a minute at most
        row.last_used_at = now
    return row, account


def revoke_token(session: Session, token_id: int, now: int | None = None) -> bool:
    """End one token (logout); False if it had ended already."""
    row = session.get(AuthToken, token_id, with_for_update=True)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = _now(now)
    return True


def revoke_account_tokens(session: Session, account_id: int, now: int | None = None) -> int:
    """End every live token of the account; how many."""
    result = session.execute(update(AuthToken)
                             .where(AuthToken.account_id == account_id,
                                    AuthToken.revoked_at.is_(None))
                             .values(revoked_at=_now(now)))
    return result.rowcount or 0


def devices(session: Session, account_id: int | None = None) -> list[tuple[TokenRecord, str]]:
    """Device tokens (newest first) with their account's login."""
    query = (select(AuthToken, Account.login).join(Account, Account.account_id == AuthToken.account_id)
             .where(AuthToken.kind == DEVICE).order_by(AuthToken.token_id.desc()))
    if account_id is not None:
        query = query.where(AuthToken.account_id == account_id)
    return [(token_record(row), login) for row, login in session.execute(query)]


def revoke_device(session: Session, caller: Caller, token_id: int,
                  now: int | None = None) -> tuple[TokenRecord, list[int], bool]:
    """Block a lost device in one action: its token ends and the staff keys issued to its
    account's person are revoked. Returns (the token's record, key ids revoked now, whether the
    token had been revoked already). Again is harmless: keys issued since are revoked too.

    Raises:
        UnknownDeviceError: no device token with that id.
    """
    row = session.get(AuthToken, token_id, with_for_update=True)
    if row is None or row.kind != DEVICE:
        raise UnknownDeviceError(token_id)
    now = _now(now)
    already = row.revoked_at is not None
    if not already:
        row.revoked_at = now
    account = session.get(Account, row.account_id)
    keys = revoke_person_keys(session, account, now)
    audit.record(session, caller, "devices.revoke",
                 f"device {row.device_name!r} (token {row.token_id}) of {account.login}; "
                 f"keys revoked: {', '.join(map(str, keys)) or 'none'}", now=now)
    return token_record(row), keys, already


def revoke_person_keys(session: Session, account: Account, now: int) -> list[int]:
    """Revoke every key issued to the account's name that still works (not revoked, not
    superseded, not expired); their ids. Names match as person_keys.py matches them."""
    from .accounts import person_key

    rows = session.scalars(select(IssuedKeyRow)
                           .where(IssuedKeyRow.revoked_at.is_(None),
                                  IssuedKeyRow.superseded == false(),
                                  IssuedKeyRow.not_after >= now)
                           .with_for_update()).all()
    revoked = []
    for row in rows:
        if person_key(row.person) == account.person_key:
            row.revoked_at = now
            revoked.append(row.key_id)
    return sorted(revoked)


def token_record(row: AuthToken) -> TokenRecord:
    return TokenRecord(row.token_id, row.account_id, row.kind, row.device_name, row.created_at,
                       row.expires_at, row.last_used_at, row.address, row.revoked_at)
