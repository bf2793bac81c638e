"""The locks' event logs in the fleet store, and the visits read from them (part of FleetStore).

The lock's own log is the record of each visit (the routine's "registrering av tid"). Every
connection syncs it here, page by page, from where the last sync stopped
(:meth:`VisitMixin.store_log_page`). Each page is stored, and the sync cursor moved, in one
transaction, and a record's key is (lock, log epoch, sequence number): a sync cut off anywhere
loses nothing and a repeated page or a second client doubles nothing. docs/visits.md has the
rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import insert, or_, select, tuple_
from sqlalchemy.orm import Session

from ..firmware import wire
from ._common import FleetError, _check_text, _check_time, _get_lock, _now
from .customers import _get_customer
from .models import (NOTE_LENGTH, PERSON_LENGTH, IssuedKeyRow, LockAssignment, LockEvent, LockSync,
                     ManualVisit)

FIRST_SEQ = 1  # a lock's log numbers its first record 1
# A visit is one person's unlock ... lock at one lock. Locking and unlocking again within this
# time stays the same visit (the routine's five lock/unlock checks after a battery swap, a
# carer stepping out to the car); a longer visit than MAX_VISIT_S has lost its "out".
MERGE_GAP_S = 10 * 60
MAX_VISIT_S = 12 * 3600
FUTURE_SLACK_S = 5 * 60  # a manual visit may be registered a little ahead of this host's clock
_VISIT_EVENTS = (wire.EVENT_UNLOCKED, wire.EVENT_LOCKED)
_KEY_FIELD = 3  # lock and unlock events: travel_ms, loaded_mv, attempts, key id
MANUAL, LOCK = "manual", "lock"


class LogRestartedError(FleetError):
    """The lock's log is not the one synced before (its flash was erased): a new log epoch."""

    def __init__(self, lock_id: str, seq: int):
        super().__init__(f"lock {lock_id}'s event {seq} differs from the one synced before: "
                         "its log started again")
        self.lock_id = lock_id


class SyncRaceError(FleetError):
    """Another client started a new log epoch for the lock while this one synced."""


class StalePageError(SyncRaceError):
    """An empty page whose lock said less than the store has: another client's sync got past
    this answer meanwhile, or the lock's log started again. Asking the lock again tells."""


@dataclass(frozen=True)
class SyncCursor:
    lock_id: str
    log_epoch: int
    next_seq: int  # every record below it is stored, or counted lost
    lock_next_seq: int  # the lock's own next sequence number at the last sync
    lost_events: int  # records the lock no longer had when a sync reached them
    synced_at: int | None


@dataclass(frozen=True)
class StoredPage:
    stored: int  # new records
    duplicates: int  # records already stored (another client, an overlap, a repeated page)
    lost: int  # records the lock no longer had
    cursor: SyncCursor


@dataclass(frozen=True)
class Visit:
    """One visit at a customer: from the lock's log (source "lock") or registered by hand."""

    customer_number: str
    person: str
    in_at: int | None  # None: no unlock found before the lock
    out_at: int | None  # None: not locked after (yet), or a manual visit without an end
    source: str  # "lock" or "manual"
    lock_id: str | None = None
    key_id: int | None = None
    note: str | None = None
    visit_id: int | None = None  # manual visits

    @property
    def at(self) -> int:
        return self.in_at if self.in_at is not None else self.out_at or 0


class VisitMixin:
    """Event-log sync, visits and manual visits; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    # ---- sync ----------------------------------------------------------------------------

    def sync_cursor(self, lock_id: str) -> SyncCursor:
        """Where the next sync of the lock starts. Raises UnknownLockError."""
        with self._transaction() as session:
            _get_lock(session, lock_id)
            return _cursor(lock_id, session.get(LockSync, lock_id))

    def store_log_page(self, lock_id: str, log_epoch: int, lock_next_seq: int,
                       records: Sequence, now: int | None = None) -> StoredPage:
        """Store one page of the lock's log (records of .seq, .time, .type, .fields, in order)
        and move the cursor past it, in one transaction.

        Args:
            log_epoch: the epoch of the cursor the page was read for.
            lock_next_seq: the lock's next sequence number, as the page's answer gave it.

        Raises:
            LogRestartedError: a record differs from the one stored under its number: the
                lock's log is a new one (restart_log()).
            SyncRaceError: the cursor's epoch moved on meanwhile (read the cursor again);
                StalePageError: the page is empty and behind the store (read the lock again).
            UnknownLockError: no such lock.
        """
        now = _now(now)
        with self._transaction() as session:
            _get_lock(session, lock_id)
            row = _sync_row(session, lock_id, now)
            if row.log_epoch != log_epoch:
                raise SyncRaceError(f"lock {lock_id}: its log epoch moved from {log_epoch} to "
                                    f"{row.log_epoch} during the sync")
            # The lock's answer is behind the store: an old page (another client synced past it
            # meanwhile), or a log that started again. Its records decide which, below.
            behind = lock_next_seq < row.next_seq
            stored = {r.seq: r for r in session.scalars(select(LockEvent).where(
                LockEvent.lock_id == lock_id, LockEvent.log_epoch == log_epoch,
                LockEvent.seq.in_([r.seq for r in records])))} if records else {}
            new, lost, expected = [], 0, row.next_seq
            for record in records:
                old = stored.get(record.seq)
                if old is not None:
                    if (old.at, old.type, list(old.fields)) != (record.time, record.type, list(record.fields)):
                        raise LogRestartedError(lock_id, record.seq)
                    continue
                if record.seq > expected:
                    lost += record.seq - expected  # gone from the lock before a sync reached them
                expected = max(expected, record.seq + 1)
                new.append(_event_row(lock_id, log_epoch, record, now))
            if behind and not records:
                raise StalePageError(f"lock {lock_id} answered with next number {lock_next_seq}, "
                                     f"behind the store's {row.next_seq}: read it again")
            if not records and lock_next_seq > expected:
                lost += lock_next_seq - expected  # the lock has none of them any more
                expected = lock_next_seq
            inserted = _insert_new(session, new)
            row.next_seq = max(row.next_seq, expected)
            row.lost_events += lost
            row.lock_next_seq, row.synced_at = max(row.lock_next_seq, lock_next_seq), now
            return StoredPage(inserted, len(records) - inserted, lost, _cursor(lock_id, row))

    def restart_log(self, lock_id: str, seen_epoch: int, now: int | None = None) -> SyncCursor:
        """Begin a new log epoch for a lock whose log started again, if seen_epoch is still the
        current one (a second client that saw the same restart begins no third epoch)."""
        now = _now(now)
        with self._transaction() as session:
            _get_lock(session, lock_id)
            row = session.get(LockSync, lock_id, with_for_update=True)
            if row is not None and row.log_epoch == seen_epoch:
                row.log_epoch, row.next_seq, row.lock_next_seq = seen_epoch + 1, FIRST_SEQ, 0
                row.synced_at = now
            return _cursor(lock_id, row)

    def lock_events(self, lock_id: str, start: int | None = None, end: int | None = None) -> list[LockEvent]:
        """The lock's synced events (lock time in [start, end)), in log order. Detached rows."""
        query = select(LockEvent).where(LockEvent.lock_id == lock_id)
        if start is not None:
            query = query.where(LockEvent.at >= start)
        if end is not None:
            query = query.where(LockEvent.at < end)
        with self._transaction() as session:
            _get_lock(session, lock_id)
            rows = list(session.scalars(query.order_by(LockEvent.log_epoch, LockEvent.seq)))
            session.expunge_all()
            return rows

    # ---- visits ----------------------------------------------------------------------------

    def register_manual_visit(self, customer_number: str, person: str, at: int, note: str,
                              out_at: int | None = None, now: int | None = None) -> Visit:
        """Register a visit by hand, as the routine asks when the lock failed.

        Raises:
            FleetError: no note (the routine asks for one saying why), a time in the future,
                an end before the start, or the customer had no lock at that time.
            UnknownCustomerError: no such customer.
        """
        if not isinstance(note, str) or not note.strip():
            raise FleetError("a manual visit needs a note saying why it was registered by hand "
                             "(the routine): give --note \"...\"")
        note = _check_text("note", note, NOTE_LENGTH)
        person = _check_text("person", person, PERSON_LENGTH)
        now = _now(now)
        _check_time("visit time", at)
        if at > now + FUTURE_SLACK_S:
            raise FleetError("a manual visit cannot be registered ahead of time: its time is in the future")
        if out_at is not None:
            _check_time("visit end", out_at)
            if out_at < at:
                raise FleetError("a visit cannot end before it begins")
            if out_at > now + FUTURE_SLACK_S:
                raise FleetError("a visit's end cannot be in the future")
        with self._transaction() as session:
            number = _get_customer(session, customer_number).customer_number
            had_lock = session.scalar(select(LockAssignment.assignment_id).where(
                LockAssignment.customer_number == number, LockAssignment.assigned_at <= at,
                or_(LockAssignment.ended_at.is_(None), LockAssignment.ended_at > at)).limit(1))
            if had_lock is None:
                raise FleetError(f"customer {number} had no lock at that time: a manual visit records "
                                 "a visit where the customer's lock failed")
            row = ManualVisit(customer_number=number, person=person, at=at, out_at=out_at, note=note,
                              registered_at=now)
            session.add(row)
            session.flush()
            return _manual(row)

    def visits(self, customer_number: str, start: int, end: int) -> list[Visit]:
        """The customer's visits beginning in [start, end): from the logs of the locks the
        customer had (only events from while each lock was theirs) and registered by hand,
        in time order. Raises UnknownCustomerError."""
        with self._transaction() as session:
            number = _get_customer(session, customer_number).customer_number
            visits = [_manual(row) for row in session.scalars(select(ManualVisit).where(
                ManualVisit.customer_number == number, ManualVisit.at >= start, ManualVisit.at < end))]
            periods = session.execute(select(LockAssignment.lock_id, LockAssignment.assigned_at,
                                             LockAssignment.ended_at).where(
                LockAssignment.customer_number == number, LockAssignment.assigned_at < end + MAX_VISIT_S,
                or_(LockAssignment.ended_at.is_(None), LockAssignment.ended_at > start - MAX_VISIT_S))).all()
            for lock_id, assigned_at, ended_at in periods:
                # A visit that began before start may end in it; one that began near end may end after.
                low, high = max(assigned_at, start - MAX_VISIT_S), end + MAX_VISIT_S
                if ended_at is not None:
                    high = min(high, ended_at)
                events = session.execute(
                    select(LockEvent.at, LockEvent.type, LockEvent.key_id, IssuedKeyRow.person)
                    .join(IssuedKeyRow, IssuedKeyRow.key_id == LockEvent.key_id)
                    .where(LockEvent.lock_id == lock_id, LockEvent.at >= low, LockEvent.at < high,
                           LockEvent.type.in_(_VISIT_EVENTS))
                    .order_by(LockEvent.log_epoch, LockEvent.seq)).all()
                visits += [v for v in pair_visits(number, lock_id, events) if start <= v.at < end]
            return sorted(visits, key=lambda v: (v.at, v.person))


def pair_visits(customer_number: str, lock_id: str, events: Iterable) -> list[Visit]:
    """Visits from one lock's unlock and lock events (at, type, key_id, person), in log order:
    per person, an unlock opens a visit and a lock closes it; an unlock within MERGE_GAP_S of
    that person's lock reopens it."""
    done: list[Visit] = []
    open_: dict[str, dict] = {}

    def close(person: str) -> None:
        v = open_.pop(person)
        done.append(Visit(customer_number, person, v["in"], v["out"], LOCK, lock_id, v["key"]))

    for at, kind, key_id, person in events:
        v = open_.get(person)
        if v is not None and (at < v["last"] or at - v["last"] > (MERGE_GAP_S if v["out"] is not None
                                                                  else MAX_VISIT_S)):
            close(person)  # ended long ago (or its "out" was never logged), or the clock went back
            v = None
        if kind == wire.EVENT_UNLOCKED:
            if v is None:
                open_[person] = {"in": at, "out": None, "key": key_id, "last": at}
            else:
                v["out"], v["last"] = None, at  # back in within the gap: the same visit
        elif v is None:  # a lock with no unlock before it
            open_[person] = {"in": None, "out": at, "key": key_id, "last": at}
        else:
            v["out"], v["last"] = at, at
    for person in list(open_):
        close(person)
    return done


def _event_row(lock_id: str, log_epoch: int, record, now: int) -> dict:
    fields = [int(f) for f in record.fields]
    key_id = fields[_KEY_FIELD] if record.type in _VISIT_EVENTS and len(fields) > _KEY_FIELD else None
    return {"lock_id": lock_id, "log_epoch": log_epoch, "seq": record.seq, "at": record.time,
            "type": record.type, "key_id": key_id or None, "fields": fields, "synced_at": now}


def _sync_row(session: Session, lock_id: str, now: int) -> LockSync:
    """The lock's cursor row, locked for this transaction; created at the first sync (by one
    client only, when two begin at once)."""
    fresh = {"lock_id": lock_id, "log_epoch": 0, "next_seq": FIRST_SEQ, "lock_next_seq": 0,
             "lost_events": 0, "synced_at": now}
    _insert_ignoring_conflicts(session, LockSync, [fresh])
    row = session.get(LockSync, lock_id, with_for_update=True, populate_existing=True)
    if row is None:  # a database without ON CONFLICT: the primary key turns away a second one
        row = LockSync(**fresh)
        session.add(row)
    return row


def _insert_ignoring_conflicts(session: Session, model, rows: list[dict]) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING where the dialect has it (SQLite, PostgreSQL): how many
    rows went in (None if the driver cannot tell). NotImplemented elsewhere."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return NotImplemented
    module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
    # Core, not the ORM's bulk insert: its result carries the driver's row count.
    result = session.connection().execute(module.insert(model).on_conflict_do_nothing(), rows)
    return None if result.rowcount is None or result.rowcount < 0 else result.rowcount


def _insert_new(session: Session, rows: list[dict]) -> int:
    """Insert event rows, skipping any another client stored meanwhile; how many went in.

    ON CONFLICT DO NOTHING where the dialect has it; elsewhere rows that exist are left out
    first (the primary key still guards)."""
    if not rows:
        return 0
    inserted = _insert_ignoring_conflicts(session, LockEvent, rows)
    if inserted is not NotImplemented:
        return len(rows) if inserted is None else inserted
    keys = [(r["lock_id"], r["log_epoch"], r["seq"]) for r in rows]
    present = set(session.execute(select(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq).where(
        tuple_(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq).in_(keys))).all())
    fresh = [r for r, k in zip(rows, keys) if k not in present]
    if fresh:
        session.execute(insert(LockEvent), fresh)
    return len(fresh)


def _cursor(lock_id: str, row: LockSync | None) -> SyncCursor:
    if row is None:
        return SyncCursor(lock_id, 0, FIRST_SEQ, 0, 0, None)
    return SyncCursor(lock_id, row.log_epoch, row.next_seq, row.lock_next_seq, row.lost_events, row.synced_at)


def _manual(row: ManualVisit) -> Visit:
    return Visit(row.customer_number, row.person, row.at, row.out_at, MANUAL, note=row.note,
                 visit_id=row.visit_id)


__all__ = ["LogRestartedError", "MANUAL", "LOCK", "StalePageError", "StoredPage", "SyncCursor", "SyncRaceError", "Visit",
           "VisitMixin", "pair_visits"]
