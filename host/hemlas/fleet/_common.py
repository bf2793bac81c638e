"""What the fleet store's parts share: its errors and small helpers for one session.

Kept apart from store.py so the store's parts (customers.py, batteries.py, swaps.py) can use
them without importing the store itself.
"""

from __future__ import annotations

import time

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ..i18n import _
from .errors import FleetError, NotAFleetStoreError, StoreMissingError, UnknownLockError  # noqa: F401
from .models import IssuedKeyRow, Lock, LockAssignment, LockRecord

_UINT32_MAX = 0xFFFFFFFF  # key ids and times travel as uint32


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def _check_text(what: str, value: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FleetError(_("{what} must not be empty").format(what=what))
    value = value.strip()
    if len(value) > max_length:
        raise FleetError(_("{what} is longer than {limit} characters")
                         .format(what=what, limit=max_length))
    return value


def _check_optional_text(what: str, value: str | None, max_length: int) -> str | None:
    """None, or an empty string, stays None; anything else as :func:`_check_text`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _check_text(what, value, max_length)


def _check_time(what: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise FleetError(_("{what} must be a unix time in 0..{limit}, not {value!r}")
                         .format(what=what, limit=_UINT32_MAX, value=value))


def _check_int(what: str, value: int | None, low: int, high: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FleetError(_("{what} must be an integer in {low}..{high}, not {value!r}")
                         .format(what=what, low=low, high=high, value=value))


def _get_lock(session: Session, lock_id: str, for_update: bool = False) -> Lock:
    lock = session.get(Lock, lock_id, with_for_update=for_update)
    if lock is None:
        raise UnknownLockError(lock_id)
    return lock


def _current_customer(session: Session, lock_id: str) -> str | None:
    """The customer the lock is assigned to now, or None."""
    return session.scalar(select(LockAssignment.customer_number)
                          .where(LockAssignment.lock_id == lock_id,
                                 LockAssignment.ended_at.is_(None)))


def _lock_record(lock: Lock, customer_number: str | None = None) -> LockRecord:
    return LockRecord(lock.lock_id, lock.board, lock.firmware_version, lock.provisioned_at,
                      customer_number)


def _pending_revocations_query(lock_id: str, now: int):
    """The keys whose revocation the lock has still to be told of, oldest first. Left out:
    keys already pushed, superseded keys (the new secret already kills them) and keys expired
    at ``now`` (the lock refuses them anyway): the lock's revocation list is bounded."""
    return (select(IssuedKeyRow)
            .where(IssuedKeyRow.lock_id == lock_id,
                   IssuedKeyRow.revoked_at.is_not(None),
                   IssuedKeyRow.revocation_pushed_at.is_(None),
                   IssuedKeyRow.superseded == false(),
                   IssuedKeyRow.not_after >= now)
            .order_by(IssuedKeyRow.key_id))
