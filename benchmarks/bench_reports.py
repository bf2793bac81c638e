"""The fleet store's reports over a municipality-sized fleet: 10,000 locks, 5,000,000 events.

Prints figures; passes or fails nothing. Run:
    .venv/bin/python benchmarks/bench_reports.py [--locks 10000] [--events 5000000] [--keep DIR]

Builds one SQLite fleet store (the default backend), migrated by Alembic as any store is:
10,000 customers with 5 providers, 10,000 locks mounted through the store's own lifecycle
rules (some later moved, some dismantled), 3 staff keys per lock, a year of synced lock
events (unlock/lock pairs by those keys, and the rest of a log's events), battery readings,
and registered compensation hours. Bulk rows (locks, keys, events, readings) go in with
SQLAlchemy Core; mounts, moves, dismantles and hours through the store's API. Then each
report is timed as its command runs it (median of 5 runs, after one warm-up).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from hemlas.firmware import wire
from hemlas.fleet.models import BatteryReading, IssuedKeyRow, Lock, LockEvent, LockSync
from hemlas.fleet.store import FleetStore

YEAR_START = int(dt.datetime(2025, 1, 1).timestamp())
DAY = 86400
PROVIDERS = [f"Omsorg {n} AB" for n in range(1, 6)]
KEYS_PER_LOCK = 3
READINGS_PER_LOCK = 12
CHUNK = 50_000
RUNS = 5


def _timed(what: str, fn, figures: list) -> float:
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    figures.append((what, seconds))
    print(f"  built: {what}: {seconds:.1f} s", flush=True)
    return seconds


def build(store: FleetStore, n_locks: int, n_events: int, rng: random.Random) -> dict:
    engine = store._engine  # bulk rows straight through Core: the API's per-row checks cost minutes here
    lock_ids = [f"HL-{i:06X}" for i in range(n_locks)]
    numbers = [f"{100000 + i}" for i in range(n_locks)]
    figures: list = []
    mounted_at: dict[str, int] = {}

    def customers_and_locks():
        for number, i in zip(numbers, range(n_locks)):
            store.add_customer(number, f"Customer {i}", f"Gatan {i % 500 + 1}", now=YEAR_START - 30 * DAY,
                               provider=PROVIDERS[i % len(PROVIDERS)])
        with engine.begin() as conn:
            conn.execute(insert(Lock), [{"lock_id": lock_id, "board": "esp32c3", "firmware_version": "1.0",
                                         "secret": os.urandom(32), "provisioned_at": YEAR_START - 60 * DAY}
                                        for lock_id in lock_ids])
            conn.execute(insert(IssuedKeyRow), [
                {"lock_id": lock_id, "person": f"Carer {(i * KEYS_PER_LOCK + k) % 2000}", "role": wire.ROLE_STAFF,
                 "not_before": YEAR_START - DAY, "not_after": YEAR_START + 400 * DAY,
                 "issued_at": YEAR_START - DAY, "superseded": False}
                for i, lock_id in enumerate(lock_ids) for k in range(KEYS_PER_LOCK)])

    def lifecycle():
        now = YEAR_START + 366 * DAY
        for lock_id, number in zip(lock_ids, numbers):
            at = YEAR_START + rng.randrange(0, 300 * DAY)
            store.mount_lock(lock_id, number, None, "Fitter A", at, now=now)
            mounted_at[lock_id] = at
        for lock_id in rng.sample(lock_ids, n_locks // 30):  # moves
            store.move_lock(lock_id, "Nya gatan 1", "Fitter B", mounted_at[lock_id] + 20 * DAY, now=now)
        for lock_id in rng.sample(lock_ids, n_locks // 20):  # home care ended
            at = mounted_at[lock_id] + 40 * DAY
            store.sign_out_key(lock_id, "Fitter C", at, now=now)
            store.dismantle_lock(lock_id, "Fitter C", at + DAY, now=now)
            store.return_key(lock_id, "Fitter C", at + 2 * DAY, now=now)

    def events():
        key_ids = {}
        with engine.connect() as conn:
            for key_id, lock_id in conn.execute(IssuedKeyRow.__table__.select().with_only_columns(
                    IssuedKeyRow.key_id, IssuedKeyRow.lock_id)):
                key_ids.setdefault(lock_id, []).append(key_id)
        per_lock = n_events // n_locks
        rows: list[dict] = []
        with engine.begin() as conn:
            for lock_id in lock_ids:
                t = mounted_at[lock_id]
                step = max(60, (YEAR_START + 365 * DAY - t) // per_lock)  # mean gap: 2 events a step
                keys = key_ids[lock_id]
                seq = 0
                while seq < per_lock:
                    t += rng.randrange(step, step * 3)
                    if seq % 10 < 8:  # a visit: unlock, then lock 20-60 minutes later
                        key = keys[(seq // 2) % len(keys)]
                        pair = ((t, wire.EVENT_UNLOCKED), (t + rng.randrange(1200, 3600), wire.EVENT_LOCKED))
                        events_here = [(at, kind, key, [900, 3100, 1, key]) for at, kind in pair]
                    else:  # the rest of a log: sessions, battery readings
                        events_here = [(t, wire.EVENT_SESSION, None, [keys[0], wire.ROLE_STAFF]),
                                       (t + 1, wire.EVENT_BATTERY, None, [0, 3500, 3300])]
                    for at, kind, key, fields in events_here:
                        seq += 1
                        rows.append({"lock_id": lock_id, "log_epoch": 0, "seq": seq, "at": at, "type": kind,
                                     "key_id": key, "fields": fields, "synced_at": at + 60})
                    if len(rows) >= CHUNK:
                        conn.execute(insert(LockEvent), rows)
                        rows = []
            if rows:
                conn.execute(insert(LockEvent), rows)
            conn.execute(insert(LockSync), [{"lock_id": lock_id, "log_epoch": 0, "next_seq": per_lock + 1,
                                             "lock_next_seq": per_lock + 1, "lost_events": 0,
                                             "synced_at": YEAR_START + 365 * DAY} for lock_id in lock_ids])

    def readings():
        with engine.begin() as conn:
            conn.execute(insert(BatteryReading), [
                {"lock_id": lock_id, "at": YEAR_START + (r + 1) * 30 * DAY, "idle_mv": 3600 - 20 * r,
                 "loaded_mv": 3400 - 25 * r, "state": wire.BATTERY_LOW if (i + r) % 97 == 0 else wire.BATTERY_OK,
                 "percent": 100 - 7 * r, "days_left": 300 - 25 * r, "charge_used_mah": 100 * r, "source": "connection"}
                for i, lock_id in enumerate(lock_ids) for r in range(READINGS_PER_LOCK)])

    def hours():
        # 97 % of mounts get their hour; a few hours are registered for customers without a mount.
        for i, (lock_id, number) in enumerate(zip(lock_ids, numbers)):
            if i % 33 == 0:
                continue
            day = dt.date.fromtimestamp(mounted_at[lock_id])
            store.register_hours(PROVIDERS[i % len(PROVIDERS)], number, day, "Coordinator", lock_id=lock_id,
                                 now=YEAR_START + 366 * DAY)

    _timed(f"{n_locks} customers and locks, {n_locks * KEYS_PER_LOCK} keys", customers_and_locks, figures)
    _timed(f"{n_locks} mounts, {n_locks // 30} moves, {n_locks // 20} dismantles (store API)", lifecycle, figures)
    _timed(f"{n_events} lock events", events, figures)
    _timed(f"{n_locks * READINGS_PER_LOCK} battery readings", readings, figures)
    _timed("compensation hours (store API)", hours, figures)
    return {"lock_ids": lock_ids, "numbers": numbers}


def time_report(name: str, fn) -> None:
    fn()  # warm-up: the first run also pays for SQLite's page cache
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    size = len(result) if hasattr(result, "__len__") else "-"
    print(f"  {name:58} median {1000 * statistics.median(times):8.1f} ms  "
          f"(min {1000 * min(times):.1f}, max {1000 * max(times):.1f}; {size} rows)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locks", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--keep", help="build the store in this directory and keep it")
    parser.add_argument("--url", help="an empty database to build the store in instead of SQLite "
                                      "(e.g. postgresql+psycopg://user@/hemlas_bench?host=/run/postgresql)")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="hemlas-bench-") as tmp:
        path = Path(args.keep or tmp) / "fleet.sqlite3"
        if path.exists() and not args.url:
            path.unlink()
        where = args.url or str(path)
        with FleetStore(where) as store:
            print(f"building a fleet store of {args.locks} locks and {args.events} events in "
                  f"{store.url.render_as_string(hide_password=True)}", flush=True)
            fleet = build(store, args.locks, args.events, rng)
            if not args.url:
                print(f"store file: {path.stat().st_size / 2**20:.0f} MiB")
            customer, lock_id = fleet["numbers"][4242 % args.locks], fleet["lock_ids"][4242 % args.locks]
            month_start = int(dt.datetime(2025, 10, 1).timestamp())
            month_end = int(dt.datetime(2025, 11, 1).timestamp())
            print("reports (store calls, as the commands make them):")
            time_report(f"hemlas visits {customer} (one month)", lambda: store.visits(customer, month_start, month_end))
            time_report(f"hemlas visits {customer} (the whole year)",
                        lambda: store.visits(customer, YEAR_START, YEAR_START + 365 * DAY))
            time_report(f"hemlas locks history {lock_id}", lambda: store.lock_history(lock_id))
            time_report(f"hemlas report compensation --provider '{PROVIDERS[0]}' --month 2025-06",
                        lambda: store.compensation_report(PROVIDERS[0], "2025-06").mounts)
            time_report(f"hemlas report batteries (all {args.locks} locks)",
                        lambda: store.battery_warnings(now=YEAR_START + 365 * DAY))


if __name__ == "__main__":
    main()
