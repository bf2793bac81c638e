"""A lock's lifecycle: mount, move, key custody, dismantle; append-only records; every refusal."""

import asyncio
import csv
import json
import secrets

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from hemlas.cli import main
from hemlas.firmware import wire
from hemlas.fleet import (FleetError, FleetStore, LockAssignedError, UnknownCustomerError,
                          UnknownLockError)
from hemlas.fleet import lifecycle
from hemlas.fleet.lifecycle import (UNRECORDED_PERSON, KeyCustodyError, LifecycleError,
                                    LockNotMountedError, RevocationsPendingError)
from hemlas.fleet.models import Base
from hemlas.fleet.store import MIGRATIONS_DIR
from hemlas.sync import sync_log
from log_helpers import PagedLog

DAY = 86400
T0 = 1_700_000_000  # 2023-11-14
STAFF = wire.ROLE_STAFF


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        for lock_id in ("HL-1", "HL-2"):
            s.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32), now=T0)
        s.add_customer("1001", "Karin", "Storgatan 1", now=T0, provider="Omsorg AB")
        s.add_customer("1002", "Olle", "Vägen 3", now=T0, provider="Hemtjänst Syd")
        yield s


def _placements(store):
    """lock_assignments as the database has it (read past the store's API)."""
    engine = create_engine(store.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT lock_id, customer_number, assigned_at, ended_at "
                                 "FROM lock_assignments ORDER BY assignment_id")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_a_locks_life_mount_move_key_out_dismantle_key_return_and_a_new_customer(store):
    mount = store.mount_lock("HL-1", "1001", None, "Fitter Anna", T0 + DAY, note="order 17")
    assert (mount.action, mount.customer_number, mount.address, mount.person, mount.at,
            mount.provider, mount.note) == ("mount", "1001", "Storgatan 1", "Fitter Anna",
                                            T0 + DAY, "Omsorg AB", "order 17")
    assert store.lock("HL-1").customer_number == "1001"
    assert [r.lock_id for r in store.customer_locks("1001")] == ["HL-1"]
    moved = store.move_lock("HL-1", "Nygatan 2", "Fitter Anna", T0 + 5 * DAY)
    assert (moved.action, moved.customer_number, moved.address) == ("move", "1001", "Nygatan 2")
    assert moved.assignment_id == mount.assignment_id  # the same placement: the lock went along
    assert store.customer("1001").address == "Nygatan 2"
    out = store.sign_out_key("HL-1", "Fitter Bo", T0 + 30 * DAY, note="from Eva, Omsorg AB")
    assert (out.action, out.person, out.address) == ("key_signed_out", "Fitter Bo", "Nygatan 2")
    assert store.lock("HL-1").customer_number == "1001"  # still mounted until dismantled
    gone = store.dismantle_lock("HL-1", "Fitter Bo", T0 + 30 * DAY + 3600)
    assert gone.record.action == "dismantle" and store.lock("HL-1").customer_number is None
    assert store.customer_locks("1001") == []
    back = store.return_key("HL-1", "Fitter Bo", T0 + 30 * DAY + 7200)
    assert (back.action, back.customer_number) == ("key_returned", "1001")
    # Free stock: mounted for a new customer, at the new customer's address.
    again = store.mount_lock("HL-1", "1002", "Vägen 5", "Fitter Anna", T0 + 40 * DAY)
    assert (again.customer_number, again.address, again.provider) == ("1002", "Vägen 5",
                                                                      "Hemtjänst Syd")
    assert store.customer("1002").address == "Vägen 5"
    history = store.lock_history("HL-1")
    assert [(r.action, r.customer_number, r.person) for r in history] == [
        ("mount", "1001", "Fitter Anna"), ("move", "1001", "Fitter Anna"),
        ("key_signed_out", "1001", "Fitter Bo"), ("dismantle", "1001", "Fitter Bo"),
        ("key_returned", "1001", "Fitter Bo"), ("mount", "1002", "Fitter Anna")]
    assert history[0] == mount and history[-1] == again
    assert all(r.recorded_at >= T0 for r in history)
    # lock_assignments, which battery and visit code read, says the same.
    assert _placements(store) == [("HL-1", "1001", T0 + DAY, T0 + 30 * DAY + 3600),
                               ("HL-1", "1002", T0 + 40 * DAY, None)]
    assert store.lock_history("HL-2") == []


def test_records_are_append_only(store):
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY)
    first = store.lock_history("HL-1")
    store.set_customer_provider("1001", "Another AB")  # the customer's present changes...
    store.move_lock("HL-1", "Nygatan 2", "Fitter", T0 + 2 * DAY)
    store.sign_out_key("HL-1", "Fitter", T0 + 3 * DAY)
    store.dismantle_lock("HL-1", "Fitter", T0 + 4 * DAY)
    later = store.lock_history("HL-1")
    assert later[:1] == first  # ...and no record already written changes
    assert first[0].provider == "Omsorg AB" and later[1].provider == "Another AB"
    assert [r.record_id for r in later] == sorted(r.record_id for r in later)


def test_dismantling_revokes_the_locks_keys_and_keeps_its_events_with_the_old_customer(store):
    now = T0 + 100 * DAY
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY, now=now)
    anna = store.issue_key("HL-1", "Anna", STAFF, T0, T0 + 300 * DAY, now=T0 + DAY).record
    expired = store.issue_key("HL-1", "Eva", STAFF, T0, T0 + 2 * DAY, now=T0 + DAY).record
    revoked = store.revoke_key(store.issue_key("HL-1", "Per", STAFF, T0, T0 + 300 * DAY,
                                               now=T0 + DAY).record.key_id, now=T0 + 2 * DAY)
    other = store.issue_key("HL-2", "Anna", STAFF, T0, T0 + 300 * DAY, now=T0 + DAY).record
    # The host's own short-lived admin key (to push revocations, set the clock), and an admin
    # key issued to a person.
    host = store.admin_key("HL-1", now=now).record
    admin = store.issue_key("HL-1", "Tekniker Bo", wire.ROLE_ADMIN, T0, T0 + 300 * DAY,
                            now=T0 + DAY).record
    log = PagedLog("HL-1")
    log.append(T0 + 3 * DAY, wire.EVENT_UNLOCKED, (900, 3100, 1, anna.key_id))
    log.append(T0 + 3 * DAY + 900, wire.EVENT_LOCKED, (900, 3100, 1, anna.key_id))
    store.sign_out_key("HL-1", "Fitter", T0 + 10 * DAY, now=now)
    gone = store.dismantle_lock("HL-1", "Fitter", T0 + 10 * DAY, now=now)
    # Every key that could still open the lock, and only those, as of the dismantling; pushed
    # at the next admin connection like any revocation.
    assert gone.revoked_key_ids == (anna.key_id, admin.key_id)
    assert store.key(anna.key_id).revoked_at == T0 + 10 * DAY
    assert store.key(admin.key_id).revoked_at == T0 + 10 * DAY
    # Not the host's own admin key: it expires in minutes, and the lock's revocation list is
    # bounded.
    assert store.key(host.key_id).revoked_at is None
    assert store.key(expired.key_id).revoked_at is None  # the lock refuses it anyway
    assert store.key(revoked.key_id).revoked_at == T0 + 2 * DAY  # the first revocation stays
    assert store.key(other.key_id).revoked_at is None  # another lock's key
    assert [k.key_id for k in store.pending_revocations("HL-1", now=now)] == [
        anna.key_id, revoked.key_id, admin.key_id]
    store.return_key("HL-1", "Fitter", T0 + 10 * DAY, now=now)
    for key in store.pending_revocations("HL-1", now=now):  # hemlas keys push HL-1
        store.mark_revocation_pushed(key.key_id, now=T0 + 11 * DAY)
    store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 20 * DAY, now=now)
    olle = store.issue_key("HL-1", "Olle's carer", STAFF, T0 + 20 * DAY, T0 + 300 * DAY,
                           now=T0 + 20 * DAY).record
    log.append(T0 + 21 * DAY, wire.EVENT_UNLOCKED, (900, 3100, 1, olle.key_id))
    log.append(T0 + 21 * DAY + 600, wire.EVENT_LOCKED, (900, 3100, 1, olle.key_id))
    asyncio.run(sync_log(log, store))
    # The lock's events before the dismantling are the old customer's visits, after the new
    # mount the new customer's.
    old = store.visits("1001", T0, T0 + 50 * DAY)
    new = store.visits("1002", T0, T0 + 50 * DAY)
    assert [(v.person, v.in_at) for v in old] == [("Anna", T0 + 3 * DAY)]
    assert [(v.person, v.in_at) for v in new] == [("Olle's carer", T0 + 21 * DAY)]


def test_a_dismantled_lock_is_mounted_again_only_once_its_revocations_are_on_it(store):
    """Until the lock has been told, the old customer's carers' keys open the new customer's
    door: the mount waits for `hemlas keys push` (or a re-provisioning, which kills every key)."""
    now = T0 + 100 * DAY
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY, now=now)
    anna = store.issue_key("HL-1", "Anna", STAFF, T0, T0 + 300 * DAY, now=T0 + DAY).record
    short = store.issue_key("HL-1", "Eva", STAFF, T0, T0 + 15 * DAY, now=T0 + DAY).record
    store.sign_out_key("HL-1", "Fitter", T0 + 10 * DAY, now=now)
    gone = store.dismantle_lock("HL-1", "Fitter", T0 + 10 * DAY, now=T0 + 12 * DAY)
    assert gone.revoked_key_ids == (anna.key_id, short.key_id)
    store.return_key("HL-1", "Fitter", T0 + 10 * DAY, now=now)
    with pytest.raises(RevocationsPendingError) as refused:
        store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 20 * DAY, now=now)
    message = str(refused.value)
    # Eva's key expired before the mount: the lock refuses it anyway, so it does not hold it up.
    assert message.startswith(f"lock HL-1 has not yet been told of 1 revoked key(s) "
                              f"({anna.key_id}): ")
    assert "hemlas keys push HL-1" in message and "hemlas flash" in message
    assert "--reprovision" in message
    assert (refused.value.lock_id, refused.value.key_ids) == ("HL-1", (anna.key_id,))
    assert isinstance(refused.value, LifecycleError)
    with pytest.raises(RevocationsPendingError,
                       match=f"2 revoked key\\(s\\) \\({anna.key_id}, {short.key_id}\\)"):
        store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 12 * DAY, now=now)  # Eva's too
    assert store.lock("HL-1").customer_number is None
    assert [r.action for r in store.lock_history("HL-1")][-1] == "key_returned"
    store.mark_revocation_pushed(anna.key_id, now=T0 + 11 * DAY)  # what `keys push` records
    assert store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 20 * DAY,
                            now=now).customer_number == "1002"
    # Re-provisioning kills every old key too (superseded: nothing left to push).
    store.mount_lock("HL-2", "1001", None, "Fitter", T0 + DAY, now=now)
    per = store.issue_key("HL-2", "Per", STAFF, T0, T0 + 300 * DAY, now=T0 + DAY).record
    store.sign_out_key("HL-2", "Fitter", T0 + 10 * DAY, now=now)
    store.dismantle_lock("HL-2", "Fitter", T0 + 10 * DAY, now=now)
    store.return_key("HL-2", "Fitter", T0 + 10 * DAY, now=now)
    with pytest.raises(RevocationsPendingError, match=f"\\({per.key_id}\\)"):
        store.mount_lock("HL-2", "1001", None, "Fitter", T0 + 20 * DAY, now=now)
    store.add_lock("HL-2", "virtual", "1.0", secrets.token_bytes(32), replace=True, now=now)
    store.mount_lock("HL-2", "1001", None, "Fitter", T0 + 20 * DAY, now=now)


# ---- Refusals --------------------------------------------------------------------------------

def test_mount_refusals(store):
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY)
    with pytest.raises(LockAssignedError) as refused:
        store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 2 * DAY)
    assert str(refused.value) == (
        "lock HL-1 is already assigned to customer 1001 (mounted at Storgatan 1): a lock is "
        "with one customer at a time; dismantle it there first: hemlas locks key-out HL-1 --by "
        "FITTER, then hemlas locks dismantle HL-1 --by FITTER")
    with pytest.raises(LifecycleError, match="already mounted at customer 1001 .Storgatan 1.: "
                                             "when the customer moves, the lock goes along: "
                                             "hemlas locks move HL-1"):
        store.mount_lock("HL-1", "1001", "Nygatan 2", "Fitter", T0 + 2 * DAY)
    store.sign_out_key("HL-1", "Fitter", T0 + 3 * DAY)
    store.dismantle_lock("HL-1", "Fitter", T0 + 3 * DAY)
    with pytest.raises(KeyCustodyError) as unreturned:
        store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 4 * DAY)
    assert "customer 1001's key from dismantling lock HL-1 (signed out by Fitter at" in str(
        unreturned.value)
    assert str(unreturned.value).endswith("record it first: hemlas locks key-return HL-1 --by "
                                          "Fitter")
    store.add_customer("1003", "Nils", now=T0)  # no address, no provider
    with pytest.raises(FleetError, match="customer 1003 has no address on record: say where "
                                         "the lock is mounted with --address"):
        store.mount_lock("HL-2", "1003", None, "Fitter", T0 + 4 * DAY)
    with pytest.raises(FleetError, match="customer 1003 has no provider: a mount is paid to the "
                                         "provider .*hemlas customers set-provider 1003 "
                                         "PROVIDER"):
        store.mount_lock("HL-2", "1003", "Ängen 1", "Fitter", T0 + 4 * DAY)
    with pytest.raises(UnknownCustomerError):
        store.mount_lock("HL-2", "9999", "Ängen 1", "Fitter", T0 + 4 * DAY)
    with pytest.raises(UnknownLockError):
        store.mount_lock("HL-9", "1002", None, "Fitter", T0 + 4 * DAY)
    assert store.lock("HL-2").customer_number is None and store.lock_history("HL-2") == []
    assert store.customer("1003").address is None  # a refused mount changes nothing


def test_move_refusals(store):
    with pytest.raises(LockNotMountedError) as refused:
        store.move_lock("HL-1", "Nygatan 2", "Fitter", T0 + DAY)
    assert str(refused.value) == ("lock HL-1 is not mounted at any customer: only a mounted lock "
                                  "can be moved; mount it first: hemlas locks mount HL-1 "
                                  "CUSTOMER --by PERSON")
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY)
    with pytest.raises(FleetError, match="lock HL-1 is already at Storgatan 1: a move needs the "
                                         "new address"):
        store.move_lock("HL-1", "Storgatan 1", "Fitter", T0 + 2 * DAY)
    store.sign_out_key("HL-1", "Fitter Bo", T0 + 3 * DAY)
    with pytest.raises(KeyCustodyError, match="lock HL-1 is being dismantled .the key was signed "
                                              "out by Fitter Bo .*hemlas locks dismantle HL-1 "
                                              "--by Fitter Bo"):
        store.move_lock("HL-1", "Nygatan 2", "Fitter", T0 + 4 * DAY)
    assert store.customer("1001").address == "Storgatan 1"


def test_key_and_dismantle_refusals(store):
    with pytest.raises(LockNotMountedError, match="only a mounted lock can be dismantled"):
        store.sign_out_key("HL-1", "Fitter", T0 + DAY)
    with pytest.raises(LockNotMountedError, match="only a mounted lock can be dismantled"):
        store.dismantle_lock("HL-1", "Fitter", T0 + DAY)
    with pytest.raises(KeyCustodyError, match="no key is signed out for lock HL-1: nothing to "
                                              "return"):
        store.return_key("HL-1", "Fitter", T0 + DAY)
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY)
    with pytest.raises(KeyCustodyError) as refused:
        store.dismantle_lock("HL-1", "Fitter", T0 + 2 * DAY)
    assert str(refused.value) == ("lock HL-1 cannot be dismantled yet: the lock fitter first "
                                  "signs customer 1001's key out from the provider: hemlas locks "
                                  "key-out HL-1 --by FITTER")
    with pytest.raises(KeyCustodyError, match="no key is signed out"):
        store.return_key("HL-1", "Fitter", T0 + 2 * DAY)
    store.sign_out_key("HL-1", "Fitter Bo", T0 + 2 * DAY)
    with pytest.raises(KeyCustodyError, match="customer 1001's key for lock HL-1 is already "
                                              "signed out .by Fitter Bo"):
        store.sign_out_key("HL-1", "Fitter", T0 + 3 * DAY)
    with pytest.raises(KeyCustodyError, match="lock HL-1 is not dismantled yet: the key goes "
                                              "back after dismantling: hemlas locks dismantle "
                                              "HL-1 --by Fitter Bo"):
        store.return_key("HL-1", "Fitter Bo", T0 + 3 * DAY)
    store.dismantle_lock("HL-1", "Fitter Bo", T0 + 3 * DAY)
    with pytest.raises(LockNotMountedError):
        store.dismantle_lock("HL-1", "Fitter Bo", T0 + 3 * DAY)
    store.return_key("HL-1", "Fitter Bo", T0 + 4 * DAY)
    with pytest.raises(KeyCustodyError, match=r"no key is signed out for lock HL-1 \(returned by "
                                               r"Fitter Bo at .*\): nothing to return"):
        store.return_key("HL-1", "Fitter Bo", T0 + 5 * DAY)
    assert [r.action for r in store.lock_history("HL-1")] == [
        "mount", "key_signed_out", "dismantle", "key_returned"]


def test_times_follow_each_other_and_none_is_in_the_future(store):
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 10 * DAY)
    with pytest.raises(LifecycleError, match="the move at .* would come before lock HL-1's last "
                                             "record .*: a lock's records follow each other in "
                                             "time; give a time at or after that"):
        store.move_lock("HL-1", "Nygatan 2", "Fitter", T0 + 9 * DAY)
    store.move_lock("HL-1", "Nygatan 2", "Fitter", T0 + 10 * DAY)  # the same moment is fine
    with pytest.raises(FleetError, match="is in the future: a record says what has happened"):
        store.sign_out_key("HL-1", "Fitter", T0 + 11 * DAY, now=T0 + 10 * DAY)
    with pytest.raises(FleetError, match="is in the future"):
        store.mount_lock("HL-2", "1002", None, "Fitter", T0 + 11 * DAY, now=T0 + 10 * DAY)
    with pytest.raises(FleetError, match="at must be a unix time"):
        store.mount_lock("HL-2", "1002", None, "Fitter", -1)
    for bad in ("", "  "):
        with pytest.raises(FleetError, match="person must not be empty"):
            store.mount_lock("HL-2", "1002", None, bad, T0)
    with pytest.raises(FleetError, match="note is longer than 1000"):
        store.mount_lock("HL-2", "1002", None, "Fitter", T0, note="x" * 1001)
    assert store.lock_history("HL-2") == []


def test_assign_and_unassign_are_the_lower_level_and_still_recorded(store):
    store.assign_lock("HL-1", "1001", now=T0 + DAY)
    assert store.assign_lock("HL-1", "1001", now=T0 + 2 * DAY).customer_number == "1001"  # again
    with pytest.raises(LockAssignedError):
        store.assign_lock("HL-1", "1002", now=T0 + 2 * DAY)
    store.sign_out_key("HL-1", "Fitter", T0 + 3 * DAY)
    store.unassign_lock("HL-1", now=T0 + 4 * DAY, person="Technician")  # no dismantling
    assert store.unassign_lock("HL-1").customer_number is None  # again: harmless
    history = store.lock_history("HL-1")
    assert [(r.action, r.person, r.address) for r in history] == [
        ("mount", UNRECORDED_PERSON, "Storgatan 1"), ("key_signed_out", "Fitter", "Storgatan 1"),
        ("unassign", "Technician", "Storgatan 1")]
    # The key signed out is still the provider's: it comes back before the lock is reused.
    with pytest.raises(KeyCustodyError):
        store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 5 * DAY)
    store.return_key("HL-1", "Fitter", T0 + 5 * DAY)
    store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 6 * DAY)


def test_a_store_from_before_0004_gets_the_history_of_its_placements(tmp_path):
    db = tmp_path / "old.sqlite3"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(config, "0003")
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # what hemlas at 0003 wrote with `locks assign/unassign`
        for lock_id in ("HL-1", "HL-2"):
            conn.execute(text("INSERT INTO locks VALUES (:l, 'virtual', '1.0', :s, 10)"),
                         {"l": lock_id, "s": secrets.token_bytes(32)})
        conn.execute(text("INSERT INTO customers VALUES ('100', 'Karin', 'Storgatan 1', 5), "
                          "('200', 'Olle', NULL, 5)"))
        conn.execute(text("INSERT INTO lock_assignments (lock_id, customer_number, assigned_at, "
                          "ended_at) VALUES ('HL-1', '100', 20, 30), ('HL-2', '100', 25, NULL), "
                          "('HL-1', '200', 30, NULL)"))
    engine.dispose()
    with FleetStore(str(db)) as store:
        one = store.lock_history("HL-1")
        assert [(r.action, r.customer_number, r.at, r.address) for r in one] == [
            ("mount", "100", 20, "Storgatan 1"), ("unassign", "100", 30, None),
            ("mount", "200", 30, None)]
        assert {r.person for r in one} == {"(not recorded before schema 0004)"}
        assert [r.action for r in store.lock_history("HL-2")] == ["mount"]
        assert store.customer("100").provider is None
        # The rules apply from here on.
        with pytest.raises(KeyCustodyError):
            store.dismantle_lock("HL-1", "Fitter", T0)
        store.sign_out_key("HL-1", "Fitter", T0)
        assert store.dismantle_lock("HL-1", "Fitter", T0).record.customer_number == "200"
    command.downgrade(config, "0003")  # and the migration goes back cleanly
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM lock_assignments")).scalar() == 3
        with pytest.raises(Exception, match="no such table"):
            conn.execute(text("SELECT * FROM lock_lifecycle"))
    engine.dispose()


def test_a_racing_second_mount_is_refused_by_the_schema(store, monkeypatch):
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY)
    real = lifecycle._state

    def stale(session, lock_id):  # what a concurrent request read before the first committed
        return lifecycle._State(None, [], real(session, lock_id).last_at)

    monkeypatch.setattr(lifecycle, "_state", stale)
    with pytest.raises(LifecycleError, match="placed by another request at the same moment"):
        store.mount_lock("HL-1", "1002", None, "Fitter", T0 + 2 * DAY)
    monkeypatch.undo()
    assert [r.customer_number for r in store.lock_history("HL-1")] == ["1001"]


def test_the_0004_constraints_carry_the_models_names(store):
    """A later migration alters or drops a constraint by name: the name in the database must be
    the one the models give (the naming convention must not prefix it twice)."""
    engine = create_engine(store.url)
    found = {table: sorted(c["name"] for c in inspect(engine).get_check_constraints(table))
             for table in ("nfc_tags", "lock_lifecycle", "compensation_hours")}
    engine.dispose()
    assert found == {"nfc_tags": ["ck_nfc_tags_deactivated", "ck_nfc_tags_window"],
                     "lock_lifecycle": ["ck_lock_lifecycle_action"],
                     "compensation_hours": ["ck_compensation_hours_source"]}
    model = {c.name for t in ("nfc_tags", "lock_lifecycle", "compensation_hours")
             for c in Base.metadata.tables[t].constraints if c.name and c.name.startswith("ck_")}
    assert model == {name for names in found.values() for name in names}


def test_record_fields_are_trimmed(store):
    record = store.mount_lock("HL-1", "1001", " Ängsvägen 4 ", "  Fitter  ", T0, note="  ")
    assert (record.address, record.person, record.note) == ("Ängsvägen 4", "Fitter", None)
    assert store.lock_history("HL-1") == [record]


# ---- CLI -------------------------------------------------------------------------------------

def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_lifecycle_history_and_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    with FleetStore(create=True) as s:
        s.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
        key = s.issue_key("HL-1", "Anna", STAFF, T0, 2_000_000_000).record
    assert _run(capsys, "customers", "add", "1001", "--name", "Karin", "--address",
                "Storgatan 1")[0] == 0
    code, _, err = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter")
    assert code == 1 and "has no provider" in err
    code, out, _ = _run(capsys, "customers", "set-provider", "1001", "Omsorg AB")
    assert code == 0 and out.strip() == "customer 1001: provider Omsorg AB"
    code, out, _ = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter Anna", "--at",
                        "2026-01-05T09:00", "--note", "order 17")
    assert code == 0 and out.strip() == (
        "lock HL-1 mounted for customer 1001 (Karin) at Storgatan 1, 2026-01-05 09:00, by "
        "Fitter Anna; provider Omsorg AB may register one hour \"Uppstart smarta lås\"")
    code, out, _ = _run(capsys, "locks", "move", "HL-1", "--address", "Nygatan 2", "--by",
                        "Fitter Anna", "--at", "2026-02-01T10:00", "--json")
    assert code == 0 and json.loads(out)["address"] == "Nygatan 2"
    code, _, err = _run(capsys, "locks", "dismantle", "HL-1", "--by", "Fitter Bo")
    assert code == 1 and err.strip().endswith("hemlas locks key-out HL-1 --by FITTER")
    code, out, _ = _run(capsys, "locks", "key-out", "HL-1", "--by", "Fitter Bo")
    assert code == 0 and 'next: hemlas locks dismantle HL-1 --by "Fitter Bo"' in out
    code, out, _ = _run(capsys, "locks", "dismantle", "HL-1", "--by", "Fitter Bo", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["action"] == "dismantle" and answer["revoked_key_ids"] == [
        key.key_id]
    code, _, err = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter")
    assert code == 1 and "has not been returned" in err
    code, out, _ = _run(capsys, "locks", "key-return", "HL-1", "--by", "Fitter Bo")
    assert code == 0 and out.strip().endswith(
        "lock HL-1 is free stock for a new customer once its 1 revoked key(s) are on the lock: "
        "hemlas keys push HL-1")
    code, _, err = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter")
    assert code == 1 and f"revoked key(s) ({key.key_id})" in err  # Anna's key still opens it
    assert "push the revocations first: hemlas keys push HL-1" in err
    table = tmp_path / "history.csv"
    code, out, _ = _run(capsys, "locks", "history", "HL-1", "--csv", str(table))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "history of lock HL-1: 5 record(s)"
    assert lines[1].split()[:3] == ["when", "action", "customer"]  # a header row
    assert [line.split()[2] for line in lines[2:7]] == [
        "mount", "move", "key_signed_out", "dismantle", "key_returned"]
    assert "2026-01-05 09:00" in lines[2] and "order 17" in lines[2]
    rows = list(csv.DictReader(table.open(encoding="utf-8-sig")))  # CSV starts with a BOM
    assert [(r["action"], r["person"], r["provider"]) for r in rows][:2] == [
        ("mount", "Fitter Anna", "Omsorg AB"), ("move", "Fitter Anna", "Omsorg AB")]
    code, out, _ = _run(capsys, "locks", "history", "HL-1", "--json")
    assert [r["action"] for r in json.loads(out)][-1] == "key_returned"
    code, _, err = _run(capsys, "locks", "move", "HL-1", "--address", "X", "--by", "Fitter")
    assert code == 1 and "is not mounted at any customer" in err
    code, _, err = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "F", "--at", "soon")
    assert code == 1 and "not a time" in err
    code, _, err = _run(capsys, "locks", "history", "HL-9")
    assert code == 1 and err.strip() == "hemlas: lock HL-9 is not in the fleet store"
    with pytest.raises(SystemExit):  # --by is required: every change says who
        main(["locks", "key-out", "HL-1"])
    with pytest.raises(SystemExit):  # the old commands are gone
        main(["locks", "assign", "HL-1", "1001"])


def test_cli_key_return_says_when_the_lock_awaits_its_revocations(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    with FleetStore(create=True) as s:
        s.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
        s.add_customer("1001", "Karin", "Storgatan 1", provider="Omsorg AB")
        s.mount_lock("HL-1", "1001", None, "Fitter", T0)
        key = s.issue_key("HL-1", "Anna", STAFF, T0, 2_000_000_000).record
    for step in ("key-out", "dismantle"):
        assert _run(capsys, "locks", step, "HL-1", "--by", "Fitter Bo")[0] == 0
    code, out, _ = _run(capsys, "locks", "key-return", "HL-1", "--by", "Fitter Bo")
    assert code == 0 and out.strip().endswith(
        "lock HL-1 is free stock for a new customer once its 1 revoked key(s) are on the lock: "
        "hemlas keys push HL-1")
    assert "push the revocations first" in _run(capsys, "locks", "mount", "HL-1", "1001",
                                                "--by", "Fitter")[2]
    with FleetStore() as s:
        s.mark_revocation_pushed(key.key_id)  # what hemlas keys push HL-1 records
    code, out, _ = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter", "--json")
    assert code == 0 and json.loads(out)["action"] == "mount"
    for step in ("key-out", "dismantle"):
        assert _run(capsys, "locks", step, "HL-1", "--by", "Fitter Bo")[0] == 0
    code, out, _ = _run(capsys, "locks", "key-return", "HL-1", "--by", "Fitter Bo")
    assert code == 0 and out.strip().endswith("lock HL-1 is free stock for a new customer")
