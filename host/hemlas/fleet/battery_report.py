"""The battery report per lock (Batterirapport): every lock the caller sees, with its battery
level as the warnings rule gives it (tenancy.warnings: CRITICAL, LOW, not heard from; OK for
the rest), its newest reading, days left, last registered swap and the readings of a window
for its trend. The rules are the warnings' own; this adds the locks that need nothing and the
readings, scoped and audited as every read of personal data is (tenancy.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from . import tenancy
from ._common import _now
from .batteries import _last_readings
from .models import BatteryReading, BatterySwap, Customer
from .roles import READ_CUSTOMERS, Caller

OK = "OK"  # the level of a lock no warning names
TREND_DAYS = 180  # half a year: a battery lasts about a year
TREND_MAX_POINTS = 200  # per lock: enough for a small plot, bounded for a fleet of 10,000


@dataclass(frozen=True)
class LockBattery:
    lock_id: str
    level: str  # CRITICAL, LOW, stale (not heard from) or OK
    customer_number: str | None
    customer_name: str | None
    state: int | None
    idle_mv: int | None
    loaded_mv: int | None
    percent: int | None
    days_left: int | None
    reading_at: int | None
    last_swap_at: int | None
    trend: tuple[tuple[int, int, int | None], ...] = ()  # (at, loaded_mv, percent), oldest first


def battery_report(store, caller: Caller, now: int | None = None,
                   trend_days: int = TREND_DAYS) -> list[LockBattery]:
    """Every lock the caller sees, by lock id (the page sorts and filters).

    Raises:
        ForbiddenError: a role that may not read locks or warnings.
    """
    now = _now(now)
    warned = {w.lock_id: w for w in tenancy.warnings(store, caller, now)}
    with store.unit_of_work() as uow:
        views = tenancy.locks(uow, caller)  # scoped; audited
        ids = [v.lock_id for v in views]
        last = _last_readings(uow)
        swaps = dict(uow.execute(select(BatterySwap.lock_id, func.max(BatterySwap.registered_at))
                                 .where(BatterySwap.registered_at.is_not(None))
                                 .group_by(BatterySwap.lock_id)).all())
        names = {}
        if caller.may(READ_CUSTOMERS):
            numbers = {v.customer_number for v in views if v.customer_number}
            names = dict(uow.execute(select(Customer.customer_number, Customer.name)
                                     .where(Customer.customer_number.in_(numbers))).all()) if numbers else {}
        trends: dict[str, list] = {lock_id: [] for lock_id in ids}
        query = (select(BatteryReading.lock_id, BatteryReading.at, BatteryReading.loaded_mv,
                        BatteryReading.percent)
                 .where(BatteryReading.at >= now - trend_days * 86400)
                 .order_by(BatteryReading.lock_id, BatteryReading.at, BatteryReading.reading_id))
        if not caller.all_providers:  # a provider's few locks: not the whole fleet's readings
            query = query.where(BatteryReading.lock_id.in_(ids))
        for lock_id, at, loaded_mv, percent in uow.execute(query):
            if lock_id in trends:
                trends[lock_id].append((at, loaded_mv, percent))
    report = []
    for view in views:
        reading, warning = last.get(view.lock_id), warned.get(view.lock_id)
        points = trends[view.lock_id]
        if len(points) > TREND_MAX_POINTS:  # evenly thinned, the newest kept
            step = len(points) / TREND_MAX_POINTS
            points = [points[int(i * step)] for i in range(TREND_MAX_POINTS - 1)] + [points[-1]]
        report.append(LockBattery(
            view.lock_id, warning.level if warning else OK, view.customer_number,
            names.get(view.customer_number),
            *((reading.state, reading.idle_mv, reading.loaded_mv, reading.percent,
               reading.days_left, reading.at) if reading else (None,) * 6),
            swaps.get(view.lock_id), tuple(points)))
    return report
