"""Visit registration: the event-log sync into the fleet store, visits, manual visits.

The sync is driven here by a log that pages as the firmware's EventLog.read() does (oldest
first, from its oldest record if asked for an older one, at most wire.MAX_LOG_RECORDS a page),
so a sync can be cut at every point it has, which is too many for a radio link. The same sync
over the virtual board's radio, cut by a power cut, is in test_visits_on_the_lock.py.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import delete, select

from hemlas.firmware import wire
from hemlas.fleet.models import LockEvent, LockSync
from hemlas.fleet.store import FleetError, FleetStore, UnknownCustomerError
from hemlas.fleet.visits import MANUAL, MAX_VISIT_S, MERGE_GAP_S, pair_visits
from hemlas.sync import sync_log
from log_helpers import PagedLog

T0 = 1_790_000_000  # 2026-09-21, a fixed clock for the store's rows


class CutStore:
    """The fleet store, failing at one chosen call of store_log_page: before its transaction,
    or inside it after the rows went in (the transaction then rolls back), as a killed
    process or a lost database connection would."""

    def __init__(self, store: FleetStore, fail_at: int, inside: bool):
        self._store, self._fail_at, self._inside, self.calls = store, fail_at, inside, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def store_log_page(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self._fail_at:
            if not self._inside:
                raise KeyboardInterrupt("killed before storing")
            with self._store._transaction() as session:  # the rows in, then the process dies
                from hemlas.fleet.visits import _event_row, _insert_new
                lock_id, epoch, _next, records = args
                _insert_new(session, [_event_row(lock_id, epoch, r, T0) for r in records])
                session.flush()
                raise KeyboardInterrupt("killed inside the transaction")
        return self._store.store_log_page(*args, **kwargs)


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as store:
        store.add_lock("HL-000001", "virtual", "1.0", os.urandom(32), now=T0)
        store.add_customer("1001", "Customer One", "Storgatan 1", now=T0)
        store.assign_lock("HL-000001", "1001", now=T0)
        yield store


def _stored(store, lock_id="HL-000001"):
    return [(e.log_epoch, e.seq, e.at, e.type, tuple(e.fields)) for e in store.lock_events(lock_id)]


def _expected(log: PagedLog, epoch=0):
    return [(epoch, r.seq, r.time, r.type, r.fields) for r in log.records]


def _busy_log(store, events=37) -> PagedLog:
    key = store.issue_key("HL-000001", "Anna", wire.ROLE_STAFF, T0, T0 + 86400, now=T0).record.key_id
    log = PagedLog("HL-000001")
    log.append(T0 + 1, wire.EVENT_BOOT, (1, 1, 1))
    for i in range(events - 1):
        kind = wire.EVENT_UNLOCKED if i % 2 == 0 else wire.EVENT_LOCKED
        log.append(T0 + 60 + 1800 * i, kind, (900, 3100, 1, key))
    return log


def test_a_sync_stores_every_event_once_and_the_next_only_what_is_new(store):
    log = _busy_log(store)
    first = asyncio.run(sync_log(log, store))
    assert (first.stored, first.lost) == (37, 0)
    assert _stored(store) == _expected(log)
    log.append(T0 + 90_000, wire.EVENT_BATTERY, (1, 3300, 3000))
    second = asyncio.run(sync_log(log, store))
    assert (second.stored, second.duplicates) == (1, 1)  # the one re-read to check it is the same log
    assert _stored(store) == _expected(log)
    assert store.sync_cursor("HL-000001").next_seq == log.next_seq


@pytest.mark.parametrize("inside", [False, True], ids=["before-storing", "inside-the-transaction"])
def test_a_sync_cut_at_every_point_then_resumed_loses_and_doubles_nothing(store, inside):
    log = _busy_log(store)
    pages = -(-len(log.records) // wire.MAX_LOG_RECORDS)
    cuts = 0
    for point in range(1, pages + 1):
        # The link lost before read number `point`; the process killed at store number `point`.
        for how in ("link", "store"):
            with store._transaction() as session:  # the store as it was before any sync
                session.execute(delete(LockEvent))
                session.execute(delete(LockSync))
            log.reads, log.cut_after_reads = 0, (point - 1 if how == "link" else None)
            cut = CutStore(store, point if how == "store" else 0, inside)
            with pytest.raises((ConnectionResetError, KeyboardInterrupt)):
                asyncio.run(sync_log(log, cut))
            cuts += 1
            partial = _stored(store)
            assert partial == _expected(log)[:len(partial)]  # a prefix: nothing out of order, no hole
            log.cut_after_reads = None
            resumed = asyncio.run(sync_log(log, store))
            assert _stored(store) == _expected(log), f"cut {how} at {point}"
            assert resumed.lost == 0 and resumed.stored == len(log.records) - len(partial)
    assert cuts == 2 * pages


def test_two_clients_syncing_the_same_lock_interleaved_double_nothing(store, store_url):
    log = _busy_log(store, events=60)

    async def both():
        with FleetStore(store_url) as other:
            return await asyncio.gather(sync_log(log, store), sync_log(log, other))

    a, b = asyncio.run(both())
    assert a.stored + b.stored == 60
    assert a.duplicates + b.duplicates >= 60 - 8  # they did overlap: one met the other's rows
    assert _stored(store) == _expected(log)


def test_two_clients_in_parallel_threads_double_nothing(store, store_url):
    """Real concurrency: two threads, two connections, each its own transactions."""
    import threading
    import traceback

    log = _busy_log(store, events=200)
    results, errors = [], []
    start = threading.Barrier(2)

    def client():
        try:
            with FleetStore(store_url) as mine:
                start.wait(30)
                results.append(asyncio.run(sync_log(log, mine)))
        except Exception:  # reported below, with the thread's traceback
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, "\n".join(errors)
    assert sum(r.stored for r in results) == 200 and all(r.lost == 0 for r in results)
    assert _stored(store) == _expected(log)


class AnswerThenWait:
    """A client whose answer from the lock arrives, and then waits (a slow phone) while
    `meanwhile` runs: the lock logs more, another client syncs. Then it stores its old answer."""

    def __init__(self, log: PagedLog, meanwhile):
        self.log, self.lock_id, self._meanwhile = log, log.lock_id, meanwhile

    async def read_log_page(self, from_seq: int):
        answer = await self.log.read_log_page(from_seq)
        if self._meanwhile:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()
        return answer


@pytest.mark.parametrize("first_page", ["overlap record", "empty"])
def test_an_old_answer_stored_after_another_clients_sync_changes_nothing(store, store_url, first_page):
    log = _busy_log(store, events=10)
    asyncio.run(sync_log(log, store))
    if first_page == "empty":  # the store has all but the last: the slow client's page is empty
        pass
    else:
        log.append(T0 + 80_000, wire.EVENT_SESSION, (1, 1))

    async def another_client_syncs_more():
        for i in range(2):
            log.append(T0 + 90_000 + i, wire.EVENT_SESSION, (1, 1))
        with FleetStore(store_url) as other:
            await sync_log(log, other)

    slow = asyncio.run(sync_log(AnswerThenWait(log, another_client_syncs_more), store))
    assert not slow.restarted and slow.log_epoch == 0  # not taken for a log that started again
    assert _stored(store) == _expected(log)  # every event once
    again = asyncio.run(sync_log(log, store))
    assert (again.stored, again.log_epoch) == (0, 0)


def test_events_gone_from_the_lock_before_a_sync_are_counted_lost(store):
    log = _busy_log(store, events=20)
    asyncio.run(sync_log(log, store))
    for i in range(30):
        log.append(T0 + 100_000 + i, wire.EVENT_SESSION, (1, 1))
    log.prune(12)  # the lock's bounded log dropped 18 before anyone synced them
    result = asyncio.run(sync_log(log, store))
    assert (result.stored, result.lost) == (12, 18)
    assert store.sync_cursor("HL-000001").lost_events == 18
    assert [row[1] for row in _stored(store)] == list(range(1, 21)) + list(range(39, 51))


def test_a_log_that_started_again_is_kept_under_a_new_epoch(store):
    log = _busy_log(store, events=10)
    asyncio.run(sync_log(log, store))
    log.erase()  # the unit was erased and re-flashed: its numbers start at 1 again
    for i in range(15):  # ...and it already logged more than the store had
        log.append(T0 + 200_000 + i, wire.EVENT_SESSION, (2, 1))
    result = asyncio.run(sync_log(log, store))
    assert result.restarted and result.log_epoch == 1 and result.stored == 15
    events = _stored(store)
    assert len(events) == 25 and [e[0] for e in events] == [0] * 10 + [1] * 15
    log.erase()
    log.append(T0 + 300_000, wire.EVENT_BOOT, (1, 1, 1))  # fewer records than before: also seen
    assert asyncio.run(sync_log(log, store)).log_epoch == 2


def test_visits_pair_unlocks_and_locks_per_person_and_merge_short_gaps():
    U, L = wire.EVENT_UNLOCKED, wire.EVENT_LOCKED
    events = [
        (1000, U, 7, "Anna"), (1500, U, 9, "Bo"),  # two carers at once
        (2800, L, 7, "Anna"),
        (2900, U, 7, "Anna"), (3000, L, 7, "Anna"),  # back within the gap: the same visit
        (3100, L, 9, "Bo"),
        (3000 + MERGE_GAP_S + 10, U, 7, "Anna"),  # a new visit
        (100_000, L, 7, "Anna"),  # far too late: that visit's "out" was never logged
    ]
    visits = pair_visits("1001", "HL-1", events)
    got = sorted(((v.person, v.in_at, v.out_at) for v in visits), key=lambda v: (v[0], v[1] or v[2]))
    assert got == [("Anna", 1000, 3000), ("Anna", 3000 + MERGE_GAP_S + 10, None), ("Anna", None, 100_000),
                   ("Bo", 1500, 3100)]
    assert 100_000 - (3000 + MERGE_GAP_S + 10) > MAX_VISIT_S
    # The lock's clock set back between two events: not one visit ending before it began.
    back = pair_visits("1001", "HL-1", [(5000, U, 7, "Anna"), (4000, L, 7, "Anna")])
    assert sorted((v.in_at or 0, v.out_at or 0) for v in back) == [(0, 4000), (5000, 0)]


def test_visits_come_from_the_synced_log_of_the_customers_own_period(store):
    key = store.issue_key("HL-000001", "Anna Andersson", wire.ROLE_STAFF, T0, T0 + 86400 * 30, now=T0)
    kid = key.record.key_id
    log = PagedLog("HL-000001")
    log.append(T0 + 3600, wire.EVENT_UNLOCKED, (900, 3100, 1, kid))
    log.append(T0 + 5400, wire.EVENT_LOCKED, (900, 3100, 1, kid))
    log.append(T0 + 7200, wire.EVENT_UNLOCKED, (900, 3100, 1, 0))  # the button: no key, no visit
    log.append(T0 + 86400 * 3, wire.EVENT_UNLOCKED, (900, 3100, 1, kid))  # after the lock left
    asyncio.run(sync_log(log, store))
    store.unassign_lock("HL-000001", now=T0 + 86400 * 2)
    visits = store.visits("1001", T0, T0 + 86400 * 10)
    assert [(v.person, v.in_at, v.out_at, v.source, v.key_id) for v in visits] == \
        [("Anna Andersson", T0 + 3600, T0 + 5400, "lock", kid)]
    assert store.visits("1001", T0 + 5400, T0 + 86400) == []  # listed by when they began


def test_manual_visits_need_a_note_and_are_marked(store):
    now = T0 + 86400
    for note in ("", "   ", None):
        with pytest.raises(FleetError, match="needs a note saying why"):
            store.register_manual_visit("1001", "Anna", T0 + 3600, note, now=now)  # type: ignore[arg-type]
    with pytest.raises(FleetError, match="in the future"):
        store.register_manual_visit("1001", "Anna", now + 3600, "lock dead", now=now)
    with pytest.raises(FleetError, match="end before it begins"):
        store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", out_at=T0, now=now)
    with pytest.raises(FleetError, match="had no lock at that time"):
        store.register_manual_visit("1001", "Anna", T0 - 3600, "lock dead", now=now)
    with pytest.raises(UnknownCustomerError):
        store.register_manual_visit("9999", "Anna", T0 + 3600, "lock dead", now=now)
    visit = store.register_manual_visit("1001", "Anna", T0 + 3600, " Lock did not answer; used the key ",
                                        out_at=T0 + 5000, now=now)
    assert visit.note == "Lock did not answer; used the key" and visit.source == MANUAL
    [listed] = store.visits("1001", T0, now)
    assert listed.source == MANUAL and listed.note == visit.note and listed.out_at == T0 + 5000


def _swap_log(store, person="Cecilia Tekniker"):
    """A guided battery swap with the door found unlocked: the registration, then five locks
    and five unlocks by the same key, seconds apart; the door left as found."""
    kid = store.issue_key("HL-000001", person, wire.ROLE_STAFF, T0, T0 + 86400, now=T0).record.key_id
    log = PagedLog("HL-000001")
    log.append(T0 + 3600, wire.EVENT_SESSION, (kid, wire.ROLE_STAFF))
    log.append(T0 + 3610, wire.EVENT_BATTERY_SWAP, (3620, 3480, 1800, kid))
    for n in range(10):
        log.append(T0 + 3630 + 20 * n, wire.EVENT_LOCKED if n % 2 == 0 else wire.EVENT_UNLOCKED,
                   (900, 3400, 1, kid))
    return log, kid


def test_a_battery_swap_is_one_visit_marked_as_a_swap(store):
    log, kid = _swap_log(store)
    asyncio.run(sync_log(log, store))
    swap_rows = [e for e in store.lock_events("HL-000001") if e.type == wire.EVENT_BATTERY_SWAP]
    assert [e.key_id for e in swap_rows] == [kid]  # the swap's key id, like a lock's or unlock's
    [visit] = store.visits("1001", T0, T0 + 86400)
    assert (visit.person, visit.at, visit.in_at, visit.battery_swap, visit.kind, visit.key_id) == \
        ("Cecilia Tekniker", T0 + 3610, None, True, "battery_swap", kid)
    assert visit.out_at == T0 + 3630 + 20 * 8  # the fifth lock


def test_a_swap_stored_before_its_key_had_a_column_is_read_from_its_fields(store):
    log, kid = _swap_log(store)
    asyncio.run(sync_log(log, store))
    with store._transaction() as session:  # as the rows were stored before issue 11
        for row in session.scalars(select(LockEvent).where(LockEvent.type == wire.EVENT_BATTERY_SWAP)):
            row.key_id = None
    [visit] = store.visits("1001", T0, T0 + 86400)
    assert visit.battery_swap and visit.at == T0 + 3610


def test_no_move_needed_events_give_the_visit_its_time_through_the_store(store):
    """The firmware logs a lock of a locked door (an unlock of an unlocked one) as usual, with
    travel_ms 0, loaded_mv 0, attempts 0 and the key: the carer's arrival or departure."""
    kid = store.issue_key("HL-000001", "Anna", wire.ROLE_STAFF, T0, T0 + 86400, now=T0).record.key_id
    log = PagedLog("HL-000001")
    log.append(T0 + 3600, wire.EVENT_LOCKED, (0, 0, 0, kid))  # the door was already locked
    log.append(T0 + 3900, wire.EVENT_UNLOCKED, (0, 0, 0, kid))  # and is left open for the nurse
    asyncio.run(sync_log(log, store))
    [visit] = store.visits("1001", T0, T0 + 86400)
    assert (visit.person, visit.at, visit.in_at, visit.out_at) == ("Anna", T0 + 3600, None, T0 + 3600)


def test_cli_lists_a_swap_visit_as_a_battery_swap(tmp_path, monkeypatch, capsys):
    import json

    from hemlas.cli import main

    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    with FleetStore(create=True) as s:
        s.add_lock("HL-000001", "virtual", "1.0", os.urandom(32), now=T0)
        s.add_customer("1001", "Customer One", "Storgatan 1", now=T0)
        s.assign_lock("HL-000001", "1001", now=T0)
        log, _ = _swap_log(s)
        asyncio.run(sync_log(log, s))
    window = ("--from", "2026-09-20T00:00", "--to", "2026-09-23T00:00")
    assert main(["visits", "1001", *window]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:4] == ["in", "out", "person", "kind"]
    assert "BATTERY SWAP" in lines[2] and "Cecilia Tekniker" in lines[2] and "first event" in lines[2]
    assert main(["visits", "1001", *window, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["kind"], row["battery_swap"], row["lock_id"], row["in"]) == ("battery_swap", True, "HL-000001", None)
    assert row["at"][-6] in "+-" and row["out"][-6] in "+-"
