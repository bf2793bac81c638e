"""The fleet store's customers and the provider serving each (part of FleetStore).

A lock is placed with a customer by a row in lock_assignments; ending the row frees the lock.
Rows are never rewritten, so the table is the lock's history as well as its present. Placing
and taking locks (mount, move, dismantle, and the lower-level assign_lock) is lifecycle.py's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session

from ._common import FleetError, _check_optional_text, _check_text, _lock_record, _now
from .models import (ADDRESS_LENGTH, CUSTOMER_NUMBER_LENGTH, NAME_LENGTH, PROVIDER_LENGTH,
                     Customer, CustomerRecord, Lock, LockAssignment, LockRecord)

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
    """The lock is already with another customer: it has to be dismantled there first."""

    def __init__(self, lock_id: str, customer_number: str, address: str | None = None):
        at = f" (mounted at {address})" if address else ""
        super().__init__(f"lock {lock_id} is already assigned to customer {customer_number}{at}: "
                         f"a lock is with one customer at a time; dismantle it there first: "
                         f"hemlas locks key-out {lock_id} --by FITTER, then hemlas locks "
                         f"dismantle {lock_id} --by FITTER")
        self.lock_id = lock_id
        self.customer_number = customer_number


def check_customer_number(number: str) -> str:
    """The number, trimmed; FleetError unless it is 1 to 32 digits."""
    number = _check_text("customer number", number, CUSTOMER_NUMBER_LENGTH)
    if not _CUSTOMER_NUMBER.fullmatch(number):
        raise FleetError(f"a customer number is digits only, not {number!r}")
    return number


class CustomerMixin:
    """Customers, their providers and their locks; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def add_customer(self, number: str, name: str, address: str | None = None,
                     now: int | None = None, *, provider: str | None = None) -> CustomerRecord:
        """Add a customer.

        Args:
            number: the municipality's customer number (digits, at most 32).
            name: the customer's name (non-empty).
            address: where the customer lives (and a lock is mounted), or None.
            now: unix time of creation; None for the current time.
            provider: the home-care provider serving the customer, or None.

        Raises:
            CustomerExistsError: the number is taken.
            FleetError: a field is invalid.
        """
        number = check_customer_number(number)
        name = _check_text("name", name, NAME_LENGTH)
        address = _check_optional_text("address", address, ADDRESS_LENGTH)
        provider = check_provider(provider) if provider is not None else None
        now = _now(now)
        with self._transaction() as session:
            if session.get(Customer, number, with_for_update=True) is not None:
                raise CustomerExistsError(number)
            row = Customer(customer_number=number, name=name, address=address, created_at=now,
                           provider=provider)
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

    def set_customer_provider(self, number: str, provider: str | None) -> CustomerRecord:
        """Set (or, with None, clear) the provider serving the customer from now on.

        Mounts already recorded keep the provider they were made for, so a compensation
        report for a past month does not change.

        Raises:
            UnknownCustomerError: no such customer.
            FleetError: the name is too long.
        """
        provider = check_provider(provider) if provider is not None else None
        with self._transaction() as session:
            row = _get_customer(session, number, for_update=True)
            row.provider = provider
            return _customer_record(row)

    def customer_locks(self, number: str) -> list[LockRecord]:
        """The locks with the customer now, by id. Raises UnknownCustomerError."""
        with self._transaction() as session:
            number = _get_customer(session, number).customer_number
            query = (select(Lock).join(LockAssignment, LockAssignment.lock_id == Lock.lock_id)
                     .where(LockAssignment.customer_number == number,
                            LockAssignment.ended_at.is_(None))
                     .order_by(Lock.lock_id))
            return [_lock_record(lock, number) for lock in session.scalars(query)]


def check_provider(name: str) -> str:
    """A provider's name, trimmed and with runs of spaces made one: reports match it exactly."""
    if isinstance(name, str):
        name = " ".join(name.split())
    return _check_text("provider", name, PROVIDER_LENGTH)


def _get_customer(session: Session, number: str, for_update: bool = False) -> Customer:
    row = session.get(Customer, number.strip() if isinstance(number, str) else number,
                      with_for_update=for_update)
    if row is None:
        raise UnknownCustomerError(number)
    return row


def _customer_record(row: Customer) -> CustomerRecord:
    return CustomerRecord(row.customer_number, row.name, row.address, row.created_at,
                          row.provider)


__all__ = ["CustomerExistsError", "CustomerMixin", "LockAssignedError", "UnknownCustomerError",
           "check_customer_number", "check_provider"]
