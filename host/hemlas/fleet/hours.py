"""Registered "Uppstart smarta lås" hours: what identifies one, and how it is checked and read
(shared by compensation.py, hour_import.py and hour_corrections.py).

Identity: a registration is (provider, customer, date, lock, n), n counting the same
registration within one source. Its SHA-256 is the unique row key, so importing a file again,
or a longer export of the same registrations, adds only what is new. A replacement made by a
correction has a row key of its own, derived from the row it replaces (hour_corrections.py).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import exists

from ..i18n import _
from ._common import FleetError, _check_optional_text
from .corrections import correction_state
from .customers import check_customer_number, check_provider
from .models import LOCK_ID_LENGTH, CompensationHour, CompensationHourCorrection, HourRecord
from .visit_pairing import CURRENT, Correction

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# The years a month or a date may name: each has local unix times and a next month (year 1
# has no unix time where the clock is ahead of UTC, 9999-12 has no next month).
FIRST_YEAR, LAST_YEAR = 1970, 9998


class CompensationError(FleetError):
    """A registration the routine does not allow, or an unknown provider or month."""


# The refusals by name (a page shows the rule beside its form, the API in its problem type).
class InvalidMonthError(CompensationError):
    rule = "invalid-month"


class InvalidHourDateError(CompensationError):
    rule = "invalid-date"


class HourInFutureError(CompensationError):
    rule = "hour-in-future"


class HourAlreadyRegisteredError(CompensationError):
    """The same registration is there, current: the routine's one hour per mounted lock."""

    rule = "hour-already-registered"


class UnknownProviderError(CompensationError):
    """No customer, mount or hour names the provider (a typo)."""

    rule = "unknown-provider"


@dataclass(frozen=True)
class HourEntry(HourRecord):
    """A registered hour with its standing: current, or withdrawn or corrected (and then the
    correction record), and the hour it replaces if it is a correction's replacement."""

    status: str = CURRENT
    corrects: int | None = None
    correction: Correction | None = None


def is_current():
    """SQL: the hour has no correction record (neither withdrawn nor replaced)."""
    return ~exists().where(CompensationHourCorrection.hour_id == CompensationHour.hour_id)


def month_bounds(month: str) -> tuple[datetime.date, datetime.date, int, int]:
    """A "YYYY-MM" month as (first day, first day after) and as local unix times."""
    found = _MONTH.fullmatch(month.strip()) if isinstance(month, str) else None
    if found is None or not 1 <= int(found[2]) <= 12:
        raise InvalidMonthError(_("a month is written YYYY-MM (e.g. 2026-11), not {month!r}")
                                 .format(month=month))
    year, number = int(found[1]), int(found[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidMonthError(_("no month {month!r} here: a month's year is in "
                                   "{first}..{last}")
                                 .format(month=month.strip(), first=FIRST_YEAR,
                                         last=LAST_YEAR))
    first = datetime.date(year, number, 1)
    after = datetime.date(year + number // 12, number % 12 + 1, 1)
    start = int(datetime.datetime.combine(first, datetime.time()).timestamp())
    end = int(datetime.datetime.combine(after, datetime.time()).timestamp())
    return first, after, start, end


def _check_hour(provider: str, customer_number: str, day: datetime.date | str,
                lock_id: str | None, now: int) -> tuple[str, str, str, str | None]:
    """(provider, customer, ISO date, lock) checked: what identifies a registration."""
    if isinstance(day, str):
        try:
            day = datetime.date.fromisoformat(day.strip())
        except ValueError:
            raise InvalidHourDateError(_("a date is written YYYY-MM-DD, not {day!r}")
                                       .format(day=day)) from None
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise InvalidHourDateError(_("a date is written YYYY-MM-DD, not {day!r}").format(day=day))
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidHourDateError(_("no hour is registered for {day}: a date's year is in "
                                   "{first}..{last}")
                                 .format(day=day.isoformat(), first=FIRST_YEAR,
                                         last=LAST_YEAR))
    if day > datetime.date.fromtimestamp(now):
        raise HourInFutureError(_("{day} is in the future: an hour is registered for a lock "
                                   "already mounted").format(day=day))
    return (check_provider(provider), check_customer_number(customer_number), day.isoformat(),
            _check_optional_text("lock id", lock_id, LOCK_ID_LENGTH))


def _row_key(provider: str, customer: str, day: str, lock_id: str | None, n: int) -> str:
    return hashlib.sha256("\0".join((provider, customer, day, lock_id or "", str(n)))
                          .encode()).hexdigest()


def _hour_row(hour: tuple, key: str, person: str, now: int, source: str,
              source_ref: str | None) -> CompensationHour:
    provider, customer, day, lock_id = hour
    return CompensationHour(provider=provider, customer_number=customer, lock_id=lock_id,
                            day=datetime.date.fromisoformat(day), registered_by=person,
                            registered_at=now, source=source, source_ref=source_ref, row_key=key)


def hour_record(row: CompensationHour, correction: CompensationHourCorrection | None = None,
                corrects: int | None = None) -> HourEntry:
    status, record = correction_state(correction)
    return HourEntry(row.hour_id, row.provider, row.customer_number, row.lock_id, row.day,
                     row.registered_by, row.registered_at, row.source, row.source_ref,
                     status, corrects, record)



__all__ = ["FIRST_YEAR", "LAST_YEAR", "CompensationError", "HourAlreadyRegisteredError",
           "HourEntry", "HourInFutureError", "InvalidHourDateError", "InvalidMonthError",
           "UnknownProviderError", "hour_record", "is_current", "month_bounds"]
