"""NFC tags: deactivated (who, when) before a lock is mounted; none for a customer with a lock."""

import csv
import json
import secrets

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from hemlas.cli import main
from hemlas.fleet import FleetError, FleetStore, UnknownCustomerError
from hemlas.fleet.nfc import CustomerHasLockError, NfcTagActiveError, NfcTagError

DAY = 86400
T0 = 1_700_000_000  # 2023-11-14: a past the store's "not in the future" check accepts


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        for lock_id in ("HL-1", "HL-2"):
            s.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32), now=T0)
        s.add_customer("1001", "Karin", "Storgatan 1", now=T0, provider="Omsorg AB")
        s.add_customer("1002", "Olle", "Vägen 3", now=T0, provider="Omsorg AB")
        yield s


def _dismantle(store, lock_id, at):
    store.sign_out_key(lock_id, "Fitter", at)
    store.dismantle_lock(lock_id, "Fitter", at + 60)
    store.return_key(lock_id, "Fitter", at + 120)


def test_a_lock_is_mounted_only_after_the_tag_is_deactivated(store):
    tag = store.register_nfc_tag("1001", " T-77 ", "Coordinator", T0 + DAY)
    assert (tag.tag, tag.registered_by, tag.registered_at, tag.active) == (
        "T-77", "Coordinator", T0 + DAY, True)
    with pytest.raises(NfcTagActiveError) as refused:
        store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 2 * DAY)
    # Which rule, and what to do, in the message.
    assert str(refused.value) == (
        "customer 1001 has an active NFC tag (T-77): a lock is mounted only after the "
        "customer's NFC tag is deactivated; deactivate it first: hemlas customers "
        "nfc-deactivate 1001 --by PERSON (then the tag may be taken down)")
    assert (refused.value.customer_number, refused.value.tag) == ("1001", "T-77")
    assert store.lock_history("HL-1") == [] and store.lock("HL-1").customer_number is None
    done = store.deactivate_nfc_tag("1001", "Coordinator Bo", T0 + 3 * DAY)
    assert (done.deactivated_by, done.deactivated_at, done.active) == (
        "Coordinator Bo", T0 + 3 * DAY, False)
    assert store.nfc_tags("1001") == [done]
    mount = store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 4 * DAY)
    assert mount.action == "mount" and store.lock("HL-1").customer_number == "1001"


def test_the_rule_holds_for_every_way_a_lock_is_mounted(store):
    store.register_nfc_tag("1001", "T-77", "Coordinator", T0)
    with pytest.raises(NfcTagActiveError):  # the lower-level placement too
        store.assign_lock("HL-1", "1001")
    assert store.lock("HL-1").customer_number is None and store.lock_history("HL-1") == []


def test_a_mount_cannot_be_dated_while_the_tag_was_active(store):
    store.register_nfc_tag("1001", "T-77", "Coordinator", T0)
    store.deactivate_nfc_tag("1001", "Coordinator", T0 + 10 * DAY)
    with pytest.raises(NfcTagActiveError, match="was active until .*cannot be dated earlier"):
        store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 5 * DAY)
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 10 * DAY)  # the moment it went: fine


def test_a_mount_cannot_be_dated_before_a_tag_that_came_later(store):
    """A tag up from day 3 to day 4 is on record: a mount dated day 2 would place the lock
    while that tag was up, so it is refused like one dated while the tag was active."""
    store.register_nfc_tag("1001", "T-77", "Coordinator", T0 + 3 * DAY)
    store.deactivate_nfc_tag("1001", "Coordinator", T0 + 4 * DAY)
    with pytest.raises(NfcTagActiveError, match="was active until .*cannot be dated earlier") \
            as refused:
        store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 2 * DAY)
    assert refused.value.tag == "T-77"
    with pytest.raises(NfcTagActiveError):  # the lower-level placement, back-dated, too
        store.assign_lock("HL-1", "1001", now=T0 + 2 * DAY)
    assert store.lock_history("HL-1") == []
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 4 * DAY)


def test_a_customer_with_a_lock_gets_no_tag(store):
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + DAY)
    with pytest.raises(CustomerHasLockError) as refused:
        store.register_nfc_tag("1001", "T-1", "Coordinator", T0 + 2 * DAY)
    assert str(refused.value) == ("customer 1001 has lock HL-1 mounted: a customer with a smart "
                                  "lock gets no NFC tag (the lock registers visit time)")
    with pytest.raises(CustomerHasLockError):  # back-dated to before the mount: it is there now
        store.register_nfc_tag("1001", "T-1", "Coordinator", T0)
    _dismantle(store, "HL-1", T0 + 10 * DAY)
    with pytest.raises(CustomerHasLockError) as refused:
        store.register_nfc_tag("1001", "T-1", "Coordinator", T0 + 5 * DAY)
    assert str(refused.value).startswith("customer 1001 had lock HL-1 mounted until ")
    assert str(refused.value).endswith(": a customer with a smart lock gets no NFC tag (the lock "
                                       "registers visit time), so the tag cannot be dated "
                                       "earlier than that")
    # Home care ended and the lock is gone: a tag may be recorded again.
    assert store.register_nfc_tag("1001", "T-1", "Coordinator", T0 + 11 * DAY).active
    assert [t.tag for t in store.nfc_tags("1001")] == ["T-1"]


def test_a_tag_cannot_be_dated_before_a_placement_that_came_later(store):
    """Lock HL-1 was mounted from day 3 to day 4: a tag dated day 2 would still be up, active,
    while the lock was there."""
    store.mount_lock("HL-1", "1001", None, "Fitter", T0 + 3 * DAY)
    _dismantle(store, "HL-1", T0 + 4 * DAY)
    with pytest.raises(CustomerHasLockError, match="had lock HL-1 mounted until .*cannot be "
                                                   "dated earlier than that"):
        store.register_nfc_tag("1001", "T-1", "Coordinator", T0 + 2 * DAY)
    assert store.nfc_tags("1001") == []
    assert store.register_nfc_tag("1001", "T-1", "Coordinator", T0 + 5 * DAY).active


def test_one_active_tag_per_customer_and_per_tag(store):
    store.register_nfc_tag("1001", "T-77", "Coordinator", T0)
    with pytest.raises(NfcTagError, match="already has an active NFC tag .T-77.: one at a time; "
                                          "deactivate it first: hemlas customers nfc-deactivate"):
        store.register_nfc_tag("1001", "T-78", "Coordinator", T0 + DAY)
    with pytest.raises(NfcTagError, match="NFC tag T-77 is active at customer 1001: deactivate "
                                          "it there first"):
        store.register_nfc_tag("1002", "T-77", "Coordinator", T0 + DAY)
    store.deactivate_nfc_tag("1001", "Coordinator", T0 + 2 * DAY)
    store.register_nfc_tag("1002", "T-77", "Coordinator", T0 + 3 * DAY)  # moved to another home
    assert [(t.customer_number, t.active) for t in store.nfc_tags()] == [
        ("1001", False), ("1002", True)]
    assert [t.customer_number for t in store.nfc_tags(active_only=True)] == ["1002"]


def test_deactivation_refusals(store):
    with pytest.raises(NfcTagError, match="customer 1001 has no active NFC tag: nothing to "
                                          "deactivate"):
        store.deactivate_nfc_tag("1001", "Coordinator")
    store.register_nfc_tag("1001", "T-77", "Coordinator", T0 + DAY)
    with pytest.raises(NfcTagError, match="cannot be deactivated before that"):
        store.deactivate_nfc_tag("1001", "Coordinator", T0)
    with pytest.raises(FleetError, match="person must not be empty"):
        store.deactivate_nfc_tag("1001", " ")
    with pytest.raises(FleetError, match="is in the future"):
        store.deactivate_nfc_tag("1001", "Coordinator", T0 + DAY, now=T0)
    with pytest.raises(UnknownCustomerError):
        store.deactivate_nfc_tag("9999", "Coordinator")
    assert store.nfc_tags("1001")[0].active  # nothing changed


@pytest.mark.parametrize("tag, person, match", [
    ("", "Bo", "NFC tag id must not be empty"), ("T" * 65, "Bo", "longer than 64"),
    ("T-1", "", "person must not be empty"),
])
def test_registration_fields_are_checked(store, tag, person, match):
    with pytest.raises(FleetError, match=match):
        store.register_nfc_tag("1001", tag, person, T0)
    with pytest.raises(FleetError, match="is in the future"):
        store.register_nfc_tag("1001", "T-1", "Bo", T0 + 10, now=T0)
    with pytest.raises(UnknownCustomerError):
        store.register_nfc_tag("9999", "T-1", "Bo", T0)
    assert store.nfc_tags() == []


def test_the_schema_itself_keeps_one_active_tag_per_customer(store):
    store.register_nfc_tag("1001", "T-77", "Coordinator", T0)
    engine = create_engine(store.url)
    with pytest.raises(IntegrityError, match="(?i)unique"), engine.begin() as conn:
        conn.execute(text("INSERT INTO nfc_tags (customer_number, tag, registered_at, "
                          "registered_by) VALUES ('1001', 'T-78', 1, 'x')"))
    with pytest.raises(IntegrityError, match="(?i)check"), engine.begin() as conn:  # who, when
        conn.execute(text("UPDATE nfc_tags SET deactivated_at = :t"), {"t": T0 + 1})
    engine.dispose()


# ---- CLI -------------------------------------------------------------------------------------

def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_register_refuse_deactivate_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    with FleetStore(create=True) as s:
        s.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
        s.add_customer("1001", "Karin", "Storgatan 1", provider="Omsorg AB")
    code, out, _ = _run(capsys, "customers", "nfc-register", "1001", "--tag", "T-77", "--by",
                        "Coordinator", "--at", "2026-01-05T08:00")
    assert code == 0 and out.startswith("NFC tag T-77 registered as active for customer 1001 "
                                        "(2026-01-05 08:00, by Coordinator)")
    code, out, _ = _run(capsys, "customers", "list")
    assert "active NFC tag" in out.splitlines()[0] and "T-77" in out.splitlines()[1]
    code, out, err = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter")
    assert code == 1 and out == ""
    assert err.startswith("hemlas: customer 1001 has an active NFC tag (T-77)")
    assert "hemlas customers nfc-deactivate 1001 --by PERSON" in err
    code, out, _ = _run(capsys, "customers", "nfc-deactivate", "1001", "--by", "Coordinator Bo",
                        "--json")
    answer = json.loads(out)
    assert code == 0 and answer["deactivated_by"] == "Coordinator Bo" and answer["deactivated_at"]
    code, out, _ = _run(capsys, "customers", "nfc-deactivate", "1001", "--by", "Bo", "--json")
    assert code == 1 and "no active NFC tag" in json.loads(out)["error"]
    table = tmp_path / "tags.csv"
    code, out, _ = _run(capsys, "customers", "nfc-list", "--csv", str(table))
    assert code == 0 and "deactivated" in out and "Coordinator Bo" in out
    assert f"written: {table}" in out
    rows = list(csv.DictReader(table.open(encoding="utf-8-sig")))  # CSV starts with a BOM
    assert [(r["tag"], r["active"], r["deactivated_by"]) for r in rows] == [
        ("T-77", "False", "Coordinator Bo")]
    code, out, _ = _run(capsys, "locks", "mount", "HL-1", "1001", "--by", "Fitter")
    assert code == 0
    code, out, err = _run(capsys, "customers", "nfc-register", "1001", "--tag", "T-78", "--by",
                          "Coordinator")
    assert code == 1 and "gets no NFC tag" in err
    code, out, err = _run(capsys, "customers", "nfc-register", "1001", "--tag", "T-78", "--by",
                          "Coordinator", "--at", "2999-01-01T00:00")
    assert code == 1 and "is in the future" in err
