"""The service's field endpoints (fleet/uploads.py through service/api_field.py): each upload
applied once by its id, answered the same on a repeat; the same id with other contents refused;
one account's ids independent of another's; log pages from several devices out of order kept
whole with the lost count right; a finished swap; the caller's own keys fetched ahead, and no
one else's. SQLite and PostgreSQL (conftest.store_url)."""

from __future__ import annotations

import time
import uuid

import pytest

from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore

from service_helpers import client, logged_in, populate

API = "/api/v1"


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        populate(s)
        yield s


def _put(c, lock_id, body, upload_id=None):
    upload_id = upload_id or uuid.uuid4().hex
    return c.put(f"{API}/locks/{lock_id}/uploads/{upload_id}", json=body)


def _records(first, last, at=1_790_000_100):
    return [{"seq": n, "time": at + n, "type": wire.EVENT_UNLOCKED, "fields": [900, 4100, 1, 7]}
            for n in range(first, last + 1)]


def _page(first, last, lock_next_seq=None):
    return {"kind": "log-page", "lock_next_seq": lock_next_seq or last + 1,
            "records": _records(first, last)}


READING = {"kind": "battery-reading", "at": 1_790_000_500, "idle_mv": 4300, "loaded_mv": 4050,
           "state": wire.BATTERY_OK, "percent": 80, "days_left": None, "charge_used_mah": 120,
           "source": "battery"}


def test_an_upload_is_applied_once_and_a_repeat_answers_the_same(store):
    carer = logged_in(store, "carer-a", device="Annas telefon")
    before = len(store.battery_readings("HL-NORR01"))
    first = _put(carer, "HL-NORR01", READING, "r" * 32)
    again = _put(carer, "HL-NORR01", READING, "r" * 32)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json() and first.json()["result"] == {"reading_at": READING["at"]}
    assert "hemlas-upload-repeat" not in first.headers and again.headers["hemlas-upload-repeat"] == "1"
    assert len(store.battery_readings("HL-NORR01")) == before + 1  # once, not twice
    page = _put(carer, "HL-NORR01", _page(1, 5), "p" * 32)
    assert page.json()["result"] == {"stored": 5, "duplicates": 0, "lost": 0, "log_epoch": 0,
                                     "restarted": False}
    assert _put(carer, "HL-NORR01", _page(1, 5), "p" * 32).json() == page.json()
    assert [e.seq for e in store.lock_events("HL-NORR01")] == [1, 2, 3, 4, 5]
    # The same page under a new id (two devices read the same records) doubles nothing either.
    assert _put(carer, "HL-NORR01", _page(1, 5)).json()["result"]["duplicates"] == 5
    assert len(store.lock_events("HL-NORR01")) == 5


def test_the_same_id_with_other_contents_is_refused_and_ids_are_per_account(store):
    carer_a = logged_in(store, "carer-a", device="A")
    carer_b = logged_in(store, "carer-b", device="B")
    assert _put(carer_a, "HL-NORR01", READING, "x" * 20).status_code == 200
    other = _put(carer_a, "HL-NORR01", {**READING, "idle_mv": 4000}, "x" * 20)
    assert other.status_code == 409 and other.json()["rule"] == "upload-id-reused"
    assert [r.idle_mv for r in store.battery_readings("HL-NORR01")][-1] == READING["idle_mv"]
    # B's carer using the same id on B's own lock: a new upload of B's, not A's answer.
    b = _put(carer_b, "HL-SODER1", READING, "x" * 20)
    assert b.status_code == 200 and b.json()["lock_id"] == "HL-SODER1"
    assert "hemlas-upload-repeat" not in b.headers
    # ... and on A's lock: unknown, as a lock that does not exist (nothing stored).
    count = len(store.battery_readings("HL-NORR01"))
    for lock_id in ("HL-NORR01", "HL-NOSUCH"):
        refused = _put(carer_b, lock_id, READING, "y" * 20)
        assert refused.status_code == 404 and refused.json()["rule"] == "unknown-lock"
    assert len(store.battery_readings("HL-NORR01")) == count
    bad = _put(carer_a, "HL-NORR01", {**READING, "state": 9})
    assert bad.status_code == 400 and "battery state" in bad.json()["detail"]
    assert _put(carer_a, "HL-NORR01", READING, "short").status_code == 422
    assert client(store).put(f"{API}/locks/HL-NORR01/uploads/{'z' * 20}",
                             json=READING).status_code == 401


def test_pages_from_two_devices_out_of_order_are_kept_whole_and_nothing_counted_lost(store):
    phone, tablet = (logged_in(store, "carer-a", device=d) for d in ("phone", "tablet"))
    # The tablet read 1-8 first but sends late; the phone, meeting the lock later, sends 9-12.
    assert _put(phone, "HL-NORR01", _page(9, 12)).json()["result"]["lost"] == 8
    assert store.sync_cursor("HL-NORR01").lost_events == 8
    late = _put(tablet, "HL-NORR01", _page(1, 8)).json()["result"]
    assert late["stored"] == 8
    cursor = store.sync_cursor("HL-NORR01")
    assert (cursor.next_seq, cursor.lost_events) == (13, 0)
    assert [e.seq for e in store.lock_events("HL-NORR01")] == list(range(1, 13))
    # Truly gone from the lock: an empty page whose lock went on to 20 counts 13-19 lost.
    assert _put(phone, "HL-NORR01", _page(13, 12, lock_next_seq=20)).json()["result"]["lost"] == 7


def test_a_log_that_started_again_begins_a_new_epoch(store):
    carer = logged_in(store, "carer-a", device="phone")
    _put(carer, "HL-NORR01", _page(1, 4))
    erased = {"kind": "log-page", "lock_next_seq": 3,
              "records": [{**r, "time": r["time"] + 9999} for r in _records(1, 2)]}
    result = _put(carer, "HL-NORR01", erased).json()["result"]
    assert result["restarted"] and result["log_epoch"] == 1 and result["stored"] == 2


def test_a_finished_swap_is_recorded_with_its_cycles(store):
    carer = logged_in(store, "carer-a", device="phone")
    cycles = [{"cycle_index": i, "action": ("lock", "unlock")[i % 2], "result": wire.STATUS_OK,
               "state": 1 + i % 2, "travel_ms": 900, "loaded_mv": 4100, "at": 1_790_000_700 + i}
              for i in range(10)]
    swap = {"kind": "swap", "person": "Anna Andersson", "started_at": 1_790_000_600,
            "lock_swap_time_before": 0, "registered_at": 1_790_000_650,
            "loaded_mv_at_registration": 4150, "lock_swap_time": 1_790_000_650,
            "cycles": cycles, "status": "passed", "reason": None, "finished_at": 1_790_000_800}
    answer = _put(carer, "HL-NORR01", swap, "s" * 24)
    assert answer.status_code == 200, answer.text
    assert _put(carer, "HL-NORR01", swap, "s" * 24).json() == answer.json()
    [recorded] = store.swaps("HL-NORR01")
    assert (recorded.status, len(recorded.cycles), recorded.person) == ("passed", 10, "Anna Andersson")
    # The same swap queued twice on the device (a new upload id): the one recorded.
    assert _put(carer, "HL-NORR01", swap).json()["result"] == answer.json()["result"]
    assert len(store.swaps("HL-NORR01")) == 1
    # "passed" without its verification is the store's refusal, through the API alike.
    short = _put(carer, "HL-NORR01", {**swap, "started_at": 1_790_000_900, "cycles": cycles[:4]})
    assert short.status_code == 400 and len(store.swaps("HL-NORR01")) == 1


def test_keys_fetched_are_the_callers_own_for_its_providers_locks_within_the_hours(store):
    now = int(time.time())
    mine = store.issue_key("HL-NORR01", "Anna Andersson", wire.ROLE_STAFF, now - 60, now + 3600)
    later = store.issue_key("HL-NORR02", "anna andersson", wire.ROLE_STAFF, now + 5 * 3600,
                            now + 6 * 3600)
    store.issue_key("HL-NORR01", "Karin Koordinator", wire.ROLE_STAFF, now, now + 3600)
    elsewhere = store.issue_key("HL-SODER1", "Anna Andersson", wire.ROLE_STAFF, now, now + 3600)
    revoked = store.issue_key("HL-NORR02", "Anna Andersson", wire.ROLE_STAFF, now, now + 3600)
    store.revoke_key(revoked.record.key_id)
    carer = logged_in(store, "carer-a", device="phone")
    soon = carer.get(f"{API}/keys", params={"hours": 1}).json()
    assert [k["key_id"] for k in soon] == [mine.record.key_id]
    assert soon[0]["key"] == mine.key.hex() and soon[0]["adv_key"] == mine.adv_key.hex()
    ahead = carer.get(f"{API}/keys", params={"hours": 6}).json()
    assert [k["key_id"] for k in ahead] == [mine.record.key_id, later.record.key_id]
    assert elsewhere.record.key_id not in [k["key_id"] for k in ahead]  # B's lock: not A's carer's
    assert carer.get(f"{API}/keys", params={"hours": 49}).status_code == 422
    admin = logged_in(store, "admin")
    fetched = [e for e in admin.get(f"{API}/audit").json() if e["action"] == "keys.fetch"]
    assert fetched and mine.key.hex() not in str(fetched)
    assert client(store).get(f"{API}/keys").status_code == 401


def test_a_carers_fetch_hands_out_the_keys_of_the_visits_planned_within_the_hours(store):
    """The plan's keys are issued at their first fetch (plan_keys.keys_for_carer): the field
    device's GET /keys is that fetch, so a visit planned two hours ahead is in a 3-hour fetch,
    with the plan's window, and one planned tomorrow is not."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from hemlas.fleet import planned_visits
    from hemlas.fleet.roles import local_caller

    from service_helpers import A_CUSTOMERS, A_LOCKS, PROVIDER_A

    customer = sorted(A_CUSTOMERS)[0]
    door = next(lock for lock, number in A_LOCKS.items() if number == customer)
    now = int(time.time())
    local = lambda t: datetime.fromtimestamp(t, ZoneInfo("Europe/Stockholm")).strftime("%Y-%m-%dT%H:%M")  # noqa: E731
    start = now + 2 * 3600 - now % 60
    rows = (f"customer,carer,start,end\n{customer},carer-a,{local(start)},{local(start + 1800)}\n"
            f"{customer},carer-a,{local(start + 24 * 3600)},{local(start + 24 * 3600 + 1800)}\n")
    with store.unit_of_work() as uow:
        assert planned_visits.import_plan(uow, local_caller(), rows.encode(), provider=PROVIDER_A,
                                          now=now).added == 2
    carer = logged_in(store, "carer-a", device="phone")
    assert carer.get(f"{API}/keys", params={"hours": 1}).json() == []  # opens 1 h 45 min ahead
    fetched = carer.get(f"{API}/keys", params={"hours": 3}).json()
    assert [(k["lock_id"], k["not_before"], k["not_after"]) for k in fetched] == \
        [(door, start - 15 * 60, start + 1800 + 30 * 60)]
    again = carer.get(f"{API}/keys", params={"hours": 3}).json()
    assert [k["key_id"] for k in again] == [k["key_id"] for k in fetched]  # issued once
    coordinator = logged_in(store, "coord-a")
    assert coordinator.get(f"{API}/keys", params={"hours": 3}).json() == []  # not a carer's plan
