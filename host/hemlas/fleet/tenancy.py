"""Reads scoped to the caller's provider: customers, locks and battery warnings, each read of
personal data recorded in the audit log before it is returned.

A coordinator or carer sees the customers whose provider is theirs, and the locks with those
customers now; the lock administrator and the technician see every lock, the technician
without the customers' names and numbers (roles.py). Another provider's customer or lock is
*unknown* to a provider-bound caller: the same UnknownCustomerError / UnknownLockError, word
for word, as for one that does not exist, so an id tells nobody whether it is in use.

A lock's provider is its current customer's (customers.provider; accounts.py says why the
name is the link); a lock in stock, or with a customer without a provider, belongs to no
provider and only the all-provider roles see it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import audit
from ._common import UnknownLockError
from .customers import UnknownCustomerError
from .models import BatteryWarning, Customer, CustomerRecord, Lock, LockAssignment
from .roles import READ_CUSTOMERS, READ_LOCKS, READ_WARNINGS, Caller, require

SEARCH_MAX = 100  # characters of a search text


@dataclass(frozen=True)
class LockView:
    """A lock as a caller may see it: never its secret; customer fields only for a role that
    may read customers."""

    lock_id: str
    board: str
    firmware_version: str
    provisioned_at: int
    customer_number: str | None
    provider: str | None


def _listed(ids: list[str]) -> str:
    shown = ", ".join(ids[:20])
    return f"{len(ids)}: {shown}" + (f", ... (+{len(ids) - 20})" if len(ids) > 20 else "")


def _like(text: str) -> str:
    escaped = text.strip()[:SEARCH_MAX].casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customers(session: Session, caller: Caller, search: str | None = None) -> list[CustomerRecord]:
    """The caller's provider's customers (every customer for the lock administrator), by
    number; ``search`` matches number, name or address, case-insensitively."""
    require(caller, READ_CUSTOMERS)
    query = select(Customer).order_by(Customer.customer_number)
    if not caller.all_providers:
        query = query.where(Customer.provider == caller.provider)
    if search and search.strip():
        pattern = _like(search)
        query = query.where(or_(*(func.lower(column).like(pattern, escape="\\") for column in
                                  (Customer.customer_number, Customer.name, Customer.address))))
    rows = [CustomerRecord(c.customer_number, c.name, c.address, c.created_at, c.provider)
            for c in session.scalars(query)]
    audit.record(session, caller, "customers.read", _listed([r.customer_number for r in rows]),
                 caller.provider)
    return rows


def customer(session: Session, caller: Caller, number: str) -> tuple[CustomerRecord, list[str]]:
    """One customer of the caller's provider and the ids of the locks with them now.

    Raises:
        UnknownCustomerError: no such customer, or another provider's.
    """
    require(caller, READ_CUSTOMERS)
    row = session.get(Customer, number.strip()) if isinstance(number, str) else None
    if row is None or not (caller.all_providers or row.provider == caller.provider):
        raise UnknownCustomerError(number)
    locks = list(session.scalars(select(LockAssignment.lock_id)
                                 .where(LockAssignment.customer_number == row.customer_number,
                                        LockAssignment.ended_at.is_(None))
                                 .order_by(LockAssignment.lock_id)))
    audit.record(session, caller, "customers.read", f"customer {row.customer_number}", row.provider)
    return CustomerRecord(row.customer_number, row.name, row.address, row.created_at,
                          row.provider), locks


def _locks_query(caller: Caller):
    query = (select(Lock, LockAssignment.customer_number, Customer.provider)
             .outerjoin(LockAssignment, (LockAssignment.lock_id == Lock.lock_id)
                        & LockAssignment.ended_at.is_(None))
             .outerjoin(Customer, Customer.customer_number == LockAssignment.customer_number)
             .order_by(Lock.lock_id))
    if not caller.all_providers:
        query = query.where(Customer.provider == caller.provider)
    return query


def _view(caller: Caller, lock: Lock, customer_number: str | None, provider: str | None) -> LockView:
    personal = caller.may(READ_CUSTOMERS)
    return LockView(lock.lock_id, lock.board, lock.firmware_version, lock.provisioned_at,
                    customer_number if personal else None, provider)


def visible_lock_ids(session: Session, caller: Caller) -> set[str]:
    query = _locks_query(caller).with_only_columns(Lock.lock_id)
    return set(session.scalars(query))


def visible_lock_provider(session: Session, caller: Caller, lock_id: str) -> str | None:
    """The provider of a lock the caller sees (None: in stock, or no provider), for rules
    that act on one lock (fleet/uploads.py). Reads nothing personal, so records no read.

    Raises:
        UnknownLockError: no such lock, or another provider's (word for word the same).
    """
    row = session.execute(_locks_query(caller).where(Lock.lock_id == lock_id)).first()
    if row is None:
        raise UnknownLockError(lock_id)
    return row[2]


def locks(session: Session, caller: Caller) -> list[LockView]:
    """The locks with the caller's provider's customers now (every lock for the
    all-provider roles), by id."""
    require(caller, READ_LOCKS)
    views = [_view(caller, *row) for row in session.execute(_locks_query(caller))]
    audit.record(session, caller, "locks.read", _listed([v.lock_id for v in views]),
                 caller.provider)
    return views


def lock(session: Session, caller: Caller, lock_id: str) -> LockView:
    """One lock the caller may see. Raises UnknownLockError: none, or another provider's."""
    require(caller, READ_LOCKS)
    row = session.execute(_locks_query(caller).where(Lock.lock_id == lock_id)).first()
    if row is None:
        raise UnknownLockError(lock_id)
    audit.record(session, caller, "locks.read", f"lock {lock_id}", row[2])
    return _view(caller, *row)


def warnings(store, caller: Caller, now: int | None = None) -> list[BatteryWarning]:
    """The fleet's battery warnings (FleetStore.battery_warnings), only for the locks the
    caller sees; without the customer's name and number for a role that may not read them."""
    require(caller, READ_WARNINGS)
    # The scope is in the query (the locks with the provider's customers now, as
    # _locks_query's): a coordinator's list reads its provider's locks only.
    found = store.battery_warnings(now, provider=None if caller.all_providers else caller.provider)
    if not caller.may(READ_CUSTOMERS):
        found = [replace(w, customer_number=None, customer_name=None) for w in found]
    with store.unit_of_work() as uow:
        audit.record(uow, caller, "warnings.read", _listed([w.lock_id for w in found]),
                     caller.provider)
    return found
