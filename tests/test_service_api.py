"""The fleet service's API on the real app (httpx through Starlette's TestClient) over a
real SQLite store: login and its cookie, device tokens, problem details, the rate limit,
roles, bad input, and no secret in any answer."""

from __future__ import annotations

import pytest

from hemlas.fleet import login as login_rules
from hemlas.fleet import ratelimit, sessions
from hemlas.fleet.roles import local_caller
from hemlas.fleet.store import FleetStore
from hemlas.service.app import MAX_BODY_BYTES

from service_helpers import A_CUSTOMERS, PASSWORD, client, logged_in, populate

API = "/api/v1"


@pytest.fixture
def store(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as s:
        s.lock_secrets = populate(s)
        yield s


def _problem(answer, status, rule):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["status"] == status and body["rule"] == rule
    assert body["type"] == f"urn:hemlas:problem:{rule}" and body["title"] and body["detail"]
    return body


def test_a_browser_login_sets_a_strict_httponly_cookie_and_me_says_who(store):
    c = client(store)
    answer = c.post(f"{API}/login", json={"login": "Coord-A", "password": PASSWORD})
    assert answer.status_code == 200 and "token" not in answer.json()
    cookie = answer.headers["set-cookie"]
    assert c.cookies["hemlas_session"] not in answer.text  # the token only in the cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain HTTP on localhost
    me = c.get(f"{API}/me").json()
    assert me["account"] == {"login": "coord-a", "display_name": "Karin Koordinator",
                             "role": "coordinator", "provider": "Omsorg Norr AB"}
    assert "customers.read" in me["permissions"] and "audit.read" not in me["permissions"]
    remote = client(store, base_url="http://fleet.kommun.example")
    cookie = remote.post(f"{API}/login", json={"login": "coord-a", "password": PASSWORD}).headers["set-cookie"]
    assert "Secure" in cookie  # anywhere but localhost


def test_without_a_login_every_read_is_401_with_a_problem(store):
    c = client(store)
    for path in ("/me", "/customers", "/customers/9100417", "/locks", "/warnings", "/audit"):
        body = _problem(c.get(API + path), 401, "login-required")
        assert "log in" in body["detail"]
    assert c.get(f"{API}/me").headers["www-authenticate"].startswith("Bearer")
    c.cookies.set("hemlas_session", "x" * 43)
    _problem(c.get(f"{API}/customers"), 401, "login-required")


def test_wrong_password_then_the_rate_limit_then_a_disabled_account(store):
    c = client(store)
    body = _problem(c.post(f"{API}/login", json={"login": "carer-a", "password": "wrong, wrong"}),
                    401, "login-failed")
    assert body["detail"] == str(login_rules.LoginFailedError())  # the CLI's words
    for _ in range(ratelimit.MAX_FAILURES - 1):
        c.post(f"{API}/login", json={"login": "carer-a", "password": "wrong, wrong"})
    limited = c.post(f"{API}/login", json={"login": "carer-a", "password": PASSWORD})
    _problem(limited, 429, "login-rate-limit")
    assert 0 < int(limited.headers["retry-after"]) <= ratelimit.WINDOW_S
    with store.unit_of_work() as uow:
        from hemlas.fleet import accounts
        accounts.disable_account(uow, local_caller(), "carer-b")
    other = client(store)  # (the same test address is limited now: another account's own check)
    with store.unit_of_work() as uow:
        uow.query(ratelimit.LoginFailure).delete()  # a new window, for the next step only
    _problem(other.post(f"{API}/login", json={"login": "carer-b", "password": PASSWORD}),
             403, "account-disabled")


def test_a_device_token_works_until_the_device_is_revoked_with_its_keys(store):
    from hemlas.firmware import wire

    key = store.issue_key("HL-NORR01", "Anna Andersson", wire.ROLE_STAFF, 0, 2**32 - 1).record
    c = logged_in(store, "carer-a", device="Annas telefon")
    assert c.get(f"{API}/me").json()["device"] == "Annas telefon"
    assert "hemlas_session" not in c.cookies  # a device gets a token, not a cookie
    with store.unit_of_work() as uow:
        (device, _login), = sessions.devices(uow)
        _, revoked, _ = sessions.revoke_device(uow, local_caller(), device.token_id)
    assert revoked == [key.key_id] and store.key(key.key_id).revoked_at is not None
    body = _problem(c.get(f"{API}/locks"), 401, "login-required")
    assert "revoked" in body["detail"]


def test_logout_ends_the_session_and_twice_is_harmless(store):
    c = logged_in(store, "coord-a")
    assert c.post(f"{API}/logout").status_code == 204
    _problem(c.get(f"{API}/me"), 401, "login-required")
    assert c.post(f"{API}/logout").status_code == 204  # the form posted twice
    assert c.post(f"{API}/login", json={"login": "coord-a", "password": PASSWORD}).status_code == 200
    assert c.get(f"{API}/me").status_code == 200


def test_bad_bodies_get_clear_errors_and_never_echo_the_password(store):
    c = client(store)
    huge = b'{"login": "admin", "password": "' + b"p" * (MAX_BODY_BYTES * 4) + b'"}'
    _problem(c.post(f"{API}/login", content=huge, headers={"content-type": "application/json"}),
             413, "too-large")

    def chunks():  # no Content-Length: counted as it streams in
        for _ in range(64):
            yield b"x" * 1024
    _problem(c.post(f"{API}/login", content=chunks(), headers={"content-type": "application/json"}),
             413, "too-large")
    _problem(c.post(f"{API}/login", content=b'{"login": "admin", "pass',
                    headers={"content-type": "application/json"}), 400, "invalid-json")
    secret_typed = "my secret typed in the wrong field"
    body = _problem(c.post(f"{API}/login", json={"login": "admin", "passwd": secret_typed}),
                    422, "invalid-request")
    assert secret_typed not in str(body) and "password" in body["detail"]
    _problem(c.post(f"{API}/login", data={"login": "admin", "password": PASSWORD}), 422,
             "invalid-request")  # a form, not JSON
    _problem(c.get(f"{API}/nothing-here"), 404, "not-found")
    _problem(c.delete(f"{API}/customers"), 405, "method-not-allowed")
    assert c.post(f"{API}/login", json={"login": "admin", "password": PASSWORD}).status_code == 200


def test_roles_that_may_not_get_403_and_the_audit_log_exports_as_csv(store):
    coord, tech, admin = (logged_in(store, n) for n in ("coord-a", "tech", "admin"))
    body = _problem(coord.get(f"{API}/audit"), 403, "role-may-not")
    assert "coordinator" in body["detail"]
    _problem(tech.get(f"{API}/customers"), 403, "role-may-not")
    assert all(lock["customer_number"] is None for lock in tech.get(f"{API}/locks").json())
    assert all(w["customer_name"] is None for w in tech.get(f"{API}/warnings").json())
    assert coord.get(f"{API}/customers/9100417").status_code == 200
    entries = admin.get(f"{API}/audit").json()
    read = next(e for e in entries if e["action"] == "customers.read" and e["actor"] == "coord-a")
    assert read["target"] == "customer 9100417" and read["provider"] == "Omsorg Norr AB"
    assert read["address"] == "testclient"
    csv = admin.get(f"{API}/audit", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("\ufeffaudit_id,at,actor") and "customers.read" in csv.text


def test_no_answer_holds_a_secret(store):
    from hemlas.firmware import wire

    issued = store.issue_key("HL-NORR01", "Anna Andersson", wire.ROLE_STAFF, 0, 2**32 - 1)
    admin = logged_in(store, "admin")
    device = client(store)
    enrol = device.post(f"{API}/login", json={"login": "carer-a", "password": PASSWORD,
                                              "device": "phone"})
    token = enrol.json()["token"]  # handed out in this one answer, and in no other
    texts = [admin.get(f"{API}{p}").text for p in
             ("/me", "/customers", "/customers/9100417", "/locks", "/locks/HL-NORR01", "/warnings",
              "/audit", "/openapi.json")]
    texts.append(admin.get(f"{API}/audit", params={"format": "csv"}).text)
    with store.unit_of_work() as uow:
        hashes = [a.password_hash for a in uow.query(sessions.Account)]
    forbidden = [PASSWORD, token, issued.key.hex(), issued.adv_key.hex(), *hashes,
                 *(s.hex() for s in store.lock_secrets.values())]
    for text in texts:
        for secret in forbidden:
            assert secret not in text
    assert set(A_CUSTOMERS) <= {c["customer_number"] for c in admin.get(f"{API}/customers").json()}
