"""Importing a provider's registered hours from a CSV export, all or nothing (part of
FleetStore, through CompensationMixin). Registrations already stored, by their row key, are
skipped: importing a file again adds nothing, even after an hour of it was withdrawn or
corrected (the withdrawn row keeps its key).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..i18n import _
from ._common import FleetError, _check_text, _now
from .customers import check_provider
from .hours import CompensationError, _check_hour, _hour_row, _row_key, hour_record
from .models import PERSON_LENGTH, SOURCE_REF_LENGTH, CompensationHour, HourImport

_ONE_HOUR = {"1", "1.0", "1,0", "1.00", "1,00"}  # Swedish exports write a decimal comma
_KEYS_PER_QUERY = 500  # bound the IN (...) list when looking up row keys
_MAX_LISTED_ERRORS = 50
# CSV headers, English and as Swedish exports name them; other columns are ignored.
_HEADERS = {"customer": {"customer", "customer_number", "kund", "kundnr", "kundnummer"},
            "date": {"date", "day", "datum"},
            "lock": {"lock", "lock_id", "lås", "las"},
            "hours": {"hours", "timmar"},
            "provider": {"provider", "anordnare", "utförare", "utforare"}}


class HourImportError(CompensationError):
    """A CSV file with bad lines: nothing was imported. ``errors`` is [(line, message)]."""

    def __init__(self, source: str, errors: list[tuple[int, str]]):
        shown = [_("  line {line}: {message}").format(line=line, message=message)
                 for line, message in errors[:_MAX_LISTED_ERRORS]]
        if len(errors) > _MAX_LISTED_ERRORS:
            shown.append(_("  ... and {n} more").format(n=len(errors) - _MAX_LISTED_ERRORS))
        super().__init__(_("{source}: {errors} bad line(s), nothing imported; correct them and "
                            "import the file again:\n")
                          .format(source=source, errors=len(errors)) + "\n".join(shown))
        self.errors = errors


class HourImportMixin:
    """The CSV import; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

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
            return [], [(1, _("the header needs a customer and a date column, not {header}")
                            .format(header=delimiter.join(header) or _("an empty line")))]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                errors.append((reader.line_num, _("{n} fields, the header has {header}")
                               .format(n=len(row), header=len(header))))
                continue
            cell = {field: (row[i].strip() if i < len(row) else "")
                    for field, i in columns.items()}
            try:
                lines.append((reader.line_num, _check_line(cell, provider, now)))
            except FleetError as err:
                errors.append((reader.line_num, str(err)))
    except csv.Error as err:
        errors.append((reader.line_num, _("not CSV: {error}").format(error=err)))
    return lines, errors


def _check_line(cell: dict, provider: str, now: int) -> tuple[str, str, str, str | None]:
    if cell.get("hours", "1") not in _ONE_HOUR:
        raise CompensationError(_("hours is {hours!r}: the routine allows one hour per mounted "
                                   "lock; a customer with two locks gets two lines")
                                 .format(hours=cell['hours']))
    named = cell.get("provider")
    if named and check_provider(named) != provider:
        raise CompensationError(_("provider is {named!r}, not {provider!r}: import one "
                                   "provider's hours at a time")
                                 .format(named=named, provider=provider))
    return _check_hour(provider, cell["customer"], cell["date"], cell.get("lock") or None, now)


__all__ = ["HourImportError", "HourImportMixin"]
