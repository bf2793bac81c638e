"""Compensation: registered "Uppstart smarta lås" hours against mounted locks (part of FleetStore).

The routine: for each lock mounted at a customer, the provider may register one hour on the
intervention "Uppstart smarta lås", and the compensation basis is checked against the number of
locks. The hours come from the provider's registrations, typed in (register_hours) or imported
from a CSV export (import_hours_csv); the report puts one provider's month of mounts beside its
hours and lists every mismatch.

Matching: an hour pays for a mount of the same provider, the same customer and the same
calendar month (local time; the compensation basis is monthly, so an hour registered in another
month is a mismatch in both). An hour that names a lock pays only for a mount of that lock;
the others take the customer's remaining mounts in time order. Each mount takes one hour.

Identity (hours.py): a registration's row key is unique, so importing a file again adds
nothing. A wrong hour is withdrawn or corrected by an append-only correction record
(hour_corrections.py); the report and the listings count current hours only.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..i18n import _
from ._common import _check_text, _now
from .customers import check_provider
from .hour_corrections import HourCorrectionMixin
from .hour_import import HourImportError, HourImportMixin
from .hours import (FIRST_YEAR, LAST_YEAR, CompensationError, HourAlreadyRegisteredError,
                    HourEntry, UnknownProviderError, _check_hour, _hour_row, _row_key,
                    hour_record, is_current, month_bounds)
from .models import (PERSON_LENGTH, CompensationHour, CompensationHourLine, CompensationMount,
                     CompensationReport, Customer, HourRecord, LockLifecycle)

class CompensationMixin(HourImportMixin, HourCorrectionMixin):
    """Registered hours and the compensation report; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def register_hours(self, provider: str, customer_number: str,
                       day: datetime.date | str, person: str, *, lock_id: str | None = None,
                       now: int | None = None) -> HourRecord:
        """Register one "Uppstart smarta lås" hour, as the provider registered it.

        The customer and lock need not be in the store: the report shows such an hour as
        matching no mount.

        Args:
            provider: the provider it was registered by.
            customer_number: the customer it was registered for.
            day: the date it was registered for (a date or "YYYY-MM-DD"); not in the future.
            person: who enters it here.
            lock_id: the lock it pays for, if the registration names one.
            now: unix time of entry; None for the clock.

        A registration that was withdrawn (or corrected) may be registered again: it takes
        the next free row key, and the withdrawn row stays as it was.

        Raises:
            CompensationError: the same registration is already there, current (a second
                lock needs ``lock_id``), or the date is in the future.
            FleetError: an invalid field.
        """
        now = _now(now)
        hour = _check_hour(provider, customer_number, day, lock_id, now)
        person = _check_text("person", person, PERSON_LENGTH)
        with self._transaction() as session:
            n = 1
            while (same := session.scalar(select(CompensationHour).where(
                    CompensationHour.row_key == _row_key(*hour, n)))) is not None:
                if session.scalar(select(CompensationHour.hour_id).where(
                        CompensationHour.hour_id == same.hour_id, is_current())) is not None:
                    raise _already_registered(hour, same)
                n += 1
            row = _hour_row(hour, _row_key(*hour, n), person, now, "cli", None)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # the same registration, entered by another client meanwhile
                raise HourAlreadyRegisteredError(
                    _("provider {provider}'s hour for customer {number} on {day} was just "
                      "registered by another client: hemlas compensation list --provider "
                      "\"{provider}\" shows it").format(provider=hour[0], number=hour[1],
                                                         day=hour[2])) from None
            return hour_record(row)

    def registered_hours(self, provider: str, month: str | None = None, *,
                         include_all: bool = False) -> list[HourEntry]:
        """The provider's current registered hours (in ``month``, "YYYY-MM", if given), by
        date; with include_all also those withdrawn or corrected, each marked."""
        provider = check_provider(provider)
        query = self._hours_query().where(CompensationHour.provider == provider)
        if month is not None:
            first, after, _, _ = month_bounds(month)
            query = query.where(CompensationHour.day >= first, CompensationHour.day < after)
        if not include_all:
            query = query.where(is_current())
        with self._transaction() as session:
            return [hour_record(row, correction, corrects) for row, correction, corrects
                    in session.execute(query.order_by(CompensationHour.day,
                                                      CompensationHour.hour_id))]

    def providers(self) -> list[str]:
        """Every provider the store has heard of (customers, mounts, hours), sorted."""
        with self._transaction() as session:
            names = set(session.scalars(select(Customer.provider).distinct()))
            names.update(session.scalars(select(LockLifecycle.provider).distinct()))
            names.update(session.scalars(select(CompensationHour.provider).distinct()))
        return sorted(name for name in names if name is not None)

    def compensation_report(self, provider: str, month: str) -> CompensationReport:
        """One provider's month: its mounts, its registered hours, and every mismatch.

        Two indexed queries (mounts by provider, action and time; hours by provider and date).

        Raises:
            CompensationError: a malformed month, or a provider the store has never heard of.
        """
        provider = check_provider(provider)
        first, after, start, end = month_bounds(month)
        with self._transaction() as session:
            mounts = session.execute(
                select(LockLifecycle.record_id, LockLifecycle.lock_id,
                       LockLifecycle.customer_number, Customer.name, LockLifecycle.address,
                       LockLifecycle.at, LockLifecycle.person)
                .join(Customer, Customer.customer_number == LockLifecycle.customer_number)
                .where(LockLifecycle.provider == provider, LockLifecycle.action == "mount",
                       LockLifecycle.at >= start, LockLifecycle.at < end)
                .order_by(LockLifecycle.at, LockLifecycle.record_id)).all()
            hours = session.execute(
                select(CompensationHour, Customer.name)
                .outerjoin(Customer, Customer.customer_number == CompensationHour.customer_number)
                .where(CompensationHour.provider == provider, CompensationHour.day >= first,
                       CompensationHour.day < after, is_current())
                .order_by(CompensationHour.day, CompensationHour.hour_id)).all()
            known = bool(mounts or hours) or _known_provider(session, provider)
        if not known:
            known = ", ".join(self.providers()) or _("none yet")
            raise UnknownProviderError(_("no customer, mount or hour names provider {provider!r} "
                                         "(known providers: {known}); check the spelling")
                                       .format(provider=provider, known=known))
        return _match(provider, f"{first:%Y-%m}", mounts,
                      [(hour_record(h), name) for h, name in hours])


def _already_registered(hour: tuple, same: CompensationHour) -> CompensationError:
    said = (_("provider {provider} already has an hour for customer {number} on {day} (lock "
              "{lock_id}): hour {hour_id}, entered by {by}; the routine allows one hour per "
              "mounted lock: for a second lock mounted that day, name it with --lock LOCK")
            if hour[3] else
            _("provider {provider} already has an hour for customer {number} on {day}: hour "
              "{hour_id}, entered by {by}; the routine allows one hour per mounted lock: for a "
              "second lock mounted that day, name it with --lock LOCK"))
    return HourAlreadyRegisteredError(said.format(
        provider=hour[0], number=hour[1], day=hour[2], lock_id=hour[3], hour_id=same.hour_id,
        by=same.registered_by))


def _known_provider(session: Session, provider: str) -> bool:
    """Whether any customer, mount or hour names the provider (a typo names none)."""
    return any(session.scalar(select(column).where(column == provider).limit(1)) is not None
               for column in (Customer.provider, LockLifecycle.provider,
                              CompensationHour.provider))


def _match(provider: str, month: str, mounts, hours) -> CompensationReport:
    by_customer: dict[str, list] = defaultdict(list)
    for mount in mounts:
        by_customer[mount.customer_number].append(mount)
    paid: dict[int, int] = {}  # mount record id -> hour id
    matched: dict[int, int] = {}  # hour id -> mount record id
    # Hours naming their lock first, so an unnamed hour cannot take a named hour's mount.
    for named in (True, False):
        for hour, _ in hours:
            if (hour.lock_id is not None) != named:
                continue
            for mount in by_customer.get(hour.customer_number, ()):
                if mount.record_id not in paid and (not named or mount.lock_id == hour.lock_id):
                    paid[mount.record_id], matched[hour.hour_id] = hour.hour_id, mount.record_id
                    break
    report_mounts = tuple(CompensationMount(m.record_id, m.lock_id, m.customer_number, m.name,
                                            m.address, m.at, m.person, paid.get(m.record_id))
                          for m in mounts)
    lines = tuple(CompensationHourLine(hour, name, matched.get(hour.hour_id),
                                       None if hour.hour_id in matched
                                       else _why_unmatched(hour, name, by_customer, month))
                  for hour, name in hours)
    return CompensationReport(provider, month, report_mounts, lines,
                              tuple(m for m in report_mounts if m.hour_id is None),
                              tuple(h for h in lines if h.record_id is None))


def _why_unmatched(hour: HourRecord, name: str | None, by_customer, month: str) -> str:
    mounts = by_customer.get(hour.customer_number, [])
    if name is None:
        return _("customer {number} is not in the fleet store").format(number=hour.customer_number)
    if hour.lock_id is not None and all(m.lock_id != hour.lock_id for m in mounts):
        return _("lock {lock_id} was not mounted for this customer in {month}").format(
            lock_id=hour.lock_id, month=month)
    if not mounts:
        return _("no lock was mounted for this customer in {month}").format(month=month)
    return _("more hours than the {n} lock(s) mounted for this customer in {month}").format(
        n=len(mounts), month=month)


__all__ = ["FIRST_YEAR", "LAST_YEAR", "CompensationError", "CompensationMixin", "HourEntry",
           "HourImportError", "hour_record", "month_bounds"]
