"""The plan through the service (/api/v1/plan/...): a coordinator imports its provider's plan
as the request's body (its own 2 MiB bound), gets every bad row with its line and rule, lists
and cancels visits; another provider's coordinator and carer can neither import for, see nor
cancel them (404 exactly as for none). SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sys

import pytest

from hemlas.fleet import plan_csv
from hemlas.fleet.store import FleetStore

sys.path.insert(0, os.path.dirname(__file__))
from service_helpers import (A_CUSTOMERS, B_CUSTOMERS, CHEAP, PASSWORD, PROVIDER_A,  # noqa: E402
                             PROVIDER_B, logged_in, populate)

API = "/api/v1"
A1, A2 = sorted(A_CUSTOMERS)
B1 = next(iter(B_CUSTOMERS))
CSV = {"Content-Type": "text/csv"}
PLAN_A = ("kund;personal;starttid;sluttid;besöks_id\n"
          f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;A-1\n"
          f"{A2};carer-a;2030-05-02T09:00;2030-05-02T09:30;A-2\n").encode()


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        populate(s)
        yield s


def test_a_coordinator_imports_once_and_again_changes_nothing(store):
    coord = logged_in(store, "coord-a")
    first = coord.post(f"{API}/plan/imports?source=veckoplan.csv", content=PLAN_A, headers=CSV)
    assert first.status_code == 200, first.text
    assert first.json() | {"revoked_key_ids": []} == {"rows": 2, "added": 2, "moved": 0,
                                                      "cancelled": 0, "unchanged": 0,
                                                      "revoked_key_ids": []}
    again = coord.post(f"{API}/plan/imports", content=PLAN_A, headers=CSV).json()
    assert (again["added"], again["unchanged"]) == (0, 2)
    visits = coord.get(f"{API}/plan/visits").json()
    assert [(v["external_id"], v["customer_number"], v["provider"]) for v in visits] == \
        [("A-1", A1, PROVIDER_A), ("A-2", A2, PROVIDER_A)]
    csv_text = coord.get(f"{API}/plan/visits", params={"format": "csv"})
    assert csv_text.headers["content-type"].startswith("text/csv") and "A-2" in csv_text.text


def test_bad_rows_answer_422_with_each_line_and_rule_and_import_nothing(store):
    coord = logged_in(store, "coord-a")
    bad = PLAN_A + f"{A1};carer-a;2030-03-31T02:15;2030-03-31T03:30;A-3\n".encode() + \
        f"{B1};carer-a;2030-05-02T09:00;2030-05-02T09:30;A-4\n".encode()
    answer = coord.post(f"{API}/plan/imports", content=bad, headers=CSV)
    assert answer.status_code == 422 and answer.json()["rule"] == "plan-rows"
    assert [(e["line"], e["rule"]) for e in answer.json()["errors"]] == \
        [(4, "time-nonexistent"), (5, "unknown-customer")]
    assert coord.get(f"{API}/plan/visits").json() == []


def test_the_import_has_its_own_bound_and_every_other_body_keeps_16_kib(store):
    coord = logged_in(store, "coord-a")
    row = f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;\n".encode()
    medium = PLAN_A + row * (100 * 1024 // len(row))  # 100 KiB: over 16 KiB, under 2 MiB
    assert coord.post(f"{API}/plan/imports", content=medium, headers=CSV).status_code == 200
    big = PLAN_A + row * (plan_csv.MAX_PLAN_BYTES // len(row) + 1)
    refused = coord.post(f"{API}/plan/imports", content=big, headers=CSV)
    assert refused.status_code == 413 and refused.json()["rule"] == "too-large"

    def chunks():  # no Content-Length: bounded as it streams
        for _ in range(plan_csv.MAX_PLAN_BYTES // 65536 + 2):
            yield b"x" * 65536
    assert coord.post(f"{API}/plan/imports", content=chunks(), headers=CSV).status_code == 413
    login = coord.post(f"{API}/login", content=b"{" + b" " * 20000 + b"}",
                       headers={"Content-Type": "application/json"})
    assert login.status_code == 413


def test_another_provider_can_neither_import_for_see_nor_cancel_a_plan(store):
    coord_a = logged_in(store, "coord-a")
    coord_a.post(f"{API}/plan/imports", content=PLAN_A, headers=CSV)
    visit_id = coord_a.get(f"{API}/plan/visits").json()[0]["visit_id"]
    coord_b, carer_b = logged_in(store, "coord-b"), logged_in(store, "carer-b")
    for client in (coord_b, carer_b):
        assert client.get(f"{API}/plan/visits").json() == []
        for params in ({"customer": A1}, {"carer": "carer-a"}):
            assert client.get(f"{API}/plan/visits", params=params).json() == []
        mine = client.post(f"{API}/plan/visits/{visit_id}/cancel")
        none = client.post(f"{API}/plan/visits/99999/cancel")
        assert mine.status_code == none.status_code and mine.status_code in (403, 404)
        assert mine.text.replace(str(visit_id), "ID") == none.text.replace("99999", "ID")
    # B's coordinator naming A's customers: refused as unknown, nothing imported for anyone.
    refused = coord_b.post(f"{API}/plan/imports", content=PLAN_A.replace(b"carer-a", b"carer-b"),
                           headers=CSV)
    assert [e["rule"] for e in refused.json()["errors"]] == ["unknown-customer"] * 2
    as_a = coord_b.post(f"{API}/plan/imports", params={"provider": PROVIDER_A}, content=PLAN_A,
                        headers=CSV)
    assert as_a.status_code == 404 and as_a.json()["rule"] == "unknown-provider"
    assert carer_b.post(f"{API}/plan/imports", content=PLAN_A, headers=CSV).status_code == 403
    assert len(coord_a.get(f"{API}/plan/visits").json()) == 2  # A's plan as it was
    assert coord_a.post(f"{API}/plan/visits/{visit_id}/cancel").json()["status"] == "cancelled"


def test_a_carer_sees_only_their_own_visits_and_the_lock_administrator_every_providers(store):
    from hemlas.fleet import accounts
    from hemlas.fleet.roles import local_caller

    with store.unit_of_work() as uow:  # a colleague at A: carer-a must not see their visits
        accounts.add_account(uow, local_caller(), "carer-a2", "Alva Andersson", "carer",
                             PASSWORD, PROVIDER_A, hasher=CHEAP)
    colleague = f"{A1};carer-a2;2030-05-02T10:00;2030-05-02T10:30;A-9\n".encode()
    logged_in(store, "coord-a").post(f"{API}/plan/imports", content=PLAN_A + colleague, headers=CSV)
    plan_b = f"kund,personal,start,slut\n{B1},carer-b,2030-05-02T08:00,2030-05-02T08:30\n"
    logged_in(store, "coord-b").post(f"{API}/plan/imports", content=plan_b.encode(), headers=CSV)
    assert [v["external_id"] for v in logged_in(store, "carer-a").get(f"{API}/plan/visits").json()] \
        == ["A-1", "A-2"]
    admin = logged_in(store, "admin")
    assert {v["provider"] for v in admin.get(f"{API}/plan/visits").json()} == {PROVIDER_A, PROVIDER_B}
    tech = logged_in(store, "tech")
    assert tech.get(f"{API}/plan/visits").status_code == 403
