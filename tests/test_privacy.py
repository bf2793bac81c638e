"""Erasure at the end of care and the access request (fleet/erasure.py, subject_access.py;
docs/privacy.md), on SQLite and PostgreSQL: after an erasure no text column of any table
(nor, on SQLite, the file) holds the customer's name, personnummer, address or NFC tag id;
a closed month's compensation report counts the same; the lock's life goes on; the refusals
name their rule; the API's export and erasure, and the audit log still append-only."""

from __future__ import annotations

import datetime
import json
import os

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import DBAPIError

from hemlas.firmware import wire
from hemlas.fleet import accounts, erasure, personnummer, subject_access
from hemlas.fleet.models import Account, BatterySwap, LockEvent, PlannedVisit, VisitKey
from hemlas.fleet.roles import CARER
from hemlas.fleet.roles import local_caller
from hemlas.fleet.store import FleetStore

from service_helpers import A_CUSTOMERS, CHEAP, PASSWORD, PROVIDER_A, logged_in, populate

API = "/api/v1"
NAME, PNR, ADDRESS, TAG = "Astrid Almqvist", "19121212-1212", "Storgatan 7", "04A2241BDEADBE"
PNR_KEPT = PNR.replace("-", "")  # as customers.personal_number holds it
OTHER_NAME = "Bertil Bengtsson"
PROVIDER = "Omsorg Öst AB"
T0 = int(datetime.datetime(2024, 1, 10, 9).timestamp())  # January 2024: long closed
LATER = int(datetime.datetime(2025, 3, 1, 12).timestamp())
DAY = 86_400
ROW_KEY = "ab" * 32  # planned_visits.row_key: a sha256 over the row's fields, the number among them


def _life(store: FleetStore) -> None:
    """A customer's care: an NFC tag taken down, a lock mounted (January 2024), its hour, a
    manual visit and its correction, the lock's own events, a swap, the hour corrected, the
    dismantling: every free text mentioning the customer. And a second customer, untouched."""
    store.add_customer("5501", NAME, ADDRESS, T0, provider=PROVIDER)
    store.add_customer("5502", OTHER_NAME, "Lillgatan 2", T0, provider=PROVIDER)
    with store.unit_of_work() as uow:
        personnummer.set_personal_number(uow, local_caller(), "5501", PNR)
    store.register_nfc_tag("5501", TAG, "Samordnare Sara", T0, now=T0)
    store.deactivate_nfc_tag("5501", "Samordnare Sara", T0 + 60, now=T0 + 60)
    store.add_lock("HL-ERASE", "virtual", "1.0", os.urandom(32), now=T0)
    store.mount_lock("HL-ERASE", "5501", None, "Montör Mats", T0 + 3600, now=T0 + 3600,
                     note=f"{NAME} ({PNR}) wants the lock on the inner door")
    key = store.issue_key("HL-ERASE", "Carer Cecilia", wire.ROLE_STAFF, T0, T0 + 400 * DAY, now=T0)
    store.register_hours(PROVIDER, "5501", "2024-01-10", "Samordnare Sara", lock_id="HL-ERASE",
                         now=T0 + 7200)
    visit = store.register_manual_visit("5501", "Carer Cecilia", T0 + 2 * DAY,
                                        f"lock failed, {NAME} let me in", now=T0 + 2 * DAY)
    store.correct_manual_visit(visit.visit_id, "Samordnare Sara", f"{NAME} says it was 10:00",
                               at=T0 + 2 * DAY + 600, now=T0 + 3 * DAY)
    with store.unit_of_work() as uow:
        for seq, (kind, at) in enumerate([(wire.EVENT_UNLOCKED, T0 + 5 * DAY),
                                          (wire.EVENT_LOCKED, T0 + 5 * DAY + 900),
                                          (wire.EVENT_DOOR_OPENED, T0 + 6 * DAY)], start=1):
            uow.add(LockEvent(lock_id="HL-ERASE", log_epoch=0, seq=seq, at=at, type=kind,
                              key_id=key.record.key_id, fields=[1, 4000, 1, key.record.key_id],
                              synced_at=at))
        uow.add(BatterySwap(lock_id="HL-ERASE", customer_number="5501", person="Carer Cecilia",
                            started_at=T0 + 9 * DAY, status="abandoned", stage="confirmed",
                            finished_at=T0 + 9 * DAY, reason=f"{NAME} asked us to come back"))
    hour = store.registered_hours(PROVIDER, "2024-01")[0]
    store.correct_hour(hour.hour_id, "Samordnare Sara", f"the lock of {NAME}, {PNR}",
                       day="2024-01-11", now=T0 + 10 * DAY)
    _plan(store, key.record.key_id)
    store.sign_out_key("HL-ERASE", "Montör Mats", T0 + 20 * DAY, now=T0 + 20 * DAY)
    store.dismantle_lock("HL-ERASE", "Montör Mats", T0 + 21 * DAY, now=T0 + 21 * DAY)


def _plan(store: FleetStore, key_id: int) -> None:
    """A planned visit (keyed by its row: a hash of the customer's number among its fields)
    and an alarm access whose reason names the customer, with its key."""
    with store.unit_of_work() as uow:
        accounts.add_provider(uow, local_caller(), PROVIDER, now=T0)
        carer = accounts.add_account(uow, local_caller(), "cecilia", "Carer Cecilia", CARER,
                                     PASSWORD, PROVIDER, hasher=CHEAP, now=T0)
        carer_id = uow.scalar(select(Account.account_id).where(Account.login == carer.login))
        planned = PlannedVisit(provider=PROVIDER, row_key=ROW_KEY, external_id=None,
                               customer_number="5501", carer_account_id=carer_id,
                               planned_start=T0 + 3 * DAY, planned_end=T0 + 3 * DAY + 1800,
                               kind="planned", status="active", reason=None, source="plan.csv:2",
                               created_at=T0, created_by="Samordnare Sara")
        alarm = PlannedVisit(provider=PROVIDER, row_key=None, external_id=None,
                             customer_number="5501", carer_account_id=carer_id,
                             planned_start=T0 + 4 * DAY, planned_end=T0 + 4 * DAY + 1800,
                             kind="alarm", status="active", reason=f"{NAME} fell in the hall",
                             source=None, created_at=T0, created_by="Carer Cecilia")
        uow.add_all([planned, alarm])
        uow.flush()
        uow.add(VisitKey(key_id=key_id, visit_id=alarm.visit_id, lock_id="HL-ERASE", alarm=True,
                         issued_at=T0 + 4 * DAY))


def _every_text(store: FleetStore) -> str:
    """Every value of every column of every table, as text."""
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            return "\n".join(repr(tuple(row)) for table in inspect(engine).get_table_names()
                             for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    finally:
        engine.dispose()


def _counts(report):
    return (len(report.mounts), len(report.hours), len(report.unmatched_mounts),
            len(report.unmatched_hours), report.balanced,
            [(m.lock_id, m.at, m.hour_id) for m in report.mounts],
            [(h.hour.hour_id, h.hour.day, h.record_id) for h in report.hours])


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        _life(s)
        yield s


def _secure_delete_off(store) -> None:
    """As an SQLite built without SECURE_DELETE (Debian's has it on): erasure must turn it on."""
    from sqlalchemy import event

    event.listen(store._engine, "connect",
                 lambda conn, _record: conn.execute("PRAGMA secure_delete = OFF"))
    store._engine.dispose()


def test_erasure_leaves_no_trace_and_closed_months_count_the_same(store, store_url):
    if "://" not in store_url:
        _secure_delete_off(store)
    before = _counts(store.compensation_report(PROVIDER, "2024-01"))
    dump = _every_text(store)
    for secret in (NAME, PNR, PNR_KEPT, ADDRESS, TAG, OTHER_NAME, ROW_KEY):
        assert secret in dump  # the dump sees them: it can see a leak
    with store.unit_of_work() as uow:
        done = erasure.erase(uow, local_caller(), "5501", now=LATER)
    assert done.records["compensation_hours"] == 2 and done.records["lifecycle"] == 3
    assert done.records["planned_visits"] == 2
    dump = _every_text(store)
    for secret in (NAME, PNR, PNR_KEPT, ADDRESS, TAG, ROW_KEY):
        assert secret not in dump
    assert OTHER_NAME in dump and "customer 5501" in dump  # the audit log keeps its ids
    if "://" not in store_url:  # nor in SQLite's free pages (secure_delete)
        raw = open(store_url, "rb").read()
        for secret in (NAME, PNR, PNR_KEPT, ADDRESS, TAG):
            assert secret.encode() not in raw
    report = store.compensation_report(PROVIDER, "2024-01")
    assert _counts(report) == before
    assert report.mounts[0].customer_number.startswith("erased-") and report.mounts[0].address is None
    assert "5501" not in [c.customer_number for c in store.customers()]
    # The lock's life goes on: its key comes back and it is mounted for someone else.
    store.return_key("HL-ERASE", "Montör Mats", LATER, now=LATER)
    store.mount_lock("HL-ERASE", "5502", None, "Montör Mats", LATER + 60, now=LATER + 60)
    assert store.lock("HL-ERASE").customer_number == "5502"
    # A second erasure says it was done; the audit log is still append-only.
    with pytest.raises(erasure.AlreadyErasedError), store.unit_of_work() as uow:
        erasure.erase(uow, local_caller(), "5501", now=LATER)
    engine = create_engine(store.url)
    try:
        for statement in ("UPDATE audit_log SET target = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def test_erasure_is_refused_while_care_goes_on(store):
    store.add_lock("HL-MOUNTED", "virtual", "1.0", os.urandom(32), now=T0)
    store.mount_lock("HL-MOUNTED", "5502", None, "Montör Mats", LATER - 90 * DAY, now=LATER)
    refusals = {}
    for number, now in (("5502", LATER), ("5501", T0 + 25 * DAY)):
        with pytest.raises(erasure.ErasureRefusedError) as refused, store.unit_of_work() as uow:
            erasure.erase(uow, local_caller(), number, now=now)
        refusals[number] = refused.value
    assert refusals["5502"].rule == "erasure-lock-mounted" and "hemlas locks dismantle HL-MOUNTED" in str(refusals["5502"])
    # Mounted and paid in January 2024: open through February (two months open by default).
    assert refusals["5501"].rule == "erasure-compensation-open"
    assert "2024-01" in str(refusals["5501"]) and "2024-03-01" in str(refusals["5501"])
    store.add_customer("5503", "Cilla Ceder", None, T0, provider=PROVIDER)
    store.register_nfc_tag("5503", "0499", "Samordnare Sara", T0, now=T0)
    with pytest.raises(erasure.NfcTagStillActiveError), store.unit_of_work() as uow:
        erasure.erase(uow, local_caller(), "5503", now=LATER)
    # A visit still planned: care goes on. Cancelled, it no longer stands in the way.
    store.add_customer("5504", "Doris Dahl", None, T0, provider=PROVIDER)
    with store.unit_of_work() as uow:
        carer_id = uow.scalar(select(Account.account_id).where(Account.login == "cecilia"))
        ahead = PlannedVisit(provider=PROVIDER, row_key="cd" * 32, customer_number="5504",
                             carer_account_id=carer_id, planned_start=LATER + DAY,
                             planned_end=LATER + DAY + 1800, kind="planned", status="active",
                             created_at=T0, created_by="Samordnare Sara")
        uow.add(ahead)
    with pytest.raises(erasure.VisitsPlannedError) as planned, store.unit_of_work() as uow:
        erasure.erase(uow, local_caller(), "5504", now=LATER)
    assert planned.value.rule == "erasure-visits-planned" and "hemlas plan cancel" in str(planned.value)
    with store.unit_of_work() as uow:
        uow.get(PlannedVisit, ahead.visit_id).status = "cancelled"
    with store.unit_of_work() as uow:
        assert erasure.erase(uow, local_caller(), "5504", now=LATER).records["planned_visits"] == 1
    assert {c.customer_number for c in store.customers()} >= {"5501", "5502", "5503"}
    assert NAME in _every_text(store)


def test_the_export_holds_the_customers_data_and_is_audited(store):
    document = subject_access.export(store, local_caller(), "5501", now=LATER)
    assert document["customer"]["name"] == NAME and document["customer"]["personal_number"] == PNR_KEPT
    assert [(v["kind"], v["reason"]) for v in document["planned_visits"]] == \
        [("planned", None), ("alarm", f"{NAME} fell in the hall")]
    assert [r["action"] for r in document["lifecycle"]] == ["mount", "key_signed_out", "dismantle"]
    assert document["nfc_tags"][0]["tag"] == TAG
    assert {v["source"] for v in document["visits"]} == {"lock", "manual"}
    assert [e["event"] for e in document["door_events"]] == ["door_opened"]
    assert document["keys"][0]["person"] == "Carer Cecilia"
    assert len(document["compensation_hours"]) == 2 and document["battery_swaps"][0]["reason"]
    assert document["retention"]["visit_events"] == {"period": 730, "unit": "days"}
    with store.unit_of_work() as uow:
        from hemlas.fleet.models import AuditEntry

        actions = list(uow.scalars(select(AuditEntry.action).where(AuditEntry.target == "customer 5501")))
    assert actions == ["customers.read", "customers.personal-number", "customers.export"]
    json.dumps(document)  # JSON throughout


# ---- the API ----------------------------------------------------------------------------------------

@pytest.fixture
def service(store_url):
    with FleetStore(store_url) as s:
        populate(s)
        yield s


def _ended(store, number):
    for lock_id in store.customer_locks(number):
        store.unassign_lock(lock_id.lock_id)


def test_the_api_exports_and_erases_for_the_customers_coordinator(service):
    number, (name, _address) = next(iter(A_CUSTOMERS.items()))
    coordinator, carer, other = (logged_in(service, login) for login in ("coord-a", "carer-a", "coord-b"))
    exported = coordinator.get(f"{API}/customers/{number}/export")
    assert exported.status_code == 200 and exported.json()["customer"]["name"] == name
    assert name in coordinator.get(f"{API}/customers/{number}/export?format=text").text
    assert carer.get(f"{API}/customers/{number}/export").status_code == 403
    refused = coordinator.post(f"{API}/customers/{number}/erasure")
    assert refused.status_code == 409 and refused.json()["rule"] == "erasure-lock-mounted"
    _ended(service, number)
    # Another provider's coordinator: as for a number that never was, and nothing erased.
    theirs, none = (other.post(f"{API}/customers/{n}/erasure") for n in (number, "9999999"))
    assert theirs.status_code == none.status_code == 404
    assert theirs.text.replace(number, "ID") == none.text.replace("9999999", "ID")
    assert service.customer(number).name == name
    # populate's mount (2026-09) is in a month closed since 2026-11: the erasure goes through.
    erased = coordinator.post(f"{API}/customers/{number}/erasure")
    assert erased.status_code == 200, erased.text
    assert name not in erased.text
    again = coordinator.post(f"{API}/customers/{number}/erasure")
    assert again.status_code == 409 and again.json()["rule"] == "already-erased"
    # ... and once it is erased.
    theirs, none = (other.post(f"{API}/customers/{n}/erasure") for n in (number, "9999999"))
    assert theirs.status_code == none.status_code == 404
    assert theirs.text.replace(number, "ID") == none.text.replace("9999999", "ID")
    assert coordinator.get(f"{API}/customers/{number}").status_code == 404


def test_the_retention_endpoints_are_the_lock_administrators(service):
    admin, coordinator = logged_in(service, "admin"), logged_in(service, "coord-a")
    assert coordinator.post(f"{API}/retention").status_code == 403
    assert coordinator.get(f"{API}/retention").status_code == 403
    run = admin.post(f"{API}/retention")
    assert run.status_code == 200 and set(run.json()["removed"]) >= {"visit_events", "door_events"}
    report = admin.get(f"{API}/retention").json()
    assert report["periods"]["door_events"] == {"period": 90, "unit": "days"}
    assert len(report["runs"]) == len(run.json()["removed"])
    assert all(entry["actor"] == "admin" for entry in report["runs"])
    assert PROVIDER_A not in json.dumps(report)


def test_the_cli_erases_after_confirmation_and_exports_owner_only(fleet, tmp_path, capsys, monkeypatch):
    from hemlas.cli import main

    monkeypatch.setenv("HEMLAS_CONFIG", str(tmp_path / "none.toml"))
    fleet.add_customer("7001", NAME, ADDRESS, T0, provider=PROVIDER)
    out = tmp_path / "export.json"
    assert main(["privacy", "export", "7001", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["customer"]["name"] == NAME
    assert out.stat().st_mode & 0o077 == 0
    monkeypatch.setattr("builtins.input", lambda _prompt: "7002")
    assert main(["privacy", "erase", "7001"]) == 1
    assert "not confirmed" in capsys.readouterr().err and fleet.customer("7001").name == NAME
    monkeypatch.setattr("builtins.input", lambda _prompt: "7001")
    assert main(["privacy", "erase", "7001", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["customer_number"] == "7001"
    assert NAME not in _every_text(fleet)
