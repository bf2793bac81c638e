"""A municipality's fleet for benchmarks/bench_service.py, built in a fresh store.

The schema is the store's own (FleetStore opens it and runs the Alembic migrations). Bulk rows
(customers, locks, assignments, keys, events, readings) go in through SQLAlchemy Core into
those tables: the store's per-row rules would take hours for 5,000,000 events. Providers,
accounts and their tokens go through the domain functions (accounts.add_provider,
accounts.add_account, login.login), so every token the load presents is a real login's.

Shapes: customers spread over a few providers, most with a lock mounted and some locks in stock;
three staff keys per lock, issued to its provider's carers; each lock's log a year of visits
(unlock, lock 20-60 minutes later, by one of its keys) with sessions and battery events between;
a battery reading a month per lock, the newest a few days old, some LOW or CRITICAL, some locks
not heard from for weeks (the warnings list has something to say).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from sqlalchemy import insert, select

from hemlas.firmware import wire
from hemlas.fleet import accounts, login
from hemlas.fleet.models import (BatteryReading, Customer, IssuedKeyRow, Lock, LockAssignment,
                                 LockEvent, LockSync)
from hemlas.fleet.roles import local_caller

PROVIDERS = ("Omsorg Norr AB", "Vård Söder AB", "Hemtjänsten Centrum", "Trygg Omsorg AB",
             "Kommunens hemtjänst Väst")
PASSWORD = "correct horse battery staple"
# Argon2 at its defaults costs 0.2 s a hash here; 220 accounts made and logged in twice (one
# store each) would be minutes of hashing that the load never repeats (it presents tokens).
# The tests' cheap parameters: the same code path, login.login verifies the same way.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
DAY = 86400
IN_STOCK_EVERY = 50  # one lock in 50 is in stock, with no customer: only the admin sees it
KEYS_PER_LOCK = 3
READINGS_PER_LOCK = 12
CHUNK = 20_000


@dataclass
class Carer:
    login: str
    provider: str
    token: str = ""
    locks: list[str] = field(default_factory=list)  # the locks this carer uploads for


@dataclass
class Fleet:
    carers: list[Carer]
    coordinators: list[tuple[str, str, str]]  # (login, provider, token)
    next_seq: dict[str, int]  # each lock's next log number: where the uploads continue
    key_ids: dict[str, list[int]]
    timings: list[tuple[str, float]]

    @property
    def seconds(self) -> float:
        return sum(s for _, s in self.timings)


def build(store, n_locks: int, n_events: int, n_carers: int, n_coordinators: int,
          rng: random.Random, now: int | None = None, say=print) -> Fleet:
    now = int(time.time()) if now is None else now
    engine = store._engine  # Core straight into the migrated tables (module docstring)
    lock_ids = [f"HL-{i:06X}" for i in range(n_locks)]
    provider_of = {lock_id: PROVIDERS[i % len(PROVIDERS)] for i, lock_id in enumerate(lock_ids)}
    mounted = [lock_id for i, lock_id in enumerate(lock_ids) if i % IN_STOCK_EVERY != IN_STOCK_EVERY - 1]
    mounted_set = set(mounted)
    timings: list[tuple[str, float]] = []

    def timed(what: str, fn):
        t0 = time.perf_counter()
        result = fn()
        timings.append((what, time.perf_counter() - t0))
        say(f"  {what}: {timings[-1][1]:.1f} s")
        return result

    carers = [Carer(f"carer{i:03d}", PROVIDERS[i % len(PROVIDERS)]) for i in range(n_carers)]
    coordinators = [(f"coord{i:02d}", PROVIDERS[i % len(PROVIDERS)]) for i in range(n_coordinators)]

    def people():
        caller = local_caller("bench")
        with store.unit_of_work() as uow:
            for name in PROVIDERS:
                accounts.add_provider(uow, caller, name, now=now - 400 * DAY)
            for c in carers:
                accounts.add_account(uow, caller, c.login, f"Vårdare {c.login}", "carer", PASSWORD,
                                     c.provider, hasher=CHEAP_HASHER, now=now - 400 * DAY)
            for name, provider in coordinators:
                accounts.add_account(uow, caller, name, f"Samordnare {name}", "coordinator",
                                     PASSWORD, provider, hasher=CHEAP_HASHER, now=now - 400 * DAY)
        for c in carers:  # a phone enrolled once, its token kept (hemlas login)
            c.token = login.login(store, c.login, PASSWORD, address="127.0.0.1",
                                  device=f"telefon {c.login}", hasher=CHEAP_HASHER)[0]
        return [(name, provider, login.login(store, name, PASSWORD, address="127.0.0.1",
                                             hasher=CHEAP_HASHER)[0])
                for name, provider in coordinators]

    def customers_locks_keys():
        with engine.begin() as conn:
            conn.execute(insert(Customer), [
                {"customer_number": f"{2_000_000 + i}", "name": f"Kund {i}",
                 "address": f"Storgatan {i % 700 + 1}, lgh {1000 + i % 97}",
                 "created_at": now - 800 * DAY + i, "provider": provider_of[lock_id]}
                for i, lock_id in enumerate(lock_ids)])
            conn.execute(insert(Lock), [
                {"lock_id": lock_id, "board": "esp32c3", "firmware_version": "1.0",
                 "secret": os.urandom(32), "provisioned_at": now - 750 * DAY} for lock_id in lock_ids])
            conn.execute(insert(LockAssignment), [
                {"lock_id": lock_id, "customer_number": f"{2_000_000 + i}",
                 "assigned_at": now - 700 * DAY + rng.randrange(0, 300 * DAY), "ended_at": None}
                for i, lock_id in enumerate(lock_ids) if lock_id in mounted_set])
            by_provider = {p: [c for c in carers if c.provider == p] for p in PROVIDERS}
            conn.execute(insert(IssuedKeyRow), [
                {"lock_id": lock_id, "person": f"Vårdare {staff[(i + k) % len(staff)].login}",
                 "role": wire.ROLE_STAFF, "not_before": now - 365 * DAY, "not_after": now + 30 * DAY,
                 "issued_at": now - 365 * DAY, "superseded": False}
                for i, lock_id in enumerate(mounted)
                if (staff := by_provider[provider_of[lock_id]]) for k in range(KEYS_PER_LOCK)])
        key_ids: dict[str, list[int]] = {}
        with engine.connect() as conn:
            for key_id, lock_id in conn.execute(select(IssuedKeyRow.key_id, IssuedKeyRow.lock_id)):
                key_ids.setdefault(lock_id, []).append(key_id)
        return key_ids

    def events(key_ids):
        next_seq = {}
        per_lock, extra = divmod(n_events, len(mounted))
        start = now - 365 * DAY
        rows: list[dict] = []
        with engine.begin() as conn:
            for i, lock_id in enumerate(mounted):
                count = per_lock + (1 if i < extra else 0)
                keys = key_ids[lock_id]
                step = max(2, (365 * DAY - DAY) // max(1, count))  # a mean gap of ~1.5 steps an event
                t, seq = start + rng.randrange(0, step), 0
                while seq < count:
                    t += rng.randrange(step, 2 * step)
                    if seq % 10 < 8:  # a visit: unlock, then lock 20-60 minutes later
                        key = keys[(seq // 2) % len(keys)]
                        shown = [(t, wire.EVENT_UNLOCKED, key, [900, 3100, 1, key]),
                                 (t + rng.randrange(1200, 3600), wire.EVENT_LOCKED, key, [900, 3050, 1, key])]
                    else:  # the rest of a log: a session, a battery event
                        shown = [(t, wire.EVENT_SESSION, None, [keys[0], wire.ROLE_STAFF]),
                                 (t + 1, wire.EVENT_BATTERY, None, [0, 3500, 3300])]
                    for at, kind, key, fields in shown[:count - seq]:
                        seq += 1
                        rows.append({"lock_id": lock_id, "log_epoch": 0, "seq": seq, "at": at,
                                     "type": kind, "key_id": key, "fields": fields,
                                     "synced_at": at + 3600})
                    t = max(t, shown[-1][0])
                    if len(rows) >= CHUNK:
                        conn.execute(insert(LockEvent), rows)
                        rows = []
                next_seq[lock_id] = count + 1
            if rows:
                conn.execute(insert(LockEvent), rows)
            conn.execute(insert(LockSync), [
                {"lock_id": lock_id, "log_epoch": 0, "next_seq": seq, "lock_next_seq": seq,
                 "lost_events": 0, "synced_at": now - DAY} for lock_id, seq in next_seq.items()])
        return next_seq

    def readings():
        rows = []
        for i, lock_id in enumerate(mounted):
            last = now - rng.randrange(3600, 5 * DAY)
            if i % 41 == 0:
                last -= 30 * DAY  # not heard from for a month: stale
            state = (wire.BATTERY_CRITICAL if i % 211 == 0 else
                     wire.BATTERY_LOW if i % 37 == 0 else wire.BATTERY_OK)
            for r in range(READINGS_PER_LOCK):
                age = READINGS_PER_LOCK - 1 - r
                rows.append({"lock_id": lock_id, "at": last - age * 30 * DAY,
                             "idle_mv": 3650 - 10 * r, "loaded_mv": 3450 - 12 * r,
                             "state": state if age == 0 else wire.BATTERY_OK,
                             "percent": 95 - 6 * r if state == wire.BATTERY_OK or age else 8,
                             "days_left": 400 - 30 * r if state == wire.BATTERY_OK or age else 9,
                             "charge_used_mah": 150 * r, "source": "connection"})
        with engine.begin() as conn:
            for at in range(0, len(rows), CHUNK):
                conn.execute(insert(BatteryReading), rows[at:at + CHUNK])

    coordinator_tokens = timed(f"{len(PROVIDERS)} providers, {n_carers} carers and "
                               f"{n_coordinators} coordinators, logged in (domain functions)", people)
    key_ids = timed(f"{n_locks} customers and locks, {len(mounted)} mounted, "
                    f"{len(mounted) * KEYS_PER_LOCK} keys (Core)", customers_locks_keys)
    next_seq = timed(f"{n_events:,} lock events over a year (Core)", lambda: events(key_ids))
    timed(f"{len(mounted) * READINGS_PER_LOCK:,} battery readings (Core)", readings)
    if engine.dialect.name == "postgresql":
        # The planner's statistics, as autovacuum gathers them after a bulk load (a minute or
        # so later): without them PostgreSQL guessed 3 customers a provider and joined 2,000
        # of them to 9,800 assignments row by row (4 s a warnings list). SQLite keeps none
        # unless asked, and a store's file is never asked: it runs as it would in use.
        def statistics():
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        timed("statistics (ANALYZE, as autovacuum would)", statistics)
    mine = {p: [lock_id for lock_id in mounted if provider_of[lock_id] == p] for p in PROVIDERS}
    for p in PROVIDERS:  # each carer its own share of the provider's locks
        staff = [c for c in carers if c.provider == p]
        for i, lock_id in enumerate(mine[p]):
            if staff:
                staff[i % len(staff)].locks.append(lock_id)
    return Fleet(carers, coordinator_tokens, next_seq, key_ids, timings)
