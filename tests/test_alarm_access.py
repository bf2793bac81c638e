"""Alarm access (trygghetslarm) through the service: a carer asks for a short-lived key to one
customer's door with a reason; it is issued at once, opens the lock only in its window, is in
the audit log (without its bytes) and flagged for the coordinators, who list their provider's
alarm accesses; another provider's customer answers as one that does not exist. SQLite and
PostgreSQL; the key is checked with the lock's own derivation (firmware/wire.py)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from hemlas.firmware import wire
from hemlas.fleet import audit
from hemlas.fleet.models import VisitKey
from hemlas.fleet.store import FleetStore

sys.path.insert(0, os.path.dirname(__file__))
from service_helpers import A_CUSTOMERS, A_LOCKS, B_CUSTOMERS, logged_in, populate  # noqa: E402

API = "/api/v1"
A1 = sorted(A_CUSTOMERS)[0]
LOCK_A1 = next(lock for lock, number in A_LOCKS.items() if number == A1)
B1 = next(iter(B_CUSTOMERS))
REASON = "=HYPERLINK(\"http://x\") larm 03:12, ingen kontakt"


@pytest.fixture
def world(store_url):
    with FleetStore(store_url) as s:
        secrets = populate(s)
        yield s, secrets


def test_a_carer_gets_a_flagged_short_key_at_once_and_asking_again_gives_the_same(world):
    store, secrets = world
    carer = logged_in(store, "carer-a", device="Annas telefon")
    before = int(time.time())
    answer = carer.post(f"{API}/alarm-accesses", json={"customer_number": A1, "reason": REASON,
                                                        "minutes": 20})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (key,) = body["keys"]
    assert key["lock_id"] == LOCK_A1 and key["role"] == wire.ROLE_STAFF
    assert before - 300 - 1 <= key["not_before"] <= before and \
        0 <= key["not_after"] - (before + 20 * 60) <= 5  # 20 minutes, the slack before only
    derived = wire.derive_key(secrets[LOCK_A1], LOCK_A1, key["key_id"], key["role"],
                              key["not_before"], key["not_after"])
    assert bytes.fromhex(key["key"]) == derived  # the lock would take it
    assert body["visit"]["kind"] == "alarm" and body["visit"]["reason"] == REASON
    again = carer.post(f"{API}/alarm-accesses", json={"customer_number": A1, "reason": "igen"})
    assert again.json()["again"] is True and again.json()["keys"] == body["keys"]
    with store.unit_of_work() as uow:
        assert [(vk.key_id, vk.alarm) for vk in uow.query(VisitKey)] == [(key["key_id"], True)]
        log = audit.entries(uow)
    alarm_entries = [e for e in log if e.action == "alarm.key"]
    assert len(alarm_entries) == 2 and alarm_entries[-1].device == "Annas telefon"
    assert key["key"] not in repr(log) and key["adv_key"] not in repr(log)
    assert REASON not in repr(log)  # the reason is the visit's, not the log's (it may be personal)


def test_coordinators_see_their_providers_alarm_accesses_and_nobody_elses(world):
    store, _ = world
    logged_in(store, "carer-a").post(f"{API}/alarm-accesses",
                                     json={"customer_number": A1, "reason": REASON})
    coord_a = logged_in(store, "coord-a")
    listed = coord_a.get(f"{API}/alarm-accesses").json()
    assert [(a["customer_number"], a["carer_login"], a["kind"]) for a in listed] == \
        [(A1, "carer-a", "alarm")]
    report = coord_a.get(f"{API}/alarm-accesses", params={"format": "csv"}).text
    assert "'" + REASON.replace('"', '""') in report  # a formula written as text
    assert logged_in(store, "coord-b").get(f"{API}/alarm-accesses").json() == []
    assert logged_in(store, "carer-a").get(f"{API}/alarm-accesses").status_code == 403
    assert len(logged_in(store, "admin").get(f"{API}/alarm-accesses").json()) == 1


def test_another_providers_customer_answers_as_none_and_a_reason_is_required(world):
    store, _ = world
    carer_b = logged_in(store, "carer-b")
    theirs = carer_b.post(f"{API}/alarm-accesses", json={"customer_number": A1, "reason": "larm"})
    none = carer_b.post(f"{API}/alarm-accesses", json={"customer_number": "9999999", "reason": "larm"})
    assert theirs.status_code == none.status_code == 404
    assert theirs.text.replace(A1, "N") == none.text.replace("9999999", "N")
    blank = carer_b.post(f"{API}/alarm-accesses", json={"customer_number": B1, "reason": "   "})
    assert blank.status_code == 400 and blank.json()["rule"] == "alarm-access"
    long = carer_b.post(f"{API}/alarm-accesses", json={"customer_number": B1, "reason": "larm",
                                                        "minutes": 240})
    assert long.status_code == 422
    assert logged_in(store, "coord-b").post(
        f"{API}/alarm-accesses", json={"customer_number": B1, "reason": "larm"}).status_code == 403
    with store.unit_of_work() as uow:
        assert uow.query(VisitKey).count() == 0


def test_a_customer_without_a_lock_gets_the_manual_routine(world):
    store, _ = world
    store.unassign_lock(LOCK_A1)
    answer = logged_in(store, "carer-a").post(f"{API}/alarm-accesses",
                                              json={"customer_number": A1, "reason": "larm"})
    assert answer.status_code == 400 and answer.json()["rule"] == "customer-has-no-lock"
    assert "physical key" in answer.json()["detail"]


def test_ending_an_alarm_access_early_revokes_its_key(world):
    store, _ = world
    key = logged_in(store, "carer-a").post(
        f"{API}/alarm-accesses", json={"customer_number": A1, "reason": "larm"}).json()
    coord = logged_in(store, "coord-a")
    ended = coord.post(f"{API}/plan/visits/{key['visit']['visit_id']}/cancel")
    assert ended.json()["status"] == "cancelled"
    assert store.key(key["keys"][0]["key_id"]).revoked_at is not None
    fresh = logged_in(store, "carer-a").post(
        f"{API}/alarm-accesses", json={"customer_number": A1, "reason": "nytt larm"}).json()
    assert fresh["again"] is False and fresh["keys"][0]["key_id"] != key["keys"][0]["key_id"]
