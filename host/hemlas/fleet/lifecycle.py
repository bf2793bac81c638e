"""A lock's life with its customers: mount, move, key custody, dismantle (part of FleetStore).

The routine: a lock is mounted for a customer at an address (what "Uppstart smarta lås" pays
the provider for); it follows the customer on a move within the municipality; when home care
ends the municipality's lock fitter signs the customer's key out from the provider, dismantles
the lock and returns the key. The lock then goes back to stock for a new customer.

Every change is one row in lock_lifecycle (who, when, what), added and never changed. The
placement itself stays in lock_assignments, which battery and visit code read: a mount opens a
row, a dismantle ends it, a move keeps it (same customer, new address). The order rules, per
lock:

    free --mount--> mounted --key_signed_out--> key out --dismantle--> dismantled
      ^               |  ^                                                 |
      |               move                                           key_returned
      +------------------------------------------------------------------+

and a lock's records follow each other in time (a back-dated record may not come before the
lock's last one), so placements never overlap and a lock's events belong to one customer.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..firmware import wire
from ..i18n import _
from ._common import (FleetError, _check_optional_text, _check_text, _get_lock, _lock_record,
                      _now, _pending_revocations_query)
from .customers import LockAssignedError, _get_customer
from .models import (ADDRESS_LENGTH, NOTE_LENGTH, PERSON_LENGTH, Customer, DismantleRecord,
                     IssuedKeyRow, LifecycleRecord, Lock, LockAssignment, LockLifecycle,
                     LockRecord)
from .nfc import check_no_active_tag, local_time, past_time

# Who assign_lock/unassign_lock record when their caller names nobody.
UNRECORDED_PERSON = "(not recorded)"


class LifecycleError(FleetError):
    """A lifecycle step out of the routine's order; the message says which rule and what to do."""

    def __init__(self, lock_id: str, message: str):
        super().__init__(message)
        self.lock_id = lock_id


class LockNotMountedError(LifecycleError):
    def __init__(self, lock_id: str, step: str):
        super().__init__(lock_id, _("lock {lock_id} is not mounted at any customer: only a "
                                     "mounted lock can be {step}; mount it first: hemlas locks "
                                     "mount {lock_id} CUSTOMER --by PERSON")
                                   .format(lock_id=lock_id, step=step))


class KeyCustodyError(LifecycleError):
    """The customer's key is not where this step needs it (signed out, returned)."""


class RevocationsPendingError(LifecycleError):
    """A lock is not mounted while keys revoked for it (the previous customer's carers', say)
    have not reached it: they would open the new customer's door."""

    def __init__(self, lock_id: str, key_ids: tuple[int, ...]):
        listed = ", ".join(map(str, key_ids))
        super().__init__(lock_id, _("lock {lock_id} has not yet been told of {key_ids} revoked "
                                     "key(s) ({listed}): until it is, those keys (the previous "
                                     "customer's carers', say) open the door it is mounted on; "
                                     "push the revocations first: hemlas keys push {lock_id} (or "
                                     "re-provision it at the bench, which kills every old key: "
                                     "hemlas flash --port PORT --board BOARD --reprovision)")
                                   .format(lock_id=lock_id, key_ids=len(key_ids), listed=listed))
        self.key_ids = key_ids


@dataclass
class _State:
    """A lock's latest placement and that placement's records, oldest first."""

    placement: LockAssignment | None
    records: list[LockLifecycle]
    last_at: int | None  # the time of the lock's newest record

    @property
    def mounted(self) -> bool:
        return self.placement is not None and self.placement.ended_at is None

    def find(self, action: str) -> LockLifecycle | None:
        return next((r for r in self.records if r.action == action), None)

    @property
    def address(self) -> str | None:
        moves = [r for r in self.records if r.action in ("mount", "move")]
        return moves[-1].address if moves else None


@dataclass(frozen=True)
class LockStatus:
    """Where a lock is in the routine (the diagram above), read from its records.

    status: "stock" (never mounted, or dismantled and its key back), "mounted", "key_out" (the
    fitter has the customer's key, to dismantle), "dismantled" (the key not yet returned).
    """

    lock_id: str
    status: str
    customer_number: str | None  # the placement's customer; None in stock
    address: str | None
    since: int | None  # when the record that put it there was dated; None: never mounted


LOCK_STATUSES = ("stock", "mounted", "key_out", "dismantled")


class LifecycleMixin:
    """Mounts, moves, key custody and dismantling; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def mount_lock(self, lock_id: str, customer_number: str, address: str | None, person: str,
                   at: int | None = None, *, note: str | None = None,
                   now: int | None = None) -> LifecycleRecord:
        """Mount a lock for a customer at an address (the customer's address is set to it).

        Args:
            lock_id: a free lock (in stock: never mounted, or dismantled and its key returned).
            customer_number: the customer; must have a provider and no active NFC tag.
            address: where it is mounted; None for the customer's address on record.
            person: who mounted it.
            at: when (unix s); None for now. Not in the future, not before the lock's last record.
            note: optional free text.
            now: the present, for the future check; None for the clock.

        Raises:
            UnknownLockError, UnknownCustomerError: no such lock or customer.
            LockAssignedError: the lock is mounted (at this or another customer).
            KeyCustodyError: the key from the lock's last dismantling is not returned.
            RevocationsPendingError: keys revoked for the lock (at its dismantling, say) have
                not been pushed to it (``hemlas keys push``), and are not expired at ``at``.
            NfcTagActiveError: a tag of the customer's is active, or was deactivated after
                ``at`` (whenever it was registered: the placement would overlap it).
            FleetError: no address, no provider, an invalid field or time.
        """
        address = _check_optional_text("address", address, ADDRESS_LENGTH)
        person, note, at = _fields(person, note, at, now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            customer = _get_customer(session, customer_number, for_update=True)
            if state.mounted and state.placement.customer_number == customer.customer_number:
                raise LifecycleError(lock_id, _("lock {lock_id} is already mounted at customer "
                                                 "{customer_number} ({address}): when the "
                                                 "customer moves, the lock goes along: hemlas "
                                                 "locks move {lock_id} --address NEW --by PERSON")
                                               .format(lock_id=lock_id,
                                                       customer_number=customer.customer_number,
                                                       address=state.address))
            if state.mounted:
                raise LockAssignedError(lock_id, state.placement.customer_number, state.address)
            _check_key_returned(lock_id, state)
            pending = _pending_revocations(session, lock_id, at)
            if pending:
                raise RevocationsPendingError(lock_id, pending)
            check_no_active_tag(session, customer.customer_number, at)
            _check_order(lock_id, state, at, _("mount"))
            address = address or customer.address
            if address is None:
                raise FleetError(_("customer {customer_number} has no address on record: say "
                                    "where the lock is mounted with --address")
                                  .format(customer_number=customer.customer_number))
            if customer.provider is None:
                raise FleetError(_("customer {customer_number} has no provider: a mount is paid "
                                    'to the provider serving the customer (one hour "Uppstart '
                                    'smarta lås"); set it first: hemlas customers set-provider '
                                    "{customer_number} PROVIDER")
                                  .format(customer_number=customer.customer_number))
            customer.address = address
            return _open(session, lock_id, customer, address, person, at, note, _now(now))

    def move_lock(self, lock_id: str, address: str, person: str, at: int | None = None, *,
                  note: str | None = None, now: int | None = None) -> LifecycleRecord:
        """The customer moves within the municipality and the lock goes along: the same
        placement, a new address (also the customer's).

        Raises:
            UnknownLockError: no such lock.
            LockNotMountedError: the lock is not mounted.
            KeyCustodyError: its key is signed out for dismantling.
            FleetError: the same address, an invalid field or time.
        """
        address = _check_text("address", address, ADDRESS_LENGTH)
        person, note, at = _fields(person, note, at, now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            if not state.mounted:
                raise LockNotMountedError(lock_id, _("moved"))
            out = state.find("key_signed_out")
            if out is not None:
                raise KeyCustodyError(lock_id, _("lock {lock_id} is being dismantled (the key "
                                                  "was signed out by {person} at {at}): a lock "
                                                  "on its way out is not moved; dismantle it: "
                                                  "hemlas locks dismantle {lock_id} --by {person}")
                                                .format(lock_id=lock_id, person=out.person,
                                                        at=local_time(out.at)))
            if address == state.address:
                raise FleetError(_("lock {lock_id} is already at {address}: a move needs the "
                                    "new address").format(lock_id=lock_id, address=address))
            _check_order(lock_id, state, at, _("move"))
            customer = _get_customer(session, state.placement.customer_number, for_update=True)
            customer.address = address
            return _add(session, state, "move", customer, address, person, at, note, _now(now))

    def sign_out_key(self, lock_id: str, person: str, at: int | None = None, *,
                     note: str | None = None, now: int | None = None) -> LifecycleRecord:
        """The lock fitter (``person``) signs the customer's key out from the provider, to
        dismantle the lock.

        Raises:
            UnknownLockError: no such lock.
            LockNotMountedError: the lock is not mounted.
            KeyCustodyError: the key is signed out already.
            FleetError: an invalid field or time.
        """
        person, note, at = _fields(person, note, at, now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            if not state.mounted:
                raise LockNotMountedError(lock_id, _("dismantled (the key is signed out for "
                                                      "that)"))
            out = state.find("key_signed_out")
            if out is not None:
                raise KeyCustodyError(lock_id, _("customer {customer_number}'s key for lock "
                                                  "{lock_id} is already signed out (by {person} "
                                                  "at {at}); next: hemlas locks dismantle "
                                                  "{lock_id} --by {person}")
                                                .format(customer_number=out.customer_number,
                                                        lock_id=lock_id, person=out.person,
                                                        at=local_time(out.at)))
            _check_order(lock_id, state, at, _("key sign-out"))
            customer = _get_customer(session, state.placement.customer_number)
            return _add(session, state, "key_signed_out", customer, state.address, person, at,
                        note, _now(now))

    def dismantle_lock(self, lock_id: str, person: str, at: int | None = None, *,
                       note: str | None = None, now: int | None = None) -> DismantleRecord:
        """Dismantle a lock whose key the fitter has signed out: the placement ends at ``at``
        (the lock's events up to then stay the old customer's), every key for the lock still
        valid is revoked as of ``at`` (pushed to the lock at its next admin connection; the
        host's own short-lived admin keys are left alone), and the lock goes back to stock
        once the key is returned and the revocations are on the lock.

        Raises:
            UnknownLockError: no such lock.
            LockNotMountedError: the lock is not mounted.
            KeyCustodyError: the key was not signed out first.
            FleetError: an invalid field or time.
        """
        person, note, at = _fields(person, note, at, now)
        now = _now(now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            if not state.mounted:
                raise LockNotMountedError(lock_id, _("dismantled"))
            customer = _get_customer(session, state.placement.customer_number)
            if state.find("key_signed_out") is None:
                raise KeyCustodyError(lock_id, _("lock {lock_id} cannot be dismantled yet: the "
                                                  "lock fitter first signs customer "
                                                  "{customer_number}'s key out from the "
                                                  "provider: hemlas locks key-out {lock_id} --by "
                                                  "FITTER")
                                                .format(lock_id=lock_id,
                                                        customer_number=customer.customer_number))
            _check_order(lock_id, state, at, _("dismantle"))
            state.placement.ended_at = at
            record = _add(session, state, "dismantle", customer, state.address, person, at, note,
                          now)
            return DismantleRecord(record, _revoke_keys(session, lock_id, at, now))

    def return_key(self, lock_id: str, person: str, at: int | None = None, *,
                   note: str | None = None, now: int | None = None) -> LifecycleRecord:
        """The fitter returns the customer's key to the provider after dismantling (a lost
        key is recorded the same way, with a note saying so).

        Raises:
            UnknownLockError: no such lock.
            KeyCustodyError: the lock is not dismantled yet, or no key is out.
            FleetError: an invalid field or time.
        """
        person, note, at = _fields(person, note, at, now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            out = state.find("key_signed_out")
            if state.mounted and out is not None:
                raise KeyCustodyError(lock_id, _("lock {lock_id} is not dismantled yet: the key "
                                                  "goes back after dismantling: hemlas locks "
                                                  "dismantle {lock_id} --by {person}")
                                                .format(lock_id=lock_id, person=out.person))
            returned = state.find("key_returned")
            if out is None or returned is not None:
                done = (_(" (returned by {person} at {at})")
                         .format(person=returned.person, at=local_time(returned.at))
                        if returned is not None else "")
                raise KeyCustodyError(lock_id, _("no key is signed out for lock "
                                                  "{lock_id}{done}: nothing to return")
                                                .format(lock_id=lock_id, done=done))
            _check_order(lock_id, state, at, _("key return"))
            customer = _get_customer(session, out.customer_number)
            return _add(session, state, "key_returned", customer, state.address, person, at,
                        note, _now(now))

    def lock_history(self, lock_id: str) -> list[LifecycleRecord]:
        """Every lifecycle record of the lock, oldest first. Raises UnknownLockError."""
        with self._transaction() as session:
            _get_lock(session, lock_id)
            rows = session.scalars(select(LockLifecycle).where(LockLifecycle.lock_id == lock_id)
                                   .order_by(LockLifecycle.record_id))
            return [lifecycle_record(row) for row in rows]

    def lock_statuses(self) -> dict[str, LockStatus]:
        """Every lock's status, by lock id; read-only, one read of the lifecycle tables."""
        with self._transaction() as session:
            lock_ids = list(session.scalars(select(Lock.lock_id).order_by(Lock.lock_id)))
            open_placements = set(session.scalars(
                select(LockAssignment.assignment_id).where(LockAssignment.ended_at.is_(None))))
            records: dict[str, list[LockLifecycle]] = {}
            for row in session.scalars(select(LockLifecycle).order_by(LockLifecycle.record_id)):
                records.setdefault(row.lock_id, []).append(row)
            return {lock_id: _status(lock_id, records.get(lock_id, []), open_placements)
                    for lock_id in lock_ids}

    # ---- Lower level: no address, provider or key custody needed -----------------------------

    def assign_lock(self, lock_id: str, customer_number: str, now: int | None = None, *,
                    person: str = UNRECORDED_PERSON) -> LockRecord:
        """Place a lock with a customer without the routine's paperwork (bench work, tests,
        data repair): recorded as a mount at the customer's address on record, if any. The
        NFC rule and one customer at a time still hold; the same customer again is harmless.

        Raises:
            UnknownLockError, UnknownCustomerError: no such lock or customer.
            LockAssignedError: the lock is with another customer.
            NfcTagActiveError: the customer has an active NFC tag.
        """
        person = _check_text("person", person, PERSON_LENGTH)
        now = _now(now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            customer = _get_customer(session, customer_number, for_update=True)
            if state.mounted:
                if state.placement.customer_number != customer.customer_number:
                    raise LockAssignedError(lock_id, state.placement.customer_number,
                                            state.address)
            else:
                check_no_active_tag(session, customer.customer_number, now)
                _check_order(lock_id, state, now, _("assignment"))
                _open(session, lock_id, customer, customer.address, person, now, None, now)
            return _lock_record(_get_lock(session, lock_id), customer.customer_number)

    def unassign_lock(self, lock_id: str, now: int | None = None, *,
                      person: str = UNRECORDED_PERSON) -> LockRecord:
        """End the lock's placement without dismantling (no key custody, no keys revoked),
        recorded as "unassign". No customer: harmless.

        Raises:
            UnknownLockError: no such lock.
        """
        person = _check_text("person", person, PERSON_LENGTH)
        now = _now(now)
        with self._transaction() as session:
            state = _state(session, lock_id)
            if state.mounted:
                _check_order(lock_id, state, now, _("unassignment"))
                state.placement.ended_at = now
                customer = _get_customer(session, state.placement.customer_number)
                _add(session, state, "unassign", customer, state.address, person, now, None, now)
            return _lock_record(_get_lock(session, lock_id), None)


# ---- Helpers ---------------------------------------------------------------------------------

def _fields(person: str, note: str | None, at: int | None,
            now: int | None) -> tuple[str, str | None, int]:
    return (_check_text("person", person, PERSON_LENGTH),
            _check_optional_text("note", note, NOTE_LENGTH), past_time("at", at, now))


def _state(session: Session, lock_id: str) -> _State:
    """The lock's latest placement and its records; the lock row is locked (PostgreSQL), so
    two steps on one lock cannot both pass their checks."""
    _get_lock(session, lock_id, for_update=True)
    newest = session.scalar(select(LockLifecycle).where(LockLifecycle.lock_id == lock_id)
                            .order_by(LockLifecycle.record_id.desc()).limit(1))
    current = session.scalar(select(LockAssignment).where(LockAssignment.lock_id == lock_id,
                                                          LockAssignment.ended_at.is_(None)))
    placement = current
    if placement is None and newest is not None:
        placement = session.get(LockAssignment, newest.assignment_id)
    records = [] if placement is None else list(session.scalars(
        select(LockLifecycle).where(LockLifecycle.assignment_id == placement.assignment_id)
        .order_by(LockLifecycle.record_id)))
    return _State(placement, records, None if newest is None else newest.at)


def _status(lock_id: str, rows: list[LockLifecycle], open_placements: set[int]) -> LockStatus:
    """The status the routine's rules give a lock whose records are rows, oldest first: its
    latest placement is its newest record's (as in _state)."""
    if not rows:
        return LockStatus(lock_id, "stock", None, None, None)
    newest = rows[-1]
    placement = [r for r in rows if r.assignment_id == newest.assignment_id]
    actions = {r.action for r in placement}
    if newest.assignment_id in open_placements:
        status = "key_out" if "key_signed_out" in actions else "mounted"
    elif "key_signed_out" in actions and "key_returned" not in actions:
        status = "dismantled"
    else:
        return LockStatus(lock_id, "stock", None, None, newest.at)
    moves = [r for r in placement if r.action in ("mount", "move")]
    return LockStatus(lock_id, status, newest.customer_number,
                      moves[-1].address if moves else newest.address, newest.at)


def _check_order(lock_id: str, state: _State, at: int, step: str) -> None:
    if state.last_at is not None and at < state.last_at:
        raise LifecycleError(lock_id, _("the {step} at {at} would come before lock {lock_id}'s "
                                         "last record ({last_at}): a lock's records follow each "
                                         "other in time; give a time at or after that (hemlas "
                                         "locks history {lock_id})")
                                       .format(step=step, at=local_time(at), lock_id=lock_id,
                                               last_at=local_time(state.last_at)))


def _check_key_returned(lock_id: str, state: _State) -> None:
    """A lock goes back into stock only once the key from its dismantling is returned."""
    out = state.find("key_signed_out")
    if out is not None and state.find("key_returned") is None:
        raise KeyCustodyError(lock_id, _("customer {customer_number}'s key from dismantling "
                                          "lock {lock_id} (signed out by {person} at {at}) has "
                                          "not been returned: the lock is back in stock once the "
                                          "key is back with the provider; record it first: "
                                          "hemlas locks key-return {lock_id} --by {person}")
                                        .format(customer_number=out.customer_number,
                                                lock_id=lock_id, person=out.person,
                                                at=local_time(out.at)))


def _open(session: Session, lock_id: str, customer: Customer, address: str | None, person: str,
          at: int, note: str | None, now: int) -> LifecycleRecord:
    """A new placement and its mount record."""
    placement = LockAssignment(lock_id=lock_id, customer_number=customer.customer_number,
                               assigned_at=at)
    session.add(placement)
    try:
        session.flush()  # the placement's id, for the record
    except IntegrityError as err:  # the partial unique index: another request won the race
        raise LifecycleError(lock_id, _("lock {lock_id} was placed by another request at the "
                                         "same moment; see: hemlas locks history {lock_id}")
                                       .format(lock_id=lock_id)) from err
    return _add(session, _State(placement, [], at), "mount", customer, address, person, at, note,
                now)


def _add(session: Session, state: _State, action: str, customer: Customer, address: str | None,
         person: str, at: int, note: str | None, now: int) -> LifecycleRecord:
    row = LockLifecycle(lock_id=state.placement.lock_id,
                        assignment_id=state.placement.assignment_id, action=action,
                        customer_number=customer.customer_number, address=address,
                        person=person, at=at, provider=customer.provider, note=note,
                        recorded_at=now)
    session.add(row)
    session.flush()
    return lifecycle_record(row)


def _revoke_keys(session: Session, lock_id: str, at: int, now: int) -> tuple[int, ...]:
    """Revoke, as of the dismantling at ``at``, every key for the lock that could still open
    it (not expired at ``now``); their ids. Not the host's own admin keys: they live minutes
    (the one pushing these revocations among them), and each revocation takes a slot in the
    lock's bounded revocation list."""
    from .store import ADMIN_PERSON  # store.py imports this module

    rows = list(session.scalars(select(IssuedKeyRow).where(
        IssuedKeyRow.lock_id == lock_id, IssuedKeyRow.revoked_at.is_(None),
        IssuedKeyRow.superseded == false(), IssuedKeyRow.not_after >= now,
        ~((IssuedKeyRow.person == ADMIN_PERSON) & (IssuedKeyRow.role == wire.ROLE_ADMIN)))
        .order_by(IssuedKeyRow.key_id)))
    for row in rows:
        row.revoked_at = at
    return tuple(row.key_id for row in rows)


def _pending_revocations(session: Session, lock_id: str, now: int) -> tuple[int, ...]:
    """The ids of the keys FleetStore.pending_revocations lists (one query for both), read in
    this transaction, under the lock row's lock."""
    return tuple(row.key_id for row in session.scalars(_pending_revocations_query(lock_id, now)))


def lifecycle_record(row: LockLifecycle) -> LifecycleRecord:
    return LifecycleRecord(row.record_id, row.lock_id, row.assignment_id, row.action,
                           row.customer_number, row.address, row.person, row.at, row.provider,
                           row.note, row.recorded_at)


__all__ = ["KeyCustodyError", "LOCK_STATUSES", "LifecycleError", "LifecycleMixin",
           "LockNotMountedError", "LockStatus",
           "RevocationsPendingError", "UNRECORDED_PERSON", "lifecycle_record"]
