"""Every lock warning a caller must see, in one list, most urgent first: the coordinators'
start page (Startsida) reads it, and any other client may.

It adds nothing to the rules it gathers: the battery warnings are tenancy.warnings (the API's
warnings endpoint: CRITICAL, LOW, not heard from), the door warnings FleetStore.door_warnings
(forced entry, left open), the swaps FleetStore.pending_swaps (begun and not verified), the
revocations the store's own pending-revocation rule (revoked, not yet pushed to the lock). New
here are only the jams: a lock whose newest bolt event in its synced log is a jam, so its bolt
has not moved since (the next lock or unlock that works clears it). Everything is scoped to
the locks the caller sees, and without the customer's name and number for a role that may not
read customers (roles.py), exactly as the battery warnings are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, func, select

from ..firmware import wire
from . import tenancy
from ._common import _now
from .batteries import CRITICAL, LOW
from .doors import FORCED
from .models import Customer, IssuedKeyRow, LockAssignment, LockEvent
from .roles import READ_CUSTOMERS, READ_WARNINGS, Caller, require

# The kinds, most urgent first: what the start page groups and names.
BATTERY_CRITICAL, FORCED_ENTRY, JAMMED = "battery-critical", "forced-entry", "jammed"
BATTERY_LOW, DOOR_LEFT_OPEN, SWAP_UNVERIFIED = "battery-low", "door-left-open", "swap-unverified"
REVOCATION_PENDING, NOT_HEARD_FROM = "revocation-pending", "not-heard-from"
KINDS = (BATTERY_CRITICAL, FORCED_ENTRY, JAMMED, BATTERY_LOW, DOOR_LEFT_OPEN, SWAP_UNVERIFIED,
         REVOCATION_PENDING, NOT_HEARD_FROM)
_BOLT_EVENTS = (wire.EVENT_LOCKED, wire.EVENT_UNLOCKED, wire.EVENT_JAMMED)


@dataclass(frozen=True)
class LockWarning:
    """One warning: which lock, what kind, since when, and the one figure that says most
    (days left, a blow's mg, minutes open, a swap's id, how many keys)."""

    kind: str
    lock_id: str
    customer_number: str | None
    customer_name: str | None
    at: int | None  # when it was seen (a reading, an event, a swap begun, a key revoked)
    figure: int | None = None


def lock_warnings(store, caller: Caller, now: int | None = None) -> list[LockWarning]:
    """The caller's warnings, most urgent first (KINDS' order, then each source's own order).

    Raises:
        ForbiddenError: a role that may not read warnings.
    """
    now = _now(now)
    found: list[LockWarning] = []
    for w in tenancy.warnings(store, caller, now):  # scoped, and recorded in the audit log
        kind = {CRITICAL: BATTERY_CRITICAL, LOW: BATTERY_LOW}.get(w.level, NOT_HEARD_FROM)
        # Not heard from: since the newest of the reading and the swap (batteries.py's rule).
        times = [t for t in (w.reading_at, w.last_swap_at) if t is not None]
        at = w.reading_at if kind != NOT_HEARD_FROM else (max(times) if times else None)
        found.append(LockWarning(kind, w.lock_id, w.customer_number, w.customer_name, at,
                                 w.days_left))
    with store.unit_of_work() as uow:
        require(caller, READ_WARNINGS)
        visible = None if caller.all_providers else tenancy.visible_lock_ids(uow, caller)
        customers = _current_customers(uow)
        jams = _jammed(uow)
        revocations = _pending_revocations(uow, now)

    def seen(lock_id: str) -> bool:
        return visible is None or lock_id in visible

    def who(lock_id: str) -> tuple[str | None, str | None]:
        return customers.get(lock_id, (None, None))

    for d in store.door_warnings(now):
        if seen(d.lock_id):
            kind = FORCED_ENTRY if d.level == FORCED else DOOR_LEFT_OPEN
            found.append(LockWarning(kind, d.lock_id, *who(d.lock_id), d.at,
                                     d.peak_mg if kind == FORCED_ENTRY else (d.open_s or 0) // 60))
    found += [LockWarning(JAMMED, lock_id, *who(lock_id), at) for lock_id, at in jams if seen(lock_id)]
    found += [LockWarning(SWAP_UNVERIFIED, s.lock_id, *who(s.lock_id), s.started_at, s.swap_id)
              for s in store.pending_swaps() if seen(s.lock_id)]
    found += [LockWarning(REVOCATION_PENDING, lock_id, *who(lock_id), at, count)
              for lock_id, at, count in revocations if seen(lock_id)]
    if not caller.may(READ_CUSTOMERS):
        found = [LockWarning(w.kind, w.lock_id, None, None, w.at, w.figure) for w in found]
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(found, key=lambda w: order[w.kind])  # stable: each source's order within a kind


def _current_customers(session) -> dict[str, tuple[str, str]]:
    return {lock_id: (number, name) for lock_id, number, name in session.execute(
        select(LockAssignment.lock_id, Customer.customer_number, Customer.name)
        .join(Customer, Customer.customer_number == LockAssignment.customer_number)
        .where(LockAssignment.ended_at.is_(None)))}


def _jammed(session) -> list[tuple[str, int]]:
    """(lock id, when) of each lock whose newest bolt event is a jam, by lock id."""
    newest = (select(LockEvent.lock_id, LockEvent.type, LockEvent.at,
                     func.row_number().over(partition_by=LockEvent.lock_id,
                                            order_by=(LockEvent.log_epoch.desc(),
                                                      LockEvent.seq.desc())).label("n"))
              .where(LockEvent.type.in_(_BOLT_EVENTS)).subquery())
    return [(lock_id, at) for lock_id, at in session.execute(
        select(newest.c.lock_id, newest.c.at)
        .where(newest.c.n == 1, newest.c.type == wire.EVENT_JAMMED)
        .order_by(newest.c.lock_id))]


def _pending_revocations(session, now: int) -> list[tuple[str, int, int]]:
    """(lock id, the oldest revocation's time, how many) of each lock with revocations it has
    not been told of: the conditions of FleetStore.pending_revocations, for every lock at once."""
    return [tuple(row) for row in session.execute(
        select(IssuedKeyRow.lock_id, func.min(IssuedKeyRow.revoked_at), func.count())
        .where(IssuedKeyRow.revoked_at.is_not(None),
               IssuedKeyRow.revocation_pushed_at.is_(None),
               IssuedKeyRow.superseded == false(),
               IssuedKeyRow.not_after >= now)
        .group_by(IssuedKeyRow.lock_id).order_by(IssuedKeyRow.lock_id))]
