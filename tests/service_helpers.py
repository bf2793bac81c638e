"""A small municipality for the fleet service's tests: two providers with a customer, a lock
and a battery warning each, a lock in stock, and an account of every role.

Its names are distinct strings, so a test can look for any of provider A's anywhere in an
answer to provider B's staff."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from hemlas.firmware import wire
from hemlas.fleet import accounts
from hemlas.fleet.roles import local_caller
from hemlas.service.app import create_app

PASSWORD = "correct horse battery staple"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # rehashed at first login
NOW = 1_790_000_000
PROVIDER_A, PROVIDER_B = "Omsorg Norr AB", "Vård Söder AB"
# Provider A's customers and locks: what B's staff must never see.
A_CUSTOMERS = {"9100417": ("Astrid Alm", "Norrgatan 11"), "9100428": ("Arvid Ask", "Norrgatan 12")}
A_LOCKS = {"HL-NORR01": "9100417", "HL-NORR02": "9100428"}
B_CUSTOMERS = {"9200539": ("Bertil Berg", "Södergatan 21")}
B_LOCKS = {"HL-SODER1": "9200539"}
STOCK_LOCK = "HL-STOCK1"
ACCOUNTS = {  # login: (display name, role, provider)
    "admin": ("Lena Låsadmin", "lock-admin", None),
    "tech": ("Tore Tekniker", "technician", None),
    "coord-a": ("Karin Koordinator", "coordinator", PROVIDER_A),
    "carer-a": ("Anna Andersson", "carer", PROVIDER_A),
    "coord-b": ("Kalle Koordinator", "coordinator", PROVIDER_B),
    "carer-b": ("Bo Berg", "carer", PROVIDER_B),
}


def populate(store) -> dict[str, bytes]:
    """Fill a fresh store; returns every lock's secret (for the tests that look for it)."""
    caller = local_caller()
    secrets_by_lock = {}
    with store.unit_of_work() as uow:
        for provider in (PROVIDER_A, PROVIDER_B):
            accounts.add_provider(uow, caller, provider, now=NOW)
        for login, (name, role, provider) in ACCOUNTS.items():
            accounts.add_account(uow, caller, login, name, role, PASSWORD, provider,
                                 hasher=CHEAP, now=NOW)
    for customers, provider in ((A_CUSTOMERS, PROVIDER_A), (B_CUSTOMERS, PROVIDER_B)):
        for number, (name, address) in customers.items():
            store.add_customer(number, name, address, NOW, provider=provider)
    for lock_id, number in {**A_LOCKS, **B_LOCKS, STOCK_LOCK: None}.items():
        secret = secrets_by_lock[lock_id] = secrets.token_bytes(32)
        store.add_lock(lock_id, "virtual", "1.0", secret, now=NOW)
        if number is not None:
            store.assign_lock(lock_id, number, NOW)
        # A LOW battery at every lock: each is a warning someone may see.
        store.record_battery_reading(lock_id, at=NOW, idle_mv=4400, loaded_mv=4100,
                                     state=wire.BATTERY_LOW, percent=12)
    return secrets_by_lock


def client(store, base_url: str = "http://localhost") -> TestClient:
    return TestClient(create_app(store), base_url=base_url)


def logged_in(store, login: str, device: str | None = None) -> TestClient:
    """A client logged in as ``login``: by its session cookie, or by a device's bearer token."""
    c = client(store)
    body = {"login": login, "password": PASSWORD, **({"device": device} if device else {})}
    answer = c.post("/api/v1/login", json=body)
    assert answer.status_code == 200, answer.text
    if device:
        c.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return c
