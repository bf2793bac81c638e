"""The fleet store's customers, and which lock is with which customer (part of FleetStore).

A lock is placed with a customer by a row in lock_assignments; ending the row frees the lock.
Rows are never rewritten, so the table is the lock's history as well as its present.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session

from ._common import (FleetError, _check_optional_text, _check_text, _current_customer, _get_lock,
                      _lock_record, _now)
from .models import (ADDRESS_LENGTH, CUSTOMER_NUMBER_LENGTH, NAME_LENGTH, Customer,
                     CustomerRecord, Lock, LockAssignment, LockRecord)

# Municipal customer numbers are digits; kept as text, since a leading zero belongs to it.
_CUSTOMER_NUMBER = re.compile(r"[0-9]+")


class UnknownCustomerError(FleetError):
    def __init__(self, customer_number: str):
        super().__init__(f"customer {customer_number} is not in the fleet store "
                         f"(add it with: hemlas customers add {customer_number} --name ...)")
        self.customer_number = customer_number


class CustomerExistsError(FleetError):
    def __init__(self, customer_number: str):
        super().__init__(f"customer {customer_number} already exists")
        self.customer_number = customer_number


class LockAssignedError(FleetError):
    """The lock is already with another customer: it has to be taken from them first."""

    def __init__(self, lock_id: str, customer_number: str):
        super().__init__(f"lock {lock_id} is already assigned to customer {customer_number}; "
                         f"it must be unassigned (moved or dismantled) first")
        self.lock_id = lock_id
        self.customer_number = customer_number


def check_customer_number(number: str) -> str:
    """The number, trimmed; FleetError unless it is 1 to 32 digits."""
    number = _check_text("customer number", number, CUSTOMER_NUMBER_LENGTH)
    if not _CUSTOMER_NUMBER.fullmatch(number):
        raise FleetError(f"a customer number is digits only, not {number!r}")
    return number


class CustomerMixin:
    """Customers and lock assignments; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def add_customer(self, number: str, name: str, address: str | None = None,
                     now: int | None = None) -> CustomerRecord:
        """Add a customer.

        Args:
            number: the municipality's customer number (digits, at most 32).
            name: the customer's name (non-empty).
            address: where the lock is mounted, or None.
            now: unix time of creation; None for the current time.

        Raises:
            CustomerExistsError: the number is taken.
            FleetError: a field is invalid.
        """
        number = check_customer_number(number)
        name = _check_text("name", name, NAME_LENGTH)
        address = _check_optional_text("address", address, ADDRESS_LENGTH)
        now = _now(now)
        with self._transaction() as session:
            if session.get(Customer, number, with_for_update=True) is not None:
                raise CustomerExistsError(number)
            row = Customer(customer_number=number, name=name, address=address, created_at=now)
            session.add(row)
            return _customer_record(row)

    def customer(self, number: str) -> CustomerRecord:
        """The customer ``number``. Raises UnknownCustomerError if there is none."""
        with self._transaction() as session:
            return _customer_record(_get_customer(session, number))

    def customers(self) -> list[CustomerRecord]:
        """Every customer, by number."""
        with self._transaction() as session:
            rows = session.scalars(select(Customer).order_by(Customer.customer_number))
            return [_customer_record(row) for row in rows]

    def assign_lock(self, lock_id: str, customer_number: str, now: int | None = None) -> LockRecord:
        """Place a lock with a customer. Assigning it to the customer it is with is harmless.

        Raises:
            UnknownLockError, UnknownCustomerError: no such lock or customer.
            LockAssignedError: the lock is with another customer.
        """
        now = _now(now)
        with self._transaction() as session:
            lock = _get_lock(session, lock_id, for_update=True)
            customer = _get_customer(session, customer_number)
            current = _current_customer(session, lock_id)
            if current is not None and current != customer.customer_number:
                raise LockAssignedError(lock_id, current)
            if current is None:
                session.add(LockAssignment(lock_id=lock_id, assigned_at=now,
                                           customer_number=customer.customer_number))
            return _lock_record(lock, customer.customer_number)

    def unassign_lock(self, lock_id: str, now: int | None = None) -> LockRecord:
        """End the lock's assignment (no customer: harmless). The history row stays.

        Raises:
            UnknownLockError: no such lock.
        """
        now = _now(now)
        with self._transaction() as session:
            lock = _get_lock(session, lock_id, for_update=True)
            for row in session.scalars(_current(lock_id)):
                row.ended_at = now
            return _lock_record(lock, None)

    def customer_locks(self, number: str) -> list[LockRecord]:
        """The locks with the customer now, by id. Raises UnknownCustomerError."""
        with self._transaction() as session:
            number = _get_customer(session, number).customer_number
            query = (select(Lock).join(LockAssignment, LockAssignment.lock_id == Lock.lock_id)
                     .where(LockAssignment.customer_number == number,
                            LockAssignment.ended_at.is_(None))
                     .order_by(Lock.lock_id))
            return [_lock_record(lock, number) for lock in session.scalars(query)]


def _current(lock_id: str):
    return select(LockAssignment).where(LockAssignment.lock_id == lock_id,
                                        LockAssignment.ended_at.is_(None))


def _get_customer(session: Session, number: str) -> Customer:
    row = session.get(Customer, number.strip() if isinstance(number, str) else number)
    if row is None:
        raise UnknownCustomerError(number)
    return row


def _customer_record(row: Customer) -> CustomerRecord:
    return CustomerRecord(row.customer_number, row.name, row.address, row.created_at)


__all__ = ["CustomerExistsError", "CustomerMixin", "LockAssignedError", "UnknownCustomerError",
           "check_customer_number"]
