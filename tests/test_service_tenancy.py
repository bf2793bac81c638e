"""Provider isolation: every endpoint of the app, as enumerated from app.routes (a new one is
covered, or this test fails until it is classified here), tried by provider B's coordinator
and carer with every id, name and search text of provider A's: nothing of A's customers,
locks or warnings is read or changed, and an A id answers exactly as an id that does not
exist. On SQLite and PostgreSQL (conftest.store_url)."""

from __future__ import annotations

import re

import pytest

from hemlas.fleet.store import FleetStore
from hemlas.service.app import create_app, endpoints

from hemlas.firmware import wire

from service_helpers import (A_CUSTOMERS, A_LOCKS, B_CUSTOMERS, B_LOCKS, NOW, PASSWORD, PROVIDER_A,
                             logged_in, populate)

API = "/api/v1"
# Every endpoint, and how it is tried: "public" (no login; nothing of anyone's), "login" and
# "logout" (a body of one's own), "own" (the caller's own account), "list" (a listing or a
# search: query parameters are tried with A's values), "by-id" (path parameters: A's ids),
# "body" (a request body naming A's customers: BODIES says how).
# "upload" (a field upload of every kind, valid but for naming A's lock: as none, nothing kept).
ROUTES = {
    ("GET", f"{API}/health"): "public",
    ("GET", f"{API}/openapi.json"): "public",
    ("POST", f"{API}/login"): "login",
    ("POST", f"{API}/logout"): "logout",
    ("GET", f"{API}/me"): "own",
    ("GET", f"{API}/customers"): "list",
    ("GET", f"{API}/customers/{{number}}"): "by-id",
    ("GET", f"{API}/locks"): "list",
    ("GET", f"{API}/locks/{{lock_id}}"): "by-id",
    ("GET", f"{API}/warnings"): "list",
    ("GET", f"{API}/audit"): "list",
    ("POST", f"{API}/plan/imports"): "body",
    ("GET", f"{API}/plan/visits"): "list",
    ("POST", f"{API}/plan/visits/{{visit_id}}/cancel"): "by-id",
    ("POST", f"{API}/alarm-accesses"): "body",
    ("GET", f"{API}/alarm-accesses"): "list",
    ("GET", f"{API}/customers/{{number}}/export"): "by-id",
    ("POST", f"{API}/customers/{{number}}/erasure"): "by-id",
    ("GET", f"{API}/retention"): "list",
    ("POST", f"{API}/retention"): "list",
    ("GET", f"{API}/keys"): "list",
    ("PUT", f"{API}/locks/{{lock_id}}/uploads/{{upload_id}}"): "upload",
}
# A body naming a customer, by path: the intruders' own carer, A's customer or none.
BODIES = {
    f"{API}/plan/imports": lambda number: {
        "content": f"kund;personal;starttid;sluttid\n{number};carer-b;2030-05-02T08:00;"
                   f"2030-05-02T08:45\n".encode(), "headers": {"Content-Type": "text/csv"}},
    f"{API}/alarm-accesses": lambda number: {"json": {"customer_number": number, "reason": "larm"}},
}
INTRUDERS = ("coord-b", "carer-b")
A_IDS = [*A_CUSTOMERS, *A_LOCKS]
# Every string of A's that must not reach B's staff (a provider's name is no secret, but B's
# staff have no business with it either: it would say A serves someone they asked about).
A_STRINGS = [*A_IDS, *(s for pair in A_CUSTOMERS.values() for s in pair), PROVIDER_A]
NO_SUCH_ID = "9999999"
# One upload of each kind a field device sends (service/api_field.py), valid in every field.
UPLOADS = [
    {"kind": "log-page", "lock_next_seq": 3, "records": [
        {"seq": n, "time": NOW + n, "type": wire.EVENT_UNLOCKED, "fields": [900, 4100, 1, 1]}
        for n in (1, 2)]},
    {"kind": "battery-reading", "at": NOW, "idle_mv": 4300, "loaded_mv": 4100,
     "state": wire.BATTERY_OK},
    {"kind": "swap", "person": "Bo Berg", "started_at": NOW, "status": "abandoned",
     "reason": "tried on another provider's lock"},
]


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        populate(s)
        # Keys issued to B's carer by name on a lock of A's and one of B's: fetching keys
        # must hand out only B's (a name is not a provider).
        for lock_id in ("HL-NORR01", "HL-SODER1"):
            s.issue_key(lock_id, "Bo Berg", wire.ROLE_STAFF, NOW, 2**32 - 1)
        yield s


def _snapshot(store):
    """Provider A's data as the store holds it: what no intruder may change."""
    return ([c for c in store.customers() if c.customer_number in A_CUSTOMERS],
            [lock for lock in store.locks() if lock.lock_id in A_LOCKS],
            [k for k in store.keys() if k.lock_id in A_LOCKS],
            {lock_id: store.battery_readings(lock_id) for lock_id in A_LOCKS},
            {lock_id: [(e.log_epoch, e.seq) for e in store.lock_events(lock_id)] for lock_id in A_LOCKS},
            {lock_id: store.swaps(lock_id) for lock_id in A_LOCKS},
            {lock_id: store.sync_cursor(lock_id) for lock_id in A_LOCKS})


def _query_params(app, method, path):
    operation = app.openapi()["paths"].get(path, {}).get(method.lower(), {})
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]


def _assert_nothing_of_a(answer, what, echo=None):
    """No string of A's in the answer; ``echo``, the id the caller sent in the URL, may come
    back in the refusal (it answers exactly as for an id that does not exist: checked)."""
    text = answer.text if echo is None else answer.text.replace(echo, "")
    for a_string in A_STRINGS:
        assert a_string not in text, f"{what}: provider A's {a_string!r} in {answer.text[:300]}"


def _tries(app, client, method, path, kind):
    """(what, answer, the id echoed or None) for every way this endpoint is tried."""
    if kind in ("public", "own"):
        yield path, client.request(method, path), None
    elif kind == "login":
        yield path, client.post(path, json={"login": "coord-b", "password": PASSWORD,
                                            "device": "B's tablet"}), None
    elif kind == "logout":
        yield path, client.post(path), None
    elif kind == "list":
        yield path, client.request(method, path), None
        for name in _query_params(app, method, path):
            for value in A_STRINGS:
                yield (f"{path}?{name}={value}", client.request(method, path, params={name: value}),
                       None)
    elif kind == "by-id":
        params = re.findall(r"{(\w+)}", path)
        for value in A_IDS:
            url = path
            for name in params:
                url = url.replace(f"{{{name}}}", value)
            nonexistent = client.request(method, url.replace(value, NO_SUCH_ID))
            answer = client.request(method, url)
            assert answer.status_code == nonexistent.status_code == 404 or \
                answer.status_code == nonexistent.status_code == 403, (url, answer.text)
            assert answer.text.replace(value, "ID") == nonexistent.text.replace(NO_SUCH_ID, "ID"), \
                "another provider's id answers unlike one that does not exist"
            yield url, answer, value
    elif kind == "body":
        for value in A_CUSTOMERS:
            nonexistent = client.request(method, path, **BODIES[path](NO_SUCH_ID))
            answer = client.request(method, path, **BODIES[path](value))
            assert 400 <= answer.status_code == nonexistent.status_code < 500, (path, answer.text)
            assert answer.text.replace(value, "ID") == nonexistent.text.replace(NO_SUCH_ID, "ID"), \
                "another provider's customer answers unlike one that does not exist"
            yield f"{path} naming {value}", answer, value
    elif kind == "upload":
        for value in A_LOCKS:
            for body in UPLOADS:
                url = path.replace("{lock_id}", value).replace("{upload_id}", "U" * 32)
                nonexistent = client.request(method, url.replace(value, NO_SUCH_ID), json=body)
                answer = client.request(method, url, json=body)
                assert answer.status_code == nonexistent.status_code == 404, (url, answer.text)
                assert answer.text.replace(value, "ID") == nonexistent.text.replace(NO_SUCH_ID, "ID"), \
                    "another provider's lock answers unlike one that does not exist"
                yield f"{url} {body['kind']}", answer, value
    else:
        raise AssertionError(f"no way to try {kind!r}")


def test_every_endpoint_as_another_providers_coordinator_and_carer(store, record_property):
    app = create_app(store)
    # The API's endpoints; the pages beside it (and their static files) are walked alike by
    # tests/test_web_tenancy.py, which fails on a page it cannot classify.
    found = [(m, p) for m, p in endpoints(app) if p.startswith(f"{API}/")]
    unknown = sorted(set(found) - set(ROUTES))
    assert not unknown, f"endpoints the tenancy test cannot classify (add them to ROUTES): {unknown}"
    assert sorted(set(ROUTES) - set(found)) == [], "ROUTES names endpoints the app lacks"
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= set(found)  # the OpenAPI description has nothing the walk missed
    before = _snapshot(store)
    pairs = attempts = 0
    order = sorted(ROUTES, key=lambda r: ROUTES[r] == "logout")  # logging out last
    for login in INTRUDERS:
        client = logged_in(store, login)
        for method, path in order:
            pairs += 1
            for what, answer, echo in _tries(app, client, method, path, ROUTES[(method, path)]):
                attempts += 1
                assert answer.status_code < 500, (login, what, answer.text)
                _assert_nothing_of_a(answer, f"{login} {method} {what}", echo)
    assert _snapshot(store) == before
    # The same calls by A's own coordinator do show A's data: the walk can see a leak.
    own = logged_in(store, "coord-a")
    assert all(own.get(f"{API}/customers/{n}").status_code == 200 for n in A_CUSTOMERS)
    assert set(A_LOCKS) <= {lock["lock_id"] for lock in own.get(f"{API}/locks").json()}
    assert set(A_LOCKS) <= {w["lock_id"] for w in own.get(f"{API}/warnings").json()}
    intruder = logged_in(store, "coord-b")  # and B's sees its own
    assert {c["customer_number"] for c in intruder.get(f"{API}/customers").json()} == set(B_CUSTOMERS)
    assert {w["lock_id"] for w in intruder.get(f"{API}/warnings").json()} == set(B_LOCKS)
    carer_b = logged_in(store, "carer-b", device="B's phone")  # and B's own uploads and keys go
    assert {k["lock_id"] for k in carer_b.get(f"{API}/keys").json()} == set(B_LOCKS)
    for body in UPLOADS[:2]:
        assert carer_b.put(f"{API}/locks/HL-SODER1/uploads/{'B' * 32}{body['kind']}",
                           json=body).status_code == 200
    print(f"tenancy: {len(ROUTES)} endpoints x {len(INTRUDERS)} roles = {pairs} pairs tried, "
          f"{attempts} requests")
    record_property("endpoints", len(ROUTES))
    record_property("endpoint_role_pairs", pairs)
    record_property("requests", attempts)
    assert pairs == len(ROUTES) * len(INTRUDERS)


def test_the_lock_administrator_sees_every_provider_and_stock(store):
    admin = logged_in(store, "admin")
    assert {c["customer_number"] for c in admin.get(f"{API}/customers").json()} == \
        set(A_CUSTOMERS) | set(B_CUSTOMERS)
    locks = {lock["lock_id"] for lock in admin.get(f"{API}/locks").json()}
    assert locks == set(A_LOCKS) | set(B_LOCKS) | {"HL-STOCK1"}
    assert {w["lock_id"] for w in admin.get(f"{API}/warnings").json()} == locks
    carer = logged_in(store, "carer-b", device="B's phone")  # by bearer token, alike
    assert {lock["lock_id"] for lock in carer.get(f"{API}/locks").json()} == set(B_LOCKS)
