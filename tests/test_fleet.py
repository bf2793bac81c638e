"""The fleet store and the field client's key file, on real files under tmp_path."""

import json
import logging
import os
import secrets
import sys
from dataclasses import fields

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from hemlas import keyfile
from hemlas.errors import HemlasError
from hemlas.fleet import (FleetError, FleetStore, IssuedKey, LockExistsError, LockRecord,
                          UnknownKeyError, UnknownLockError, default_url)
from hemlas.fleet.models import Base
from hemlas.fleet.store import MIGRATIONS_DIR
from hemlas.firmware import wire
from hemlas.keyfile import KeyFile, KeyFileError, StaffKey

STAFF, TECH, ADMIN = wire.ROLE_STAFF, wire.ROLE_TECHNICIAN, wire.ROLE_ADMIN
posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@pytest.fixture
def umask0():
    """A umask that takes nothing away: a file not created 0600 on purpose then shows it."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "data" / "fleet.sqlite3"


@pytest.fixture
def store(db):
    with FleetStore(str(db)) as s:
        yield s


def _mode(path):
    return path.stat().st_mode & 0o777


def _alembic_config():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# ---- Opening and migrating -------------------------------------------------------------------

@posix_only
def test_store_file_is_created_owner_only(db, umask0):
    with FleetStore(str(db)) as s:
        s.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    assert _mode(db) == 0o600  # with umask 0, SQLite itself would have made it 0644


@posix_only
def test_an_existing_store_readable_by_others_is_made_owner_only(db):
    FleetStore(str(db)).close()
    db.chmod(0o644)
    FleetStore(str(db)).close()
    assert _mode(db) == 0o600


def test_schema_is_migrated_to_head_not_created(store, db):
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert {"locks", "issued_keys", "alembic_version"} <= set(inspect(conn).get_table_names())
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        # The migrations describe exactly what the models say, nothing more or less.
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
    assert version == [ScriptDirectory.from_config(_alembic_config()).get_current_head()]


def test_migrating_twice_is_harmless_and_a_second_store_sees_the_data(store, db):
    secret = secrets.token_bytes(32)
    store.add_lock("HL-1", "virtual", "1.0", secret)
    first = store.issue_key("HL-1", "Anna", STAFF, 100, 200)
    config = _alembic_config()
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(config, "head")
    with FleetStore(str(db)) as other:  # runs upgrade head again, beside the open store
        assert other.locks() == store.locks()
        assert other.keys() == [first.record]
        assert other.lock_secret("HL-1") == secret
        second = other.issue_key("HL-1", "Bo", TECH, 100, 300)
    assert store.key(second.record.key_id) == second.record


def test_an_unreadable_or_newer_store_is_a_clear_error(tmp_path, db):
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(FleetError, match="is not a fleet store"):
        FleetStore(str(junk))
    with pytest.raises(FleetError, match="cannot open"):  # no such driver installed
        FleetStore("nosuchdb://user:pw@host/fleet")
    FleetStore(str(db)).close()
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(FleetError, match="newer hemlas"):
        FleetStore(str(db))


def test_where_the_store_lives(tmp_path, monkeypatch):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "env" / "f.db"))
    with FleetStore(create=True) as s:
        s.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    assert (tmp_path / "env" / "f.db").is_file()
    monkeypatch.setenv("HEMLAS_STORE", f"sqlite:///{tmp_path / 'env' / 'f.db'}")
    with FleetStore() as s:
        assert [lock.lock_id for lock in s.locks()] == ["HL-1"]
    if sys.platform.startswith("linux"):  # platformdirs follows XDG only there
        monkeypatch.delenv("HEMLAS_STORE")
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        assert default_url().database == str(tmp_path / "xdg" / "hemlas" / "fleet.sqlite3")


# ---- Locks and keys --------------------------------------------------------------------------

def test_issue_list_revoke_and_push(store):
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32), now=10)
    assert store.lock("HL-1") == LockRecord("HL-1", "virtual", "1.0", 10)
    a = store.issue_key("HL-1", " Anna ", STAFF, 100, 200, now=50).record
    b = store.issue_key("HL-1", "Bo", TECH, 100, 300, now=60).record
    assert (a.person, a.role, a.issued_at) == ("Anna", STAFF, 50)  # the name trimmed
    assert (a.not_before, a.not_after) == (100, 200)
    assert store.keys("HL-1") == store.keys() == [a, b]
    assert store.pending_revocations("HL-1", now=150) == []
    revoked = store.revoke_key(a.key_id, now=120)
    assert revoked.revoked_at == 120 and revoked.state(150) == "revoked"
    assert store.revoke_key(a.key_id, now=130).revoked_at == 120  # idempotent
    assert store.pending_revocations("HL-1", now=150) == [revoked]
    store.mark_revocation_pushed(a.key_id, now=140)
    store.mark_revocation_pushed(a.key_id, now=145)
    assert store.key(a.key_id).revocation_pushed_at == 140
    assert store.pending_revocations("HL-1", now=150) == []
    assert store.key(b.key_id).state(150) == "valid"
    assert store.key(b.key_id).state(99) == "not yet valid"
    assert store.key(b.key_id).state(301) == "expired"


def test_pending_revocations_leave_out_expired_keys(store):
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    key = store.issue_key("HL-1", "Anna", STAFF, 100, 200).record
    store.revoke_key(key.key_id, now=150)
    assert [k.key_id for k in store.pending_revocations("HL-1", now=200)] == [key.key_id]
    assert store.pending_revocations("HL-1", now=201) == []  # the lock refuses it anyway


def test_reprovisioning_supersedes_every_key_of_that_lock(store):
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    store.add_lock("HL-1", "virtual", "1.0", old)
    store.add_lock("HL-2", "virtual", "1.0", secrets.token_bytes(32))
    a = store.issue_key("HL-1", "Anna", STAFF, 100, 200)
    store.issue_key("HL-1", "Bo", TECH, 100, 200)
    other = store.issue_key("HL-2", "Anna", STAFF, 100, 200)
    store.revoke_key(a.record.key_id, now=150)
    with pytest.raises(LockExistsError):
        store.add_lock("HL-1", "virtual", "1.1", new)
    with pytest.raises(FleetError, match="new secret"):
        store.add_lock("HL-1", "virtual", "1.1", old, replace=True)
    record = store.add_lock("HL-1", "esp32c3", "1.1", new, replace=True, now=500)
    assert record == LockRecord("HL-1", "esp32c3", "1.1", 500)
    assert store.lock_secret("HL-1") == new
    assert all(k.superseded and k.state(150) == "superseded" for k in store.keys("HL-1"))
    assert store.pending_revocations("HL-1", now=150) == []  # the new secret already kills it
    assert not store.key(other.record.key_id).superseded
    fresh = store.issue_key("HL-1", "Anna", STAFF, 100, 200)
    assert not fresh.record.superseded
    assert fresh.key == wire.derive_key(new, "HL-1", fresh.record.key_id, STAFF, 100, 200)


def test_key_ids_are_unique_and_increasing_across_locks_and_never_reused(store, db):
    for lock_id in ("HL-1", "HL-2"):
        store.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32))
    ids = [store.issue_key(f"HL-{1 + i % 2}", "Anna", STAFF, 100, 200).record.key_id
           for i in range(6)]
    assert ids == sorted(set(ids))
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:  # a row gone by hand must not free its id for a new key
        conn.execute(text("DELETE FROM issued_keys WHERE key_id = :k"), {"k": ids[-1]})
    engine.dispose()
    assert store.issue_key("HL-1", "Anna", STAFF, 100, 200).record.key_id > ids[-1]


@pytest.mark.parametrize("args, match", [
    (("Anna", 0, 100, 200), "role"),
    (("Anna", 4, 100, 200), "role"),
    (("Anna", True, 100, 200), "role"),
    (("Anna", STAFF, 200, 200), "end after"),
    (("Anna", STAFF, 300, 200), "end after"),
    (("Anna", STAFF, -1, 200), "not_before"),
    (("Anna", STAFF, 100, 2**32), "not_after"),
    (("Anna", STAFF, 100.0, 200), "not_before"),
    (("", STAFF, 100, 200), "person"),
    (("   ", STAFF, 100, 200), "person"),
    (("A" * 201, STAFF, 100, 200), "person"),
])
def test_issue_validates_its_fields(store, args, match):
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    with pytest.raises(FleetError, match=match):
        store.issue_key("HL-1", *args)
    assert store.keys() == []


@pytest.mark.parametrize("lock_id, secret, match", [
    ("HL-1", bytes(31), "32 bytes"),
    ("HL-1", "x" * 32, "32 bytes"),
    ("", bytes(32), "lock id"),
    ("H" * 65, bytes(32), "lock id"),
])
def test_add_lock_validates_its_fields(store, lock_id, secret, match):
    with pytest.raises(FleetError, match=match):
        store.add_lock(lock_id, "virtual", "1.0", secret)
    assert store.locks() == []


def test_unknown_locks_and_keys_are_typed_errors(store):
    for call in (lambda: store.lock("HL-9"), lambda: store.lock_secret("HL-9"),
                 lambda: store.keys("HL-9"), lambda: store.pending_revocations("HL-9"),
                 lambda: store.issue_key("HL-9", "Anna", STAFF, 100, 200),
                 lambda: store.admin_key("HL-9")):
        with pytest.raises(UnknownLockError) as caught:
            call()
        assert caught.value.lock_id == "HL-9" and isinstance(caught.value, HemlasError)
    for call in (lambda: store.key(99), lambda: store.revoke_key(99),
                 lambda: store.mark_revocation_pushed(99)):
        with pytest.raises(UnknownKeyError) as caught:
            call()
        assert caught.value.key_id == 99
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    key = store.issue_key("HL-1", "Anna", STAFF, 100, 200).record
    with pytest.raises(FleetError, match="not revoked"):
        store.mark_revocation_pushed(key.key_id)


def test_the_hosts_admin_key(store):
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    issued = store.admin_key("HL-1", lifetime_s=60, now=10_000)
    r = issued.record
    assert (r.role, r.person, r.not_after, r.issued_at) == (ADMIN, "hemlas host", 10_060, 10_000)
    assert r.not_before < 10_000  # a lock whose clock runs a little slow still accepts it
    assert store.keys() == [r]
    with pytest.raises(FleetError, match="lifetime"):
        store.admin_key("HL-1", lifetime_s=0)


def test_key_bytes_follow_from_the_stored_secret_and_are_not_stored(store, db):
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    issued = [store.issue_key("HL-1", "Anna", role, 100, 200) for role in (STAFF, TECH)]
    secret = store.lock_secret("HL-1")
    for i in issued:
        r = i.record
        assert i.key == wire.derive_key(secret, "HL-1", r.key_id, r.role, r.not_before, r.not_after)
    assert issued[0].key != issued[1].key
    store.close()
    raw = db.read_bytes()
    assert secret in raw  # the scan sees what is there...
    assert all(i.key not in raw for i in issued)  # ...and no key is


def test_secrets_and_keys_appear_in_no_repr_and_no_sql_log(db, caplog):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    secret = secrets.token_bytes(32)
    with FleetStore(str(db)) as s:
        lock = s.add_lock("HL-1", "virtual", "1.0", secret)
        issued = s.issue_key("HL-1", "Anna", STAFF, 100, 200)
        admin = s.admin_key("HL-1")
    staff = StaffKey.from_issued(issued)
    assert "secret" not in {f.name for f in fields(LockRecord)}
    assert "INSERT INTO locks" in caplog.text  # the SQL was logged, its parameters not:
    # SQLite's driver shows a BLOB as "<memory at ...>", but PostgreSQL's show the bytes.
    assert "hide_parameters" in caplog.text and "'virtual'" not in caplog.text
    shown = " ".join([repr(lock), str(lock), repr(issued), str(issued), repr(issued.record),
                      repr(admin), repr(staff), str(staff), caplog.text])
    for blob in (secret, issued.key, admin.key):
        assert blob.hex() not in shown and repr(blob) not in shown and str(list(blob)) not in shown


# ---- The key file ----------------------------------------------------------------------------

def _key(key_id, lock_id="HL-1", role=STAFF, not_before=100, not_after=200):
    return StaffKey(lock_id, key_id, role, not_before, not_after, secrets.token_bytes(32), secrets.token_bytes(16))


@posix_only
def test_key_file_is_owner_only_and_holds_the_keys_in_hex(tmp_path, umask0):
    path = tmp_path / "phone" / "keys.json"
    key = _key(1)
    KeyFile(path).add(key)
    assert _mode(path) == 0o600
    assert json.loads(path.read_text())["keys"][0]["key"] == key.key.hex()
    assert KeyFile(path).keys() == [key]


def test_key_file_add_replaces_by_key_id_and_remove(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    assert keys.keys() == [] and keys.remove(1) is False  # no file yet: no keys
    first, other = _key(1), _key(2, lock_id="HL-2")
    keys.add(first)
    keys.add(other)
    renewed = _key(1, role=TECH)
    keys.add(renewed)
    assert keys.keys() == [renewed, other]
    assert keys.keys("HL-2") == [other]
    assert keys.remove(1) is True and keys.remove(1) is False
    assert keys.keys() == [other]


@pytest.mark.parametrize("fault", ["replace", "fsync", "dump"])
def test_key_file_writes_are_atomic(tmp_path, monkeypatch, fault):
    path = tmp_path / "keys.json"
    keys = KeyFile(path)
    keys.add(first := _key(1))
    before = path.read_bytes()
    seen = {}

    def crash(*args, **kwargs):
        temps = [p for p in tmp_path.iterdir() if p.name != "keys.json"]
        seen["modes"] = [_mode(p) for p in temps]
        raise OSError(5, "simulated crash")

    target = {"replace": (keyfile.os, "replace"), "fsync": (keyfile.os, "fsync"),
              "dump": (keyfile.json, "dump")}[fault]
    monkeypatch.setattr(*target, crash)
    with pytest.raises(KeyFileError, match="cannot write"):
        keys.add(_key(2))
    monkeypatch.undo()
    assert path.read_bytes() == before and keys.keys() == [first]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]  # no temp file left
    if os.name == "posix":
        assert seen["modes"] == [0o600]  # the half-written file was never readable by others


def test_pick_chooses_the_least_privileged_key_valid_now(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    staff = _key(1, role=STAFF, not_before=100, not_after=200)
    staff_longer = _key(2, role=STAFF, not_before=100, not_after=250)
    tech = _key(3, role=TECH, not_before=100, not_after=300)
    admin = _key(4, role=ADMIN, not_before=100, not_after=400)
    for k in (admin, tech, staff, staff_longer, _key(5, lock_id="HL-2", not_after=1000),
              _key(6, not_before=0, not_after=50), _key(7, not_before=500, not_after=600)):
        keys.add(k)
    assert keys.pick("HL-1", STAFF, 150) == staff_longer  # of equals, the one valid longest
    assert keys.pick("HL-1", TECH, 150) == tech
    assert keys.pick("HL-1", ADMIN, 150) == admin
    assert keys.pick("HL-1", STAFF, 250) == staff_longer  # both ends of the window count
    assert keys.pick("HL-1", STAFF, 251) == tech  # the staff keys expired
    assert keys.pick("HL-1", STAFF, 99) is None  # nothing valid yet
    assert keys.pick("HL-1", TECH, 350) == admin
    assert keys.pick("HL-1", ADMIN, 401) is None
    assert keys.pick("HL-3", STAFF, 150) is None


@pytest.mark.parametrize("content", [
    "", "{", "[]", "null", '{"version": 2, "keys": []}', '{"version": 1}',
    '{"version": 1, "keys": {}}', '{"version": 1, "keys": [{"lock_id": "HL-1"}]}',
    '{"version": 1, "keys": [{"lock_id": "HL-1", "key_id": 1, "role": 1, "not_before": 1,'
    ' "not_after": 2, "key": "zz"}]}',
    '{"version": 1, "keys": [{"lock_id": "HL-1", "key_id": 1, "role": 1, "not_before": 1,'
    ' "not_after": 2, "key": "00ff"}]}',
    '{"version": 1, "keys": [{"lock_id": "HL-1", "key_id": "1", "role": 1, "not_before": 1,'
    ' "not_after": 2, "key": "' + "00" * 32 + '"}]}',
    '{"version": 1, "keys": [{"lock_id": "HL-1", "key_id": 1, "role": 1, "not_before": 3,'
    ' "not_after": 2, "key": "' + "00" * 32 + '"}]}',
])
def test_a_corrupt_key_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(KeyFileError, match="corrupt") as caught:
        KeyFile(path).keys()
    assert caught.value.path == path and str(path) in str(caught.value)
    with pytest.raises(KeyFileError):
        KeyFile(path).add(_key(1))  # never overwrites what it could not read
    assert path.read_text() == content


def test_an_issued_key_goes_into_the_key_file_and_is_picked(store, tmp_path, monkeypatch):
    monkeypatch.setenv("HEMLAS_KEYS", str(tmp_path / "env-keys.json"))
    store.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
    issued = store.issue_key("HL-1", "Anna", STAFF, 100, 200)
    KeyFile().add(StaffKey.from_issued(issued))
    picked = KeyFile(tmp_path / "env-keys.json").pick("HL-1", STAFF, 150)
    assert picked is not None and picked.key == issued.key and picked.key_id == issued.record.key_id


def test_staff_key_checks_its_fields():
    with pytest.raises(ValueError, match="32 bytes"):
        StaffKey("HL-1", 1, STAFF, 100, 200, bytes(16), bytes(16))
    with pytest.raises(ValueError, match="earlier"):
        StaffKey("HL-1", 1, STAFF, 200, 200, bytes(32), bytes(16))
    assert isinstance(IssuedKey, type)
