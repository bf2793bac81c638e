"""The fleet store's battery readings and the battery report (part of FleetStore).

The host records a reading each time a lock tells it its battery (a status or battery request,
a swap). The report lists every lock someone must look at: a CRITICAL or LOW battery, or no
recent reading at all: the routine makes the provider responsible for noticing all three.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from ..firmware import wire
from ..i18n import N_, Texts, _, ngettext
from ._common import (FleetError, _check_int, _check_text, _check_time, _get_lock, _now)
from .models import (SOURCE_LENGTH, BatteryReading, BatteryReadingRecord, BatterySwap,
                     BatteryWarning, Customer, Lock, LockAssignment)

BATTERY_STATES = (wire.BATTERY_OK, wire.BATTERY_LOW, wire.BATTERY_CRITICAL)
DEFAULT_STALE_AFTER_S = 7 * 86400  # a lock in daily use is read far more often than weekly
_MV_MAX = 0xFFFF  # millivolts travel as uint16
_INT32_MAX = 0x7FFFFFFF
_IDS_PER_QUERY = 5000  # bound parameters in one IN: well below SQLite's 32,766

# The report's groups, most urgent first, and what each tells the reader to do.
CRITICAL, LOW, STALE = "CRITICAL", "LOW", "stale"
_URGENCY = {CRITICAL: 0, LOW: 1, STALE: 2}
# The reasons are for the reader, in their language when the report is made (never stored).
_REASON = Texts({CRITICAL: N_("CRITICAL: fully discharged — do not swap; service desk"),
                 LOW: N_("LOW: swap the battery")})


class BatteryMixin:
    """Battery readings and warnings; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def record_battery_reading(self, lock_id: str, *, at: int | None = None, idle_mv: int,
                               loaded_mv: int, state: int, percent: int | None = None,
                               days_left: int | None = None, charge_used_mah: int | None = None,
                               source: str = "battery") -> BatteryReadingRecord:
        """Record what a lock said of its battery.

        Args:
            lock_id: the lock.
            at: host time of the reading (unix s); None for now.
            idle_mv: battery voltage at rest.
            loaded_mv: battery voltage under motor load (what the state follows).
            state: wire.BATTERY_OK, BATTERY_LOW or BATTERY_CRITICAL.
            percent: estimated charge left, 0-100, if the lock gave one.
            days_left: estimated days to LOW, if known.
            charge_used_mah: charge used since the last swap, if the lock counts it.
            source: what the reading came with: "status", "battery", "swap"...

        Raises:
            UnknownLockError: no such lock.
            FleetError: a field is out of range.
        """
        at = _now(at)
        _check_time("at", at)
        _check_int("idle_mv", idle_mv, 0, _MV_MAX)
        _check_int("loaded_mv", loaded_mv, 0, _MV_MAX)
        if isinstance(state, bool) or state not in BATTERY_STATES:
            raise FleetError(_("battery state must be one of {states}, not {value!r}")
                             .format(states=BATTERY_STATES, value=state))
        _check_int("percent", percent, 0, 100, optional=True)
        _check_int("days_left", days_left, 0, _INT32_MAX, optional=True)
        _check_int("charge_used_mah", charge_used_mah, 0, _INT32_MAX, optional=True)
        source = _check_text("source", source, SOURCE_LENGTH)
        with self._transaction() as session:
            _get_lock(session, lock_id)
            row = BatteryReading(lock_id=lock_id, at=at, idle_mv=idle_mv, loaded_mv=loaded_mv,
                                 state=int(state), percent=percent, days_left=days_left,
                                 charge_used_mah=charge_used_mah, source=source)
            session.add(row)
            session.flush()
            return _reading_record(row)

    def battery_readings(self, lock_id: str, since: int | None = None,
                         limit: int | None = None) -> list[BatteryReadingRecord]:
        """The lock's readings at or after ``since``, oldest first; with ``limit``, only the
        newest ``limit`` of them (still oldest first). Raises UnknownLockError."""
        query = select(BatteryReading).where(BatteryReading.lock_id == lock_id)
        if since is not None:
            query = query.where(BatteryReading.at >= since)
        query = query.order_by(BatteryReading.at.desc(), BatteryReading.reading_id.desc())
        if limit is not None:
            query = query.limit(max(0, limit))
        with self._transaction() as session:
            _get_lock(session, lock_id)
            return [_reading_record(row) for row in session.scalars(query)][::-1]

    def last_battery_reading(self, lock_id: str) -> BatteryReadingRecord | None:
        """The lock's newest reading, or None. Raises UnknownLockError."""
        readings = self.battery_readings(lock_id, limit=1)
        return readings[0] if readings else None

    def last_battery_readings(self) -> dict[str, BatteryReadingRecord]:
        """Every lock's newest reading, by lock id (locks without one are absent)."""
        with self._transaction() as session:
            return _last_readings(session)

    def battery_warnings(self, now: int | None = None,
                         stale_after_s: int = DEFAULT_STALE_AFTER_S,
                         provider: str | None = None) -> list[BatteryWarning]:
        """Every lock that needs attention, most urgent first.

        CRITICAL (fully discharged: the service desk, not a swap), then LOW (swap the battery),
        then stale (no reading for ``stale_after_s``, or none at all). Within a group: fewest
        days left first, then the oldest reading. A reading taken before the lock's last
        registered swap describes the old battery and counts only as a time: the lock is
        stale if neither it nor the swap is recent. Locks whose last reading is OK and recent
        are left out.

        ``provider``: only the locks with that provider's customers now (tenancy.py's scope),
        chosen in the query: a coordinator's list reads its provider's locks, not the fleet's.
        """
        now = _now(now)
        with self._transaction() as session:
            locks = _locks_and_newest(session, provider)
            readings = _readings_by_id(session, [row.reading_id for row in locks])
            swaps = dict(session.execute(
                select(BatterySwap.lock_id, func.max(BatterySwap.registered_at))
                .where(BatterySwap.registered_at.is_not(None))
                .group_by(BatterySwap.lock_id)).all())
        warnings = []
        for lock_id, customer_number, customer_name, reading_id in locks:
            reading, swapped_at = readings.get(reading_id), swaps.get(lock_id)
            level, reason = _classify(reading, swapped_at, now, stale_after_s)
            if level is None:
                continue
            warnings.append(BatteryWarning(
                lock_id, level, reason, customer_number, customer_name,
                *((reading.state, reading.idle_mv, reading.loaded_mv, reading.percent,
                   reading.days_left, reading.at) if reading else (None,) * 6),
                swapped_at))
        warnings.sort(key=lambda w: (_URGENCY[w.level], w.days_left is None, w.days_left or 0,
                                     -1 if w.reading_at is None else w.reading_at, w.lock_id))
        return warnings


def _classify(reading: BatteryReadingRecord | None, swapped_at: int | None, now: int,
              stale_after_s: int) -> tuple[str | None, str]:
    """(level, reason) for one lock; (None, "") when it needs nothing."""
    if reading is not None and (swapped_at is None or reading.at >= swapped_at):
        if reading.state == wire.BATTERY_CRITICAL:
            return CRITICAL, _REASON[CRITICAL]
        if reading.state == wire.BATTERY_LOW:
            return LOW, _REASON[LOW]
    times = [t for t in (reading.at if reading else None, swapped_at) if t is not None]
    if not times:
        return STALE, _("stale: no battery reading yet")
    seen = max(times)
    if now - seen > stale_after_s:
        days = (now - seen) // 86400
        return STALE, ngettext("stale: no reading for {n} day", "stale: no reading for {n} days",
                               days).format(n=days)
    return None, ""


def _scoped(query, provider: str | None):
    """``query`` over Lock joined to its current customer (none: in stock), with only the
    given provider's locks (tenancy.py's rule: a lock is its current customer's provider's)."""
    current = (LockAssignment.lock_id == Lock.lock_id) & LockAssignment.ended_at.is_(None)
    if provider is None:
        return (query.outerjoin(LockAssignment, current)
                .outerjoin(Customer, Customer.customer_number == LockAssignment.customer_number))
    # Inner joins (the same rows, as the provider must match): the planner may then begin at
    # the provider's customers (ix_customers_provider) instead of scanning every lock.
    return (query.join(LockAssignment, current)
            .join(Customer, Customer.customer_number == LockAssignment.customer_number)
            .where(Customer.provider == provider))


def _last_readings(session: Session, provider: str | None = None) -> dict[str, BatteryReadingRecord]:
    """Each lock's newest reading (only ``provider``'s locks, if given), by lock id."""
    ids = [row.reading_id for row in _locks_and_newest(session, provider)]
    return {row.lock_id: _reading_record(row) for row in _readings_by_id(session, ids).values()}


def _locks_and_newest(session: Session, provider: str | None) -> list:
    """(lock id, customer number, customer name, newest reading's id) of every lock, or of
    ``provider``'s, by lock id; None where there is none.

    The newest reading is the last entry of the lock's (lock_id, at) index (the reading id
    breaks a tie, as everywhere): a window over every reading of the fleet sorted them all
    on each call, and a join to the reading in the same query made PostgreSQL hash the whole
    table (docs/service.md, "Load"); the rows follow by id (_readings_by_id)."""
    newest = (select(BatteryReading.reading_id).where(BatteryReading.lock_id == Lock.lock_id)
              .order_by(BatteryReading.at.desc(), BatteryReading.reading_id.desc()).limit(1)
              .correlate(Lock).scalar_subquery())
    return session.connection().execute(_scoped(
        select(Lock.lock_id, Customer.customer_number, Customer.name, newest.label("reading_id")),
        provider).order_by(Lock.lock_id)).all()


def _readings_by_id(session: Session, ids: list[int | None]) -> dict[int, Row]:
    """The readings of these ids, as plain rows (thousands on each warnings list, of which a
    few become warnings: ORM objects cost more than the query)."""
    table, wanted, found = BatteryReading.__table__, [i for i in ids if i is not None], {}
    for at in range(0, len(wanted), _IDS_PER_QUERY):
        found.update((row.reading_id, row) for row in session.connection().execute(
            select(table).where(table.c.reading_id.in_(wanted[at:at + _IDS_PER_QUERY]))).all())
    return found


def _reading_record(row: BatteryReading) -> BatteryReadingRecord:
    return BatteryReadingRecord(row.reading_id, row.lock_id, row.at, row.idle_mv, row.loaded_mv,
                                row.state, row.percent, row.days_left, row.charge_used_mah,
                                row.source)
