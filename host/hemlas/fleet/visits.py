"""The locks' event logs in the fleet store, and the visits read from them (part of FleetStore).

The lock's own log is the record of each visit (the routine's "registrering av tid"). Every
connection syncs it here, page by page, from where the last sync stopped
(:meth:`VisitMixin.store_log_page`). Each page is stored, and the sync cursor moved, in one
transaction, and a record's key is (lock, log epoch, sequence number): a sync cut off anywhere
loses nothing and a repeated page or a second client doubles nothing. docs/visits.md has the
rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import insert, or_, select, tuple_
from sqlalchemy.orm import Session

from ._common import FleetError, _get_lock, _now
from .customers import _get_customer
from .manual_visits import FUTURE_SLACK_S, ManualVisitMixin, UnknownVisitError
from .models import IssuedKeyRow, LockAssignment, LockEvent, LockSync
from .visit_pairing import (LOCK, MANUAL, MAX_VISIT_S, MERGE_GAP_S, MOVE_EVENTS, SWAP_EVENTS, Visit,
                            event_key_id, pair_visits)

FIRST_SEQ = 1  # a lock's log numbers its first record 1


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


class VisitMixin(ManualVisitMixin):
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

    def visits(self, customer_number: str, start: int, end: int, *,
               include_all: bool = False) -> list[Visit]:
        """The customer's visits beginning in [start, end), in time order: from the logs of
        the locks the customer had (only events from while each lock was theirs) and
        registered by hand (the current version of each; with include_all also those
        withdrawn or corrected, marked). Raises UnknownCustomerError.

        A visit begins at its first event, and its events follow from the whole of the
        lock's log of the customer's period (docs/visits.md): whatever the lock's clock did,
        the listing is the same as the pairing of every event at once."""
        with self._transaction() as session:
            number = _get_customer(session, customer_number).customer_number
            visits = self._manual_visits(session, number, start, end, include_all)
            periods = session.execute(select(LockAssignment.lock_id, LockAssignment.assigned_at,
                                             LockAssignment.ended_at).where(
                LockAssignment.customer_number == number, LockAssignment.assigned_at < end,
                or_(LockAssignment.ended_at.is_(None), LockAssignment.ended_at > start))).all()
            for lock_id, assigned_at, ended_at in periods:
                events = _period_events(session, lock_id, assigned_at, ended_at)
                visits += [v for v in pair_visits(number, lock_id, events) if start <= v.at < end]
            return sorted(visits, key=lambda v: (v.at, v.person, v.visit_id or 0))


def _period_events(session: Session, lock_id: str, low: int, high: int | None) -> list[tuple]:
    """The lock's staff events in [low, high) (at, type, key_id, person), in log order. A
    swap stored before its key id was kept in its own column has it in its fields."""
    query = (select(LockEvent.at, LockEvent.type, LockEvent.key_id, LockEvent.fields)
             .where(LockEvent.lock_id == lock_id, LockEvent.at >= low,
                    or_(LockEvent.type.in_(SWAP_EVENTS),
                        LockEvent.type.in_(MOVE_EVENTS) & LockEvent.key_id.is_not(None))))
    if high is not None:
        query = query.where(LockEvent.at < high)
    rows = session.execute(query.order_by(LockEvent.log_epoch, LockEvent.seq)).all()
    events = [(at, kind, key_id or event_key_id(kind, fields)) for at, kind, key_id, fields in rows]
    keys = {key_id for _, _, key_id in events if key_id}
    people = dict(session.execute(select(IssuedKeyRow.key_id, IssuedKeyRow.person)
                                  .where(IssuedKeyRow.key_id.in_(keys))).all()) if keys else {}
    # A key this store did not issue is still someone's visit: named by its number.
    return [(at, kind, key_id, people.get(key_id, f"key #{key_id} (not in this store)"))
            for at, kind, key_id in events if key_id]


def _event_row(lock_id: str, log_epoch: int, record, now: int) -> dict:
    fields = [int(f) for f in record.fields]
    return {"lock_id": lock_id, "log_epoch": log_epoch, "seq": record.seq, "at": record.time,
            "type": record.type, "key_id": event_key_id(record.type, fields), "fields": fields,
            "synced_at": now}


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


__all__ = ["FUTURE_SLACK_S", "LOCK", "MANUAL", "MAX_VISIT_S", "MERGE_GAP_S", "LogRestartedError",
           "StalePageError", "StoredPage", "SyncCursor", "SyncRaceError", "UnknownVisitError",
           "Visit", "VisitMixin", "pair_visits"]
