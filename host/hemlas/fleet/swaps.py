"""The fleet store's battery swaps, recorded step by step so a broken flow resumes (part of
FleetStore).

The routine: the person confirms the swap (stage "confirmed"), the swap is registered on the
lock and here ("registered"), then the lock is locked and unlocked at least five times each
("verifying"), and the swap ends ("done") as passed, failed, refused or abandoned. Only a
registered swap counts as a battery swapped: one refused or abandoned before registration
leaves the lock's last swap where it was.

A lock has at most one pending swap. :meth:`SwapMixin.begin_swap` returns it rather than start
a second, and a verification cycle sent again under the same index is recorded once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..firmware import wire
from ..i18n import _
from ._common import (FleetError, _check_int, _check_optional_text, _check_text, _check_time,
                      _current_customer, _get_lock, _now)
from .models import (CYCLE_ACTIONS, PERSON_LENGTH, REASON_LENGTH, SWAP_FINISHED_STATUSES,
                     SWAP_PENDING, BatterySwap, SwapCycle, SwapCycleRecord, SwapRecord)

# The routine: "lock at least 5 times and unlock at least 5 times" after a swap.
VERIFY_CYCLES = 5
_INT32_MAX = 0x7FFFFFFF
_UINT32_MAX = 0xFFFFFFFF  # the lock's times are u32 on the wire


def registration_happened(lock_swap_time_before: int | None, lock_swap_time_now: int | None) -> bool:
    """Whether the lock took a swap's registration, by the lock's own record of it
    (docs/battery-swap.md, "Breaks and resuming").

    A registration sets the lock's swap time to its clock at that moment, and nothing else
    sets it; so it happened iff the swap time now differs from the one read just before the
    request was sent. Times are compared for equality only, never order: the lock's clock may
    have moved either way (a power cut resumes it from a floor, an admin may set it). A swap
    time of 0 (None) now means the lock holds none (its state was reset): no registration.
    Neither case can take a swap that was not registered for one that was; the one
    ambiguity (a registration in the very lock second of the previous one) errs the safe
    way: the swap is registered again, which restarts the same new battery's count again.

    Args:
        lock_swap_time_before: the swap's ``lock_swap_time_before``: None when it was never
            read, and so the registration never sent; 0 when the lock had none.
        lock_swap_time_now: the lock's swap time as its battery answer gives it now.
    """
    if lock_swap_time_before is None or not lock_swap_time_now:
        return False
    return lock_swap_time_now != lock_swap_time_before


class UnknownSwapError(FleetError):
    def __init__(self, swap_id: int):
        super().__init__(_("battery swap {swap_id} is not in the fleet store").format(swap_id=swap_id))
        self.swap_id = swap_id


class SwapFinishedError(FleetError):
    """The swap has already ended; a new swap needs begin_swap."""

    def __init__(self, swap_id: int, status: str):
        super().__init__(_("battery swap {swap_id} has already finished ({status})")
                         .format(swap_id=swap_id, status=status))
        self.swap_id = swap_id
        self.status = status


class SwapMixin:
    """Battery swaps and their verification cycles; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def begin_swap(self, lock_id: str, person: str, now: int | None = None) -> SwapRecord:
        """Start a swap the person has confirmed, or resume the lock's pending one.

        A pending swap is returned as it is (its person and times stay): the flow picks up
        at its ``stage``.

        Raises:
            UnknownLockError: no such lock.
            FleetError: an empty person.
        """
        person = _check_text("person", person, PERSON_LENGTH)
        now = _now(now)
        try:
            with self._transaction() as session:
                _get_lock(session, lock_id, for_update=True)
                pending = session.scalar(_pending(lock_id))
                if pending is None:
                    pending = BatterySwap(lock_id=lock_id, person=person, started_at=now,
                                          customer_number=_current_customer(session, lock_id),
                                          status=SWAP_PENDING, stage="confirmed")
                    session.add(pending)
                    session.flush()
                return _swap_record(session, pending)
        except FleetError as err:
            # Two flows began at once and the partial unique index kept the second out:
            # that one resumes the first's swap.
            if not isinstance(err.__cause__, IntegrityError):
                raise
        with self._transaction() as session:
            pending = session.scalar(_pending(lock_id))
            if pending is None:
                raise FleetError(_("cannot begin a battery swap for lock {lock_id}")
                                 .format(lock_id=lock_id))
            return _swap_record(session, pending)

    def record_lock_swap_before(self, swap_id: int, lock_swap_time: int) -> SwapRecord:
        """Keep the lock's own swap time as it read just before the registration is sent
        (0: the lock had registered none). Stored before the request goes out, so a resumed
        swap can ask the lock whether it happened (:func:`registration_happened`).

        Raises:
            UnknownSwapError: no such swap. SwapFinishedError: it has ended.
            FleetError: it is registered already, or the time is out of range.
        """
        _check_int("lock_swap_time", lock_swap_time, 0, _UINT32_MAX)
        with self._transaction() as session:
            row = _get_pending(session, swap_id, for_update=True)
            if row.registered_at is not None:
                raise FleetError(_("battery swap {swap_id} is registered already")
                                 .format(swap_id=swap_id))
            row.lock_swap_time_before = lock_swap_time
            return _swap_record(session, row)

    def mark_swap_registered(self, swap_id: int, loaded_mv: int | None,
                             now: int | None = None,
                             lock_swap_time: int | None = None) -> SwapRecord:
        """Record that the lock took the swap's registration (again: the first time stays).

        Args:
            swap_id: the swap.
            loaded_mv: the new battery's voltage under load at registration, if measured.
            now: unix time of the registration; None for now.
            lock_swap_time: the lock's swap time after it (its registration answer's, or
                the battery answer's that showed the registration on resuming).

        Raises:
            UnknownSwapError: no such swap.
            SwapFinishedError: it has ended.
        """
        _check_int("loaded_mv", loaded_mv, 0, 0xFFFF, optional=True)
        _check_int("lock_swap_time", lock_swap_time, 0, _UINT32_MAX, optional=True)
        now = _now(now)
        with self._transaction() as session:
            row = _get_pending(session, swap_id)
            if row.registered_at is None:
                row.registered_at, row.loaded_mv_at_registration = now, loaded_mv
                row.lock_swap_time, row.stage = lock_swap_time, "registered"
            return _swap_record(session, row)

    def add_swap_cycle(self, swap_id: int, cycle_index: int, action: str, result: int,
                       state: int, travel_ms: int, loaded_mv: int | None,
                       at: int | None = None) -> SwapCycleRecord:
        """Record one verification lock or unlock. The same index again returns the cycle
        already recorded, unchanged: a resumed flow cannot count a cycle twice.

        Args:
            swap_id: the swap (registered, not finished).
            cycle_index: 0, 1, 2... in the order the flow ran them.
            action: "lock" or "unlock".
            result: the lock's wire status code (wire.STATUS_OK when it worked).
            state: the bolt state the lock reported.
            travel_ms: how long the bolt took.
            loaded_mv: the battery under motor load, if measured.
            at: unix time; None for now.

        Raises:
            UnknownSwapError: no such swap.
            SwapFinishedError: it has ended.
            FleetError: it is not registered yet, or a field is invalid.
        """
        if action not in CYCLE_ACTIONS:
            raise FleetError(_("a cycle's action is 'lock' or 'unlock', not {value!r}")
                             .format(value=action))
        _check_int("cycle_index", cycle_index, 0, _INT32_MAX)
        _check_int("result", result, 0, 255)
        _check_int("state", state, 0, 255)
        _check_int("travel_ms", travel_ms, 0, _INT32_MAX)
        _check_int("loaded_mv", loaded_mv, 0, 0xFFFF, optional=True)
        at = _now(at)
        _check_time("at", at)
        with self._transaction() as session:
            existing = session.get(SwapCycle, (swap_id, cycle_index))
            if existing is not None:
                return _cycle_record(existing)
            row = _get_pending(session, swap_id)
            if row.registered_at is None:
                raise FleetError(_("battery swap {swap_id} is not registered yet: verification "
                                   "comes after registration").format(swap_id=swap_id))
            cycle = SwapCycle(swap_id=swap_id, cycle_index=cycle_index, action=action,
                              result=result, state=state, travel_ms=travel_ms,
                              loaded_mv=loaded_mv, at=at)
            session.add(cycle)
            row.stage = "verifying"
            return _cycle_record(cycle)

    def finish_swap(self, swap_id: int, status: str, reason: str | None = None,
                    now: int | None = None) -> SwapRecord:
        """End a pending swap as passed, failed, refused or abandoned.

        "passed" needs a registered swap with at least VERIFY_CYCLES successful locks and as
        many successful unlocks: the record must not claim a verification that did not run.

        Raises:
            UnknownSwapError: no such swap.
            SwapFinishedError: it has already ended.
            FleetError: an unknown status, or "passed" without its verification.
        """
        if status not in SWAP_FINISHED_STATUSES:
            raise FleetError(_("a swap ends as one of {statuses}, not {value!r}")
                             .format(statuses=", ".join(SWAP_FINISHED_STATUSES), value=status))
        reason = _check_optional_text("reason", reason, REASON_LENGTH)
        now = _now(now)
        with self._transaction() as session:
            row = _get_pending(session, swap_id, for_update=True)
            if status == "passed":
                _check_verified(session, row)
            row.status, row.stage, row.finished_at, row.reason = status, "done", now, reason
            return _swap_record(session, row)

    def swap(self, swap_id: int) -> SwapRecord:
        """The swap ``swap_id`` with its cycles. Raises UnknownSwapError."""
        with self._transaction() as session:
            return _swap_record(session, _get_swap(session, swap_id))

    def swaps(self, lock_id: str) -> list[SwapRecord]:
        """Every swap of the lock, oldest first, finished or not. Raises UnknownLockError."""
        with self._transaction() as session:
            _get_lock(session, lock_id)
            rows = session.scalars(select(BatterySwap).where(BatterySwap.lock_id == lock_id)
                                   .order_by(BatterySwap.swap_id))
            return [_swap_record(session, row) for row in rows]

    def pending_swaps(self, lock_id: str | None = None) -> list[SwapRecord]:
        """Swaps still running (or broken off), oldest first; all locks', or one lock's."""
        query = select(BatterySwap).where(BatterySwap.status == SWAP_PENDING)
        if lock_id is not None:
            query = query.where(BatterySwap.lock_id == lock_id)
        with self._transaction() as session:
            if lock_id is not None:
                _get_lock(session, lock_id)
            rows = session.scalars(query.order_by(BatterySwap.swap_id))
            return [_swap_record(session, row) for row in rows]

    def last_swap(self, lock_id: str) -> SwapRecord | None:
        """The lock's most recently registered swap (whatever its verification found), or
        None. A swap refused or abandoned before registration is no swap. Raises
        UnknownLockError."""
        query = (select(BatterySwap)
                 .where(BatterySwap.lock_id == lock_id, BatterySwap.registered_at.is_not(None))
                 .order_by(BatterySwap.registered_at.desc(), BatterySwap.swap_id.desc())
                 .limit(1))
        with self._transaction() as session:
            _get_lock(session, lock_id)
            row = session.scalar(query)
            return None if row is None else _swap_record(session, row)


def _pending(lock_id: str):
    return select(BatterySwap).where(BatterySwap.lock_id == lock_id,
                                     BatterySwap.status == SWAP_PENDING)


def _get_swap(session: Session, swap_id: int, for_update: bool = False) -> BatterySwap:
    row = session.get(BatterySwap, swap_id, with_for_update=for_update)
    if row is None:
        raise UnknownSwapError(swap_id)
    return row


def _get_pending(session: Session, swap_id: int, for_update: bool = False) -> BatterySwap:
    row = _get_swap(session, swap_id, for_update)
    if row.status != SWAP_PENDING:
        raise SwapFinishedError(swap_id, row.status)
    return row


def _check_verified(session: Session, row: BatterySwap) -> None:
    if row.registered_at is None:
        raise FleetError(_("battery swap {swap_id} cannot pass: it was never registered")
                         .format(swap_id=row.swap_id))
    done = {action: 0 for action in CYCLE_ACTIONS}
    for cycle in session.scalars(select(SwapCycle).where(SwapCycle.swap_id == row.swap_id)):
        if cycle.result == wire.STATUS_OK:
            done[cycle.action] += 1
    if min(done.values()) < VERIFY_CYCLES:
        raise FleetError(_("battery swap {swap_id} cannot pass: {locks} locks and {unlocks} "
                           "unlocks succeeded, the routine asks for at least {minimum} of each")
                         .format(swap_id=row.swap_id, locks=done["lock"], unlocks=done["unlock"],
                                 minimum=VERIFY_CYCLES))


def _cycle_record(row: SwapCycle) -> SwapCycleRecord:
    return SwapCycleRecord(row.swap_id, row.cycle_index, row.action, row.result, row.state,
                           row.travel_ms, row.loaded_mv, row.at)


def _swap_record(session: Session, row: BatterySwap) -> SwapRecord:
    cycles = session.scalars(select(SwapCycle).where(SwapCycle.swap_id == row.swap_id)
                             .order_by(SwapCycle.cycle_index))
    return SwapRecord(row.swap_id, row.lock_id, row.customer_number, row.person, row.started_at,
                      row.status, row.stage, row.registered_at, row.loaded_mv_at_registration,
                      row.finished_at, row.reason, tuple(_cycle_record(c) for c in cycles),
                      row.lock_swap_time_before, row.lock_swap_time)
