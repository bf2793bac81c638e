"""The door warnings (part of FleetStore): what the locks' knock sensors said of their doors,
read from the event logs synced into the store (lock_events; docs/knock.md, docs/protocol.md).

A lock logs door_opened, door_closed, door_left_open (open this long after a visit: nobody
shut it) and forced (a blow on the door while locked). The report lists every lock someone
must look at, as the battery report does: a forced entry within the last days (the police or
the service desk: someone hit a locked door hard), and a door whose newest door event is
left open (go and shut it; it stays listed until a closing is synced).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..firmware import wire
from ..i18n import _
from ._common import _now
from .models import Customer, LockAssignment, LockEvent

DEFAULT_FORCED_WITHIN_S = 7 * 86400  # a blow older than the week's reports is no longer news
FORCED, LEFT_OPEN = "FORCED ENTRY", "LEFT OPEN"
_URGENCY = {FORCED: 0, LEFT_OPEN: 1}
_DOOR_EVENTS = (wire.EVENT_DOOR_OPENED, wire.EVENT_DOOR_CLOSED, wire.EVENT_DOOR_LEFT_OPEN)


@dataclass(frozen=True)
class DoorWarning:
    """One line of the door report: a lock whose door needs someone's attention."""

    lock_id: str
    level: str  # "FORCED ENTRY" or "LEFT OPEN", most urgent first
    reason: str
    customer_number: str | None
    customer_name: str | None
    at: int  # lock time of the event
    peak_mg: int | None  # forced: the blow's peak the lock read
    open_s: int | None  # left open: how long it was open when the lock said so


class DoorMixin:
    """Door warnings; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def door_warnings(self, now: int | None = None,
                      forced_within_s: int = DEFAULT_FORCED_WITHIN_S) -> list[DoorWarning]:
        """Every lock whose door needs attention, most urgent first: each forced entry of the
        last ``forced_within_s`` (newest first), then each door left open and not closed since
        (the longest open first)."""
        now = _now(now)
        with self._transaction() as session:
            rows = session.execute(
                select(LockEvent.lock_id, LockEvent.at, LockEvent.type, LockEvent.fields,
                       LockEvent.log_epoch, LockEvent.seq)
                .where(LockEvent.type.in_((*_DOOR_EVENTS, wire.EVENT_FORCED)))
                .order_by(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq)).all()
            customers = dict((lock_id, (number, name)) for lock_id, number, name in session.execute(
                select(LockAssignment.lock_id, Customer.customer_number, Customer.name)
                .join(Customer, Customer.customer_number == LockAssignment.customer_number)
                .where(LockAssignment.ended_at.is_(None))).all())
        warnings, newest_door = [], {}
        for lock_id, at, kind, fields, _epoch, _seq in rows:
            customer = customers.get(lock_id, (None, None))
            if kind == wire.EVENT_FORCED:
                if now - at <= forced_within_s:
                    peak = fields[0] if fields else None
                    reason = _("forced entry: a blow of {peak} mg on the locked door; check the "
                               "door and the customer").format(peak=peak)
                    warnings.append(DoorWarning(lock_id, FORCED, reason, *customer, at, peak, None))
            else:
                newest_door[lock_id] = (at, kind, fields)  # in log order: the last one wins
        for lock_id, (at, kind, fields) in newest_door.items():
            if kind == wire.EVENT_DOOR_LEFT_OPEN:
                open_s = fields[0] if fields else None
                reason = _("door left open ({minutes} min after the visit): shut it").format(
                    minutes=(open_s or 0) // 60)
                warnings.append(DoorWarning(lock_id, LEFT_OPEN, reason,
                                            *customers.get(lock_id, (None, None)), at, None, open_s))
        warnings.sort(key=lambda w: (_URGENCY[w.level], -w.at if w.level == FORCED else w.at, w.lock_id))
        return warnings
