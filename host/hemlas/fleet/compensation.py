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

Identity: a registration is (provider, customer, date, lock, n), n counting the same
registration within one source. Its SHA-256 is the unique row key, so importing a file again,
or a longer export of the same registrations, adds only what is new.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session

from ._common import FleetError, _check_optional_text, _check_text, _now
from .customers import check_customer_number, check_provider
from .models import (LOCK_ID_LENGTH, PERSON_LENGTH, SOURCE_REF_LENGTH, CompensationHour,
                     CompensationHourLine, CompensationMount, CompensationReport, Customer,
                     HourImport, HourRecord, LockLifecycle)

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# The years a month or a date may name: each has local unix times and a next month (year 1
# has no unix time where the clock is ahead of UTC, 9999-12 has no next month).
FIRST_YEAR, LAST_YEAR = 1970, 9998
_ONE_HOUR = {"1", "1.0", "1,0", "1.00", "1,00"}  # Swedish exports write a decimal comma
_KEYS_PER_QUERY = 500  # bound the IN (...) list when looking up row keys
_MAX_LISTED_ERRORS = 50
# CSV headers, English and as Swedish exports name them; other columns are ignored.
_HEADERS = {"customer": {"customer", "customer_number", "kund", "kundnr", "kundnummer"},
            "date": {"date", "day", "datum"},
            "lock": {"lock", "lock_id", "lås", "las"},
            "hours": {"hours", "timmar"},
            "provider": {"provider", "anordnare", "utförare", "utforare"}}


class CompensationError(FleetError):
    """A registration the routine does not allow, or an unknown provider or month."""


class HourImportError(CompensationError):
    """A CSV file with bad lines: nothing was imported. ``errors`` is [(line, message)]."""

    def __init__(self, source: str, errors: list[tuple[int, str]]):
        shown = [f"  line {line}: {message}" for line, message in errors[:_MAX_LISTED_ERRORS]]
        if len(errors) > _MAX_LISTED_ERRORS:
            shown.append(f"  ... and {len(errors) - _MAX_LISTED_ERRORS} more")
        super().__init__(f"{source}: {len(errors)} bad line(s), nothing imported; correct them "
                         f"and import the file again:\n" + "\n".join(shown))
        self.errors = errors


class CompensationMixin:
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

        Raises:
            CompensationError: the same registration is already there (a second lock needs
                ``lock_id``), or the date is in the future.
            FleetError: an invalid field.
        """
        now = _now(now)
        hour = _check_hour(provider, customer_number, day, lock_id, now)
        person = _check_text("person", person, PERSON_LENGTH)
        key = _row_key(*hour, 1)
        with self._transaction() as session:
            same = session.scalar(select(CompensationHour).where(CompensationHour.row_key == key))
            if same is not None:
                raise CompensationError(
                    f"provider {hour[0]} already has an hour for customer {hour[1]} on "
                    f"{hour[2]}{f' (lock {hour[3]})' if hour[3] else ''}: hour {same.hour_id}, "
                    f"entered by {same.registered_by}; the routine allows one hour per mounted "
                    f"lock: for a second lock mounted that day, name it with --lock LOCK")
            row = _hour_row(hour, key, person, now, "cli", None)
            session.add(row)
            session.flush()
            return hour_record(row)

    def import_hours_csv(self, provider: str, text: str, person: str, *, source: str = "csv",
                         now: int | None = None) -> HourImport:
        """Import one provider's registered hours from CSV text, all or nothing.

        The header names the columns: customer and date (YYYY-MM-DD) are needed; lock, hours
        (1, the routine's one hour) and provider (this one) are checked if present; other
        columns are ignored. Comma, semicolon or tab separated; Swedish names are understood
        (kundnr, datum, lås, timmar, anordnare). Registrations already stored are skipped.

        Args:
            provider: whose hours these are.
            text: the file's content.
            person: who imports it.
            source: the file's name, for messages and each hour's ``source_ref``.
            now: unix time of the import; None for the clock.

        Raises:
            HourImportError: a line is bad (every bad line listed); nothing was imported.
            FleetError: an invalid provider or person.
        """
        provider = check_provider(provider)
        person = _check_text("person", person, PERSON_LENGTH)
        now = _now(now)
        lines, errors = _parse_csv(text, provider, now)
        if errors:
            raise HourImportError(source, errors)
        seen: Counter = Counter()
        keyed = []
        for line, hour in lines:
            seen[hour] += 1
            keyed.append((line, hour, _row_key(*hour, seen[hour])))
        added = []
        with self._transaction() as session:
            stored = set()
            keys = [key for _, _, key in keyed]
            for i in range(0, len(keys), _KEYS_PER_QUERY):
                stored.update(session.scalars(select(CompensationHour.row_key).where(
                    CompensationHour.row_key.in_(keys[i:i + _KEYS_PER_QUERY]))))
            for line, hour, key in keyed:
                if key not in stored:
                    row = _hour_row(hour, key, person, now, "csv",
                                    f"{source}:{line}"[-SOURCE_REF_LENGTH:])
                    session.add(row)
                    added.append(row)
            session.flush()
            return HourImport(len(keyed), tuple(hour_record(row) for row in added),
                              len(keyed) - len(added))

    def registered_hours(self, provider: str, month: str | None = None) -> list[HourRecord]:
        """The provider's registered hours (in ``month``, "YYYY-MM", if given), by date."""
        provider = check_provider(provider)
        query = select(CompensationHour).where(CompensationHour.provider == provider)
        if month is not None:
            first, after, _, _ = month_bounds(month)
            query = query.where(CompensationHour.day >= first, CompensationHour.day < after)
        with self._transaction() as session:
            rows = session.scalars(query.order_by(CompensationHour.day, CompensationHour.hour_id))
            return [hour_record(row) for row in rows]

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
                       CompensationHour.day < after)
                .order_by(CompensationHour.day, CompensationHour.hour_id)).all()
            known = bool(mounts or hours) or _known_provider(session, provider)
        if not known:
            known = ", ".join(self.providers()) or "none yet"
            raise CompensationError(f"no customer, mount or hour names provider {provider!r} "
                                    f"(known providers: {known}); check the spelling")
        return _match(provider, f"{first:%Y-%m}", mounts,
                      [(hour_record(h), name) for h, name in hours])


def _known_provider(session: Session, provider: str) -> bool:
    """Whether any customer, mount or hour names the provider (a typo names none)."""
    return any(session.scalar(select(column).where(column == provider).limit(1)) is not None
               for column in (Customer.provider, LockLifecycle.provider,
                              CompensationHour.provider))


def month_bounds(month: str) -> tuple[datetime.date, datetime.date, int, int]:
    """A "YYYY-MM" month as (first day, first day after) and as local unix times."""
    found = _MONTH.fullmatch(month.strip()) if isinstance(month, str) else None
    if found is None or not 1 <= int(found[2]) <= 12:
        raise CompensationError(f"a month is written YYYY-MM (e.g. 2026-11), not {month!r}")
    year, number = int(found[1]), int(found[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CompensationError(f"no month {month.strip()!r} here: a month's year is in "
                                f"{FIRST_YEAR}..{LAST_YEAR}")
    first = datetime.date(year, number, 1)
    after = datetime.date(year + number // 12, number % 12 + 1, 1)
    start = int(datetime.datetime.combine(first, datetime.time()).timestamp())
    end = int(datetime.datetime.combine(after, datetime.time()).timestamp())
    return first, after, start, end


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
        return f"customer {hour.customer_number} is not in the fleet store"
    if hour.lock_id is not None and all(m.lock_id != hour.lock_id for m in mounts):
        return f"lock {hour.lock_id} was not mounted for this customer in {month}"
    if not mounts:
        return f"no lock was mounted for this customer in {month}"
    return f"more hours than the {len(mounts)} lock(s) mounted for this customer in {month}"


def _check_hour(provider: str, customer_number: str, day: datetime.date | str,
                lock_id: str | None, now: int) -> tuple[str, str, str, str | None]:
    """(provider, customer, ISO date, lock) checked: what identifies a registration."""
    if isinstance(day, str):
        try:
            day = datetime.date.fromisoformat(day.strip())
        except ValueError:
            raise FleetError(f"a date is written YYYY-MM-DD, not {day!r}") from None
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise FleetError(f"a date is written YYYY-MM-DD, not {day!r}")
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise CompensationError(f"no hour is registered for {day.isoformat()}: a date's year is "
                                f"in {FIRST_YEAR}..{LAST_YEAR}")
    if day > datetime.date.fromtimestamp(now):
        raise CompensationError(f"{day} is in the future: an hour is registered for a lock "
                                f"already mounted")
    return (check_provider(provider), check_customer_number(customer_number), day.isoformat(),
            _check_optional_text("lock id", lock_id, LOCK_ID_LENGTH))


def _parse_csv(text: str, provider: str, now: int):
    """([(line, hour)], [(line, error)]) for the CSV text."""
    text = text.lstrip("\ufeff")  # a spreadsheet's byte-order mark
    head = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=head.count)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    lines, errors = [], []
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        columns = {field: header.index(name) for field, names in _HEADERS.items()
                   for name in names if name in header}
        if "customer" not in columns or "date" not in columns:
            return [], [(1, f"the header needs a customer and a date column, not "
                            f"{delimiter.join(header) or 'an empty line'}")]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                errors.append((reader.line_num, f"{len(row)} fields, the header has "
                                                f"{len(header)}"))
                continue
            cell = {field: (row[i].strip() if i < len(row) else "")
                    for field, i in columns.items()}
            try:
                lines.append((reader.line_num, _check_line(cell, provider, now)))
            except FleetError as err:
                errors.append((reader.line_num, str(err)))
    except csv.Error as err:
        errors.append((reader.line_num, f"not CSV: {err}"))
    return lines, errors


def _check_line(cell: dict, provider: str, now: int) -> tuple[str, str, str, str | None]:
    if cell.get("hours", "1") not in _ONE_HOUR:
        raise CompensationError(f"hours is {cell['hours']!r}: the routine allows one hour per "
                                f"mounted lock; a customer with two locks gets two lines")
    named = cell.get("provider")
    if named and check_provider(named) != provider:
        raise CompensationError(f"provider is {named!r}, not {provider!r}: import one "
                                f"provider's hours at a time")
    return _check_hour(provider, cell["customer"], cell["date"], cell.get("lock") or None, now)


def _row_key(provider: str, customer: str, day: str, lock_id: str | None, n: int) -> str:
    return hashlib.sha256("\0".join((provider, customer, day, lock_id or "", str(n)))
                          .encode()).hexdigest()


def _hour_row(hour: tuple, key: str, person: str, now: int, source: str,
              source_ref: str | None) -> CompensationHour:
    provider, customer, day, lock_id = hour
    return CompensationHour(provider=provider, customer_number=customer, lock_id=lock_id,
                            day=datetime.date.fromisoformat(day), registered_by=person,
                            registered_at=now, source=source, source_ref=source_ref, row_key=key)


def hour_record(row: CompensationHour) -> HourRecord:
    return HourRecord(row.hour_id, row.provider, row.customer_number, row.lock_id, row.day,
                      row.registered_by, row.registered_at, row.source, row.source_ref)


__all__ = ["FIRST_YEAR", "LAST_YEAR", "CompensationError", "CompensationMixin",
           "HourImportError", "hour_record", "month_bounds"]
