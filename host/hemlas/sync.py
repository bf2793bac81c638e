"""Syncing a lock's event log into the fleet store, from where the last sync stopped.

Each page the lock sends is stored with the cursor's move in one transaction
(FleetStore.store_log_page), so a sync cut off at any point -- a dropped link, a killed
process -- is resumed by the next connection with nothing lost and nothing doubled. The first
page re-reads the last record already stored: a lock whose log started again (its flash
erased) answers it differently, and its new log is kept under a new epoch instead of being
taken for records already seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fleet.visits import LogRestartedError, StalePageError, SyncRaceError

# A bound on pages per sync (each page moves the cursor or ends the sync, so it is never
# reached by a lock that behaves): a lock answering nonsense cannot keep a client forever.
_MAX_PAGES = 100_000
_MAX_RESTARTS = 3


@dataclass(frozen=True)
class SyncResult:
    lock_id: str
    stored: int  # events new to the store
    duplicates: int  # events it had already
    lost: int  # events the lock no longer had when this sync reached them
    log_epoch: int
    next_seq: int
    restarted: bool  # the lock's log had started again: a new epoch began


async def sync_log(lock, store) -> SyncResult:
    """Bring the store's copy of the lock's log up to date over an open LockClient.

    Raises:
        LockError: the connection failed; what was stored before it stays stored.
        FleetError: the store refused (UnknownLockError for a lock it does not know).
    """
    lock_id = lock.lock_id
    cursor = store.sync_cursor(lock_id)
    stored = duplicates = lost = 0
    restarted, restarts = False, 0
    fresh = False  # the page about to be read is asked for after the cursor was read
    # One record of overlap on the first page: it must match what the store has.
    from_seq = _overlap(cursor)
    for _ in range(_MAX_PAGES):
        lock_next_seq, page = await lock.read_log_page(from_seq)
        try:
            result = store.store_log_page(lock_id, cursor.log_epoch, lock_next_seq, page)
        except LogRestartedError:  # a record differs from the stored one: a new log
            result = None
        except SyncRaceError as race:
            if not (isinstance(race, StalePageError) and fresh):
                # Another client moved the cursor, or synced past this answer: read both again.
                cursor, fresh = store.sync_cursor(lock_id), True
                from_seq = _overlap(cursor)
                continue
            # Asked after the cursor was read, the lock still has fewer records than the store:
            # its numbers went back, so its log started again.
            result = None
        if result is None:
            restarts += 1
            if restarts > _MAX_RESTARTS:
                raise LogRestartedError(lock_id, from_seq)
            cursor, restarted, fresh = store.restart_log(lock_id, cursor.log_epoch), True, False
            from_seq = cursor.next_seq
            continue
        fresh = False
        stored += result.stored
        duplicates += result.duplicates
        lost += result.lost
        cursor = result.cursor
        if not page or cursor.next_seq >= lock_next_seq:
            break
        from_seq = cursor.next_seq
    return SyncResult(lock_id, stored, duplicates, lost, cursor.log_epoch, cursor.next_seq, restarted)


def _overlap(cursor) -> int:
    """Where to read from: the last record the store has (it must match), or the start."""
    return cursor.next_seq - 1 if cursor.next_seq > 1 else cursor.next_seq
