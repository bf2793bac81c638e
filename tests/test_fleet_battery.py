"""The fleet store's customers, lock assignments, battery readings, swaps and battery report."""

import secrets

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from hemlas.fleet import (CustomerExistsError, FleetError, FleetStore, LockAssignedError,
                          LockRecord, SwapFinishedError, UnknownCustomerError, UnknownLockError,
                          UnknownSwapError)
from hemlas.fleet.store import MIGRATIONS_DIR
from hemlas.firmware import wire

OK, LOW, CRITICAL = wire.BATTERY_OK, wire.BATTERY_LOW, wire.BATTERY_CRITICAL
DAY = 86400
NOW = 1_800_000_000


@pytest.fixture
def store(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as s:
        yield s


def _lock(store, lock_id):
    return store.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32), now=10)


def _reading(store, lock_id, at, state=OK, loaded_mv=3000, **kw):
    return store.record_battery_reading(lock_id, at=at, idle_mv=loaded_mv + 200,
                                        loaded_mv=loaded_mv, state=state, **kw)


def _verified_swap(store, lock_id, at, person="Anna"):
    swap = store.begin_swap(lock_id, person, now=at)
    store.mark_swap_registered(swap.swap_id, 3100, now=at + 10)
    for i in range(2 * 5):
        store.add_swap_cycle(swap.swap_id, i, ("lock", "unlock")[i % 2], wire.STATUS_OK,
                             wire.LOCK_LOCKED, 800, 2900, at=at + 20 + i)
    return store.finish_swap(swap.swap_id, "passed", now=at + 60)


# ---- Migrations ------------------------------------------------------------------------------

def test_upgrading_a_0001_store_keeps_its_locks_and_keys(tmp_path):
    db = tmp_path / "old.sqlite3"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(config, "0001")
    secret = secrets.token_bytes(32)
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # what a hemlas of revision 0001 would have written
        conn.execute(text("INSERT INTO locks VALUES ('HL-1', 'virtual', '1.0', :s, 10)"),
                     {"s": secret})
        conn.execute(text("INSERT INTO issued_keys (lock_id, person, role, not_before, "
                          "not_after, issued_at, superseded) VALUES ('HL-1', 'Anna', 1, 100, "
                          "200, 50, 0)"))
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    with FleetStore(str(db)) as s:  # upgrades to head
        assert s.locks() == [LockRecord("HL-1", "virtual", "1.0", 10, None)]
        assert s.lock_secret("HL-1") == secret
        [key] = s.keys()
        assert (key.lock_id, key.person, key.not_after) == ("HL-1", "Anna", 200)
        s.add_customer("0042", "Karin")
        s.assign_lock("HL-1", "0042")
        _reading(s, "HL-1", NOW)
        assert s.lock("HL-1").customer_number == "0042"
    with engine.begin() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() != "0001"
    engine.dispose()
    command.downgrade(config, "0001")  # and back: the older tables keep their rows
    with create_engine(f"sqlite:///{db}").connect() as conn:
        assert conn.execute(text("SELECT lock_id FROM locks")).scalars().all() == ["HL-1"]
        assert conn.execute(text("SELECT count(*) FROM issued_keys")).scalar() == 1


# ---- Customers and lock assignment -----------------------------------------------------------

def test_customers_add_list_duplicate_unknown(store):
    a = store.add_customer(" 0042 ", " Karin Berg ", "Storgatan 1", now=5)
    assert (a.customer_number, a.name, a.address, a.created_at) == ("0042", "Karin Berg",
                                                                   "Storgatan 1", 5)
    b = store.add_customer("17", "Olle", now=6)
    assert b.address is None
    assert store.customers() == [a, b]  # by number, as text: "0042" < "17"
    assert store.customer("0042") == a
    with pytest.raises(CustomerExistsError, match="0042 already exists"):
        store.add_customer("0042", "Someone else")
    with pytest.raises(UnknownCustomerError, match="customer 99 is not in the fleet store") as e:
        store.customer("99")
    assert e.value.customer_number == "99"
    assert store.customer("0042").name == "Karin Berg"  # the duplicate changed nothing


@pytest.mark.parametrize("number, name, match", [
    ("", "Karin", "customer number"), ("   ", "Karin", "customer number"),
    ("1" * 33, "Karin", "longer than 32"), ("12a4", "Karin", "digits only"),
    ("19-4", "Karin", "digits only"), ("42", "", "name"),
])
def test_customer_fields_are_checked(store, number, name, match):
    with pytest.raises(FleetError, match=match):
        store.add_customer(number, name)
    assert store.customers() == []


def test_a_lock_has_at_most_one_customer(store):
    for lock_id in ("HL-1", "HL-2", "HL-3"):
        _lock(store, lock_id)
    store.add_customer("100", "Karin")
    store.add_customer("200", "Olle")
    assert store.lock("HL-1").customer_number is None
    assert store.assign_lock("HL-1", "100", now=20).customer_number == "100"
    store.assign_lock("HL-2", "100")
    assert store.assign_lock("HL-1", "100").customer_number == "100"  # again: harmless
    with pytest.raises(LockAssignedError, match="already assigned to customer 100") as e:
        store.assign_lock("HL-1", "200")
    assert (e.value.lock_id, e.value.customer_number) == ("HL-1", "100")
    assert [r.lock_id for r in store.customer_locks("100")] == ["HL-1", "HL-2"]
    assert store.customer_locks("200") == []
    assert [(r.lock_id, r.customer_number) for r in store.locks()] == [
        ("HL-1", "100"), ("HL-2", "100"), ("HL-3", None)]
    with pytest.raises(UnknownCustomerError):
        store.assign_lock("HL-3", "999")
    with pytest.raises(UnknownLockError):
        store.assign_lock("HL-9", "100")
    with pytest.raises(UnknownCustomerError):
        store.customer_locks("999")
    # Unassigned, the lock can go to another customer; re-provisioning keeps the customer.
    assert store.unassign_lock("HL-1").customer_number is None
    assert store.assign_lock("HL-1", "200").customer_number == "200"
    again = store.add_lock("HL-1", "virtual", "1.1", secrets.token_bytes(32), replace=True)
    assert again.customer_number == "200" == store.lock("HL-1").customer_number
    assert [r.lock_id for r in store.customer_locks("100")] == ["HL-2"]


def test_the_schema_itself_refuses_a_second_current_customer(store, tmp_path):
    _lock(store, "HL-1")
    store.add_customer("100", "Karin")
    store.add_customer("200", "Olle")
    store.assign_lock("HL-1", "100")
    engine = create_engine(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")
    with pytest.raises(Exception, match="UNIQUE"), engine.begin() as conn:
        conn.execute(text("INSERT INTO lock_assignments (lock_id, customer_number, assigned_at)"
                          " VALUES ('HL-1', '200', 1)"))
    engine.dispose()


# ---- Battery readings ------------------------------------------------------------------------

def test_readings_oldest_first_since_limit_and_last(store):
    _lock(store, "HL-1")
    _lock(store, "HL-2")
    assert store.last_battery_reading("HL-1") is None
    first = _reading(store, "HL-1", 100, percent=90, days_left=200, charge_used_mah=50)
    third = _reading(store, "HL-1", 300, state=LOW, loaded_mv=2500, source="status")
    second = _reading(store, "HL-1", 200)  # arrived late: sorted by time, not arrival
    _reading(store, "HL-2", 400)
    assert (first.percent, first.days_left, first.charge_used_mah, first.source) == (
        90, 200, 50, "battery")
    assert store.battery_readings("HL-1") == [first, second, third]
    assert store.battery_readings("HL-1", since=200) == [second, third]
    assert store.battery_readings("HL-1", limit=2) == [second, third]  # the newest two
    assert store.last_battery_reading("HL-1") == third
    with pytest.raises(UnknownLockError):
        store.battery_readings("HL-9")
    with pytest.raises(UnknownLockError):
        _reading(store, "HL-9", 100)


@pytest.mark.parametrize("field, value", [
    ("state", 3), ("state", -1), ("state", True), ("loaded_mv", -5), ("idle_mv", 70000),
    ("percent", 101), ("days_left", -1), ("source", ""), ("at", -1),
])
def test_reading_fields_are_checked(store, field, value):
    _lock(store, "HL-1")
    fields = dict(at=100, idle_mv=3200, loaded_mv=3000, state=OK)
    fields[field] = value
    with pytest.raises(FleetError, match=field if field != "state" else "battery state"):
        store.record_battery_reading("HL-1", **fields)
    assert store.battery_readings("HL-1") == []


# ---- Battery swaps ---------------------------------------------------------------------------

def test_a_swap_runs_confirmed_registered_verifying_done(store):
    _lock(store, "HL-1")
    store.add_customer("100", "Karin")
    store.assign_lock("HL-1", "100")
    swap = store.begin_swap("HL-1", "Anna", now=1000)
    assert (swap.status, swap.stage, swap.customer_number, swap.person) == (
        "pending", "confirmed", "100", "Anna")
    assert swap.registered_at is None and swap.cycles == ()
    with pytest.raises(FleetError, match="not registered yet"):
        store.add_swap_cycle(swap.swap_id, 0, "lock", wire.STATUS_OK, wire.LOCK_LOCKED, 800, 2900)
    registered = store.mark_swap_registered(swap.swap_id, 3100, now=1010)
    assert (registered.stage, registered.registered_at, registered.loaded_mv_at_registration) == (
        "registered", 1010, 3100)
    assert store.mark_swap_registered(swap.swap_id, 2000, now=1020) == registered  # first stays
    for i in range(10):
        store.add_swap_cycle(swap.swap_id, i, ("lock", "unlock")[i % 2], wire.STATUS_OK,
                             wire.LOCK_LOCKED, 800 + i, 2900, at=1030 + i)
    assert store.swap(swap.swap_id).stage == "verifying"
    done = store.finish_swap(swap.swap_id, "passed", now=1100)
    assert (done.status, done.stage, done.finished_at) == ("passed", "done", 1100)
    assert [c.cycle_index for c in done.cycles] == list(range(10))
    assert done.cycles[3].travel_ms == 803 and done.cycles[3].action == "unlock"
    assert store.swap(swap.swap_id) == done
    assert store.pending_swaps() == []
    assert store.last_swap("HL-1") == done


def test_a_broken_flow_resumes_its_swap_and_never_doubles_a_cycle(store):
    _lock(store, "HL-1")
    _lock(store, "HL-2")
    swap = store.begin_swap("HL-1", "Anna", now=1000)
    store.mark_swap_registered(swap.swap_id, 3100, now=1010)
    first = store.add_swap_cycle(swap.swap_id, 0, "lock", wire.STATUS_OK, wire.LOCK_LOCKED, 800,
                                 2900, at=1020)
    store.add_swap_cycle(swap.swap_id, 1, "unlock", wire.STATUS_OK, wire.LOCK_UNLOCKED, 810, 2900)
    # The app crashed; the flow starts again, maybe on another phone and by someone else.
    resumed = store.begin_swap("HL-1", "Bo", now=2000)
    assert resumed.swap_id == swap.swap_id and resumed.person == "Anna"
    assert resumed.stage == "verifying" and len(resumed.cycles) == 2
    again = store.add_swap_cycle(swap.swap_id, 0, "unlock", wire.STATUS_JAMMED, 0, 5, None)
    assert again == first  # the cycle already recorded, not overwritten
    assert len(store.swap(swap.swap_id).cycles) == 2
    other = store.begin_swap("HL-2", "Bo")
    assert other.swap_id != swap.swap_id
    assert [s.swap_id for s in store.pending_swaps()] == [swap.swap_id, other.swap_id]
    assert [s.swap_id for s in store.pending_swaps("HL-1")] == [swap.swap_id]


def test_the_schema_itself_allows_one_pending_swap_per_lock(store, tmp_path):
    _lock(store, "HL-1")
    store.begin_swap("HL-1", "Anna")
    engine = create_engine(f"sqlite:///{tmp_path / 'fleet.sqlite3'}")
    with pytest.raises(Exception, match="UNIQUE"), engine.begin() as conn:
        conn.execute(text("INSERT INTO battery_swaps (lock_id, person, started_at, status, stage)"
                          " VALUES ('HL-1', 'Bo', 1, 'pending', 'confirmed')"))
    engine.dispose()


def test_finishing_rules(store):
    _lock(store, "HL-1")
    swap = store.begin_swap("HL-1", "Anna", now=1000)
    with pytest.raises(FleetError, match="never registered"):
        store.finish_swap(swap.swap_id, "passed")
    with pytest.raises(FleetError, match="ends as one of"):
        store.finish_swap(swap.swap_id, "done")
    store.mark_swap_registered(swap.swap_id, None, now=1010)
    for i in range(9):  # one unlock short of the routine's five
        store.add_swap_cycle(swap.swap_id, i, ("lock", "unlock")[i % 2], wire.STATUS_OK, 1, 800,
                             None)
    store.add_swap_cycle(swap.swap_id, 9, "unlock", wire.STATUS_JAMMED, 3, 2000, None)
    with pytest.raises(FleetError, match="5 locks and 4 unlocks succeeded"):
        store.finish_swap(swap.swap_id, "passed")
    failed = store.finish_swap(swap.swap_id, "failed", reason="jammed on unlock", now=1100)
    assert (failed.status, failed.reason) == ("failed", "jammed on unlock")
    with pytest.raises(SwapFinishedError, match="already finished \\(failed\\)"):
        store.finish_swap(swap.swap_id, "abandoned")
    with pytest.raises(SwapFinishedError):
        store.mark_swap_registered(swap.swap_id, 3000)
    with pytest.raises(SwapFinishedError):
        store.add_swap_cycle(swap.swap_id, 10, "lock", wire.STATUS_OK, 1, 800, None)
    with pytest.raises(UnknownSwapError):
        store.swap(999)
    # A failed verification still swapped the battery: it is the lock's last swap.
    assert store.last_swap("HL-1").swap_id == swap.swap_id
    assert store.begin_swap("HL-1", "Anna").swap_id != swap.swap_id  # a new one after the end


def test_a_swap_refused_or_abandoned_before_registration_is_no_swap(store):
    _lock(store, "HL-1")
    assert store.last_swap("HL-1") is None
    done = _verified_swap(store, "HL-1", 1000)
    refused = store.begin_swap("HL-1", "Anna", now=5000)
    store.finish_swap(refused.swap_id, "refused", reason="CRITICAL: service desk", now=5001)
    abandoned = store.begin_swap("HL-1", "Anna", now=6000)
    store.finish_swap(abandoned.swap_id, "abandoned", now=6001)
    assert store.last_swap("HL-1") == done
    assert [s.status for s in store.swaps("HL-1")] == ["passed", "refused", "abandoned"]
    [stale] = store.battery_warnings(now=1100 + 8 * DAY)  # no reading since that swap
    assert stale.last_swap_at == done.registered_at == 1010


# ---- The battery report ----------------------------------------------------------------------

def test_battery_warnings_list_exactly_the_locks_needing_attention_most_urgent_first(store):
    for lock_id in ("OK-fresh", "OK-stale", "LOW-few", "LOW-many", "LOW-unknown", "CRIT-a",
                    "CRIT-b", "NEVER", "LOW-then-OK", "LOW-then-swapped", "OLD-swap"):
        _lock(store, lock_id)
    store.add_customer("100", "Karin")
    store.assign_lock("LOW-few", "100")
    _reading(store, "OK-fresh", NOW - DAY)
    _reading(store, "OK-stale", NOW - 10 * DAY)
    _reading(store, "LOW-few", NOW - 2 * DAY, LOW, 2500, percent=12, days_left=3)
    _reading(store, "LOW-many", NOW - 3 * DAY, LOW, 2550, days_left=9)
    _reading(store, "LOW-unknown", NOW - 20 * DAY, LOW, 2550)  # LOW outranks stale
    _reading(store, "CRIT-a", NOW - DAY, CRITICAL, 2000, days_left=0)
    _reading(store, "CRIT-b", NOW - 2 * DAY, CRITICAL, 2100, days_left=0)
    _reading(store, "LOW-then-OK", NOW - 5 * DAY, LOW, 2500)
    _reading(store, "LOW-then-OK", NOW - 4 * DAY, OK, 3000)
    _reading(store, "LOW-then-swapped", NOW - 5 * DAY, LOW, 2500)  # the old battery's
    _verified_swap(store, "LOW-then-swapped", NOW - 2 * DAY)
    _verified_swap(store, "OLD-swap", NOW - 30 * DAY)
    warnings = store.battery_warnings(now=NOW)
    assert [(w.lock_id, w.level) for w in warnings] == [
        ("CRIT-b", "CRITICAL"), ("CRIT-a", "CRITICAL"),  # same days left: the older first
        ("LOW-few", "LOW"), ("LOW-many", "LOW"), ("LOW-unknown", "LOW"),
        ("NEVER", "stale"), ("OLD-swap", "stale"), ("OK-stale", "stale")]
    by_id = {w.lock_id: w for w in warnings}
    few = by_id["LOW-few"]
    assert (few.customer_number, few.customer_name, few.state, few.loaded_mv, few.percent,
            few.days_left, few.reading_at) == ("100", "Karin", LOW, 2500, 12, 3, NOW - 2 * DAY)
    assert few.reason == "LOW: swap the battery"
    assert by_id["CRIT-a"].reason == "CRITICAL: fully discharged — do not swap; service desk"
    assert by_id["OK-stale"].reason == "stale: no reading for 10 days"
    assert by_id["NEVER"].reason == "stale: no battery reading yet"
    assert by_id["NEVER"].reading_at is None and by_id["NEVER"].customer_number is None
    assert by_id["OLD-swap"].last_swap_at is not None
    # A shorter staleness window brings in the locks read two to five days ago.
    assert {w.lock_id for w in store.battery_warnings(now=NOW, stale_after_s=DAY + 1)} == (
        set(by_id) | {"LOW-then-OK", "LOW-then-swapped"})


def test_no_warnings_when_every_battery_is_fine(store):
    assert store.battery_warnings() == []
    _lock(store, "HL-1")
    _reading(store, "HL-1", NOW)
    assert store.battery_warnings(now=NOW + 60) == []
