"""A year of a provider's routine for 200 customers, through the fleet store's own rules:
NFC tags deactivated before mounts, mounts, moves, key sign-out / dismantle / key return,
daily visits logged by each lock and synced monthly, battery swaps with their five locks and
unlocks, manual visits when a lock failed, and registered compensation hours (some missing,
some in the wrong month, some for no mount).

The simulation keeps its own ledger of what happened. The compensation report, the visit
listings, the lifecycle histories and the key revocations are checked against that ledger,
an independent count: it never reads the store to decide what the store should say.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from collections import Counter, defaultdict

import pytest

from hemlas.firmware import wire
from hemlas.fleet.nfc import NfcTagActiveError
from hemlas.fleet.store import FleetStore
from hemlas.sync import sync_log
from log_helpers import PagedLog

YEAR = 2025
START = int(dt.datetime(YEAR, 1, 1).timestamp())
NOW = int(dt.datetime(YEAR + 1, 1, 10).timestamp())  # the present: after the year, for the store's checks
DAY = 86400
PROVIDERS = ("Omsorg Norr AB", "Omsorg Syd AB", "Kommunens hemtjänst")
N_CUSTOMERS, N_LOCKS = 200, 140


def _t(day: int, hour: float) -> int:
    """Local time on the year's day `day` (0-based), at `hour`: DST-proof, as a clock on a wall."""
    return int((dt.datetime(YEAR, 1, 1) + dt.timedelta(days=day, hours=hour)).timestamp())


def _month(t: int) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m")


class Year:
    def __init__(self, store: FleetStore, rng: random.Random):
        self.store, self.rng = store, rng
        self.logs = {f"HL-{i:06X}": PagedLog(f"HL-{i:06X}") for i in range(N_LOCKS)}
        self.free = list(self.logs)  # locks in stock
        self.placed: dict[str, dict] = {}  # lock -> {customer, carers: {person: key_id}, until_day}
        self.waiting = []  # customers whose home care has not begun
        # The ledger: the simulation's own record of what should be in every report.
        self.mounts: list[tuple[str, str, str, int]] = []  # provider, customer, lock, at
        self.hours: list[tuple[str, str, str, dt.date]] = []  # provider, customer, lock, day
        self.visits: dict[str, Counter] = defaultdict(Counter)  # customer -> (person, in, out, source)
        self.history: dict[str, list[str]] = defaultdict(list)  # lock -> actions
        self.revoked_keys: set[int] = set()
        self.refusals = Counter()

    def setup(self) -> None:
        for i in range(N_CUSTOMERS):
            number = f"{7000 + i}"
            self.store.add_customer(number, f"Kund {i}", f"Gatan {i}", now=START - 60 * DAY,
                                    provider=PROVIDERS[i % len(PROVIDERS)])
            if i % 4 == 0:  # an existing customer with the municipality's NFC tag up
                self.store.register_nfc_tag(number, f"NFC-{i:04d}", "Samordnare", at=START - 30 * DAY,
                                            now=START - 30 * DAY)
            begins = self.rng.randrange(0, 300)
            self.waiting.append((begins, number, i))
        for lock_id in self.logs:
            self.store.add_lock(lock_id, "esp32c3", "1.0", os.urandom(32), now=START - 90 * DAY)

    # ---- one day ---------------------------------------------------------------------------

    def day(self, d: int) -> None:
        for begins, number, i in [w for w in self.waiting if w[0] == d]:
            if self.free:
                self.waiting.remove((begins, number, i))
                self.mount(d, number, i)
        for lock_id, place in list(self.placed.items()):
            if d <= place["from_day"]:
                continue
            if d == place["until_day"]:
                self.dismantle(d, lock_id, place)
                continue
            if self.rng.random() < 0.004:
                self.move(d, lock_id, place)
            self.visit_day(d, lock_id, place)
            if self.rng.random() < 0.01:
                self.battery_swap(d, lock_id, place)
        if d % 30 == 29:
            self.sync_all()

    def mount(self, d: int, number: str, i: int) -> None:
        lock_id = self.free.pop(0)
        at = _t(d, 10)
        provider = PROVIDERS[i % len(PROVIDERS)]
        if i % 4 == 0:  # the tag is still up: the mount is refused until it is deactivated
            with pytest.raises(NfcTagActiveError):
                self.store.mount_lock(lock_id, number, None, "Låsmontör", at, now=NOW)
            self.refusals["nfc"] += 1
            self.store.deactivate_nfc_tag(number, "Samordnare", at=at - 3600, now=NOW)
        self.store.mount_lock(lock_id, number, None, "Låsmontör", at, now=NOW)
        self.history[lock_id].append("mount")
        self.mounts.append((provider, number, lock_id, at))
        carers = {}
        for person in (f"Vårdare {i}a", f"Vårdare {i}b"):
            key = self.store.issue_key(lock_id, person, wire.ROLE_STAFF, at, at + 400 * DAY, now=at)
            carers[person] = key.record.key_id
        tech = self.store.issue_key(lock_id, f"Tekniker {i}", wire.ROLE_TECHNICIAN, at, at + 400 * DAY, now=at)
        self.placed[lock_id] = {"customer": number, "carers": carers, "tech": (f"Tekniker {i}", tech.record.key_id),
                                "from_day": d, "until_day": min(364, d + self.rng.randrange(20, 250)), "i": i}
        roll = self.rng.random()  # the provider registers its hour: mostly right
        day = dt.date.fromtimestamp(at)
        if roll < 0.85:
            self.register_hour(provider, number, lock_id, day)
        elif roll < 0.92:
            self.register_hour(provider, number, lock_id, day + dt.timedelta(days=40))  # wrong month
        # else: forgotten

    def register_hour(self, provider: str, number: str, lock_id: str | None, day: dt.date) -> None:
        self.store.register_hours(provider, number, day, "Samordnare", lock_id=lock_id, now=NOW)
        self.hours.append((provider, number, lock_id or "", day))

    def move(self, d: int, lock_id: str, place: dict) -> None:
        self.store.move_lock(lock_id, f"Nya vägen {d}", "Låsmontör", _t(d, 12), now=NOW)
        self.history[lock_id].append("move")

    def dismantle(self, d: int, lock_id: str, place: dict) -> None:
        with pytest.raises(Exception, match="sign"):  # no dismantling before the key is signed out
            self.store.dismantle_lock(lock_id, "Låsmontör", _t(d, 13), now=NOW)
        self.refusals["dismantle before sign-out"] += 1
        self.store.sign_out_key(lock_id, "Låsmontör", _t(d, 12), now=NOW)
        self.store.dismantle_lock(lock_id, "Låsmontör", _t(d, 13), now=NOW)
        self.store.return_key(lock_id, "Låsmontör", _t(d, 15), now=NOW)
        self.history[lock_id] += ["key_signed_out", "dismantle", "key_returned"]
        revoked = set(place["carers"].values()) | {place["tech"][1]}
        self.revoked_keys |= revoked
        # `hemlas keys push` (the host's admin connection) tells the lock of the revocations:
        # until then the lock is not mounted for another customer.
        for key_id in sorted(revoked):
            self.store.mark_revocation_pushed(key_id, now=_t(d, 14))
        del self.placed[lock_id]
        self.free.append(lock_id)

    def visit_day(self, d: int, lock_id: str, place: dict) -> None:
        log, number = self.logs[lock_id], place["customer"]
        people = list(place["carers"].items())
        for hour in (8, 18) if d % 3 == 0 else (9,):
            person, key = people[(d + hour) % 2]
            t_in = _t(d, hour) + self.rng.randrange(0, 1800)
            if self.rng.random() < 0.01:  # the lock failed: the physical key, registered by hand
                self.store.register_manual_visit(number, person, t_in, "Låset svarade inte; nyckeln användes",
                                                 out_at=t_in + 1500, now=NOW)
                self.visits[number][(person, t_in, t_in + 1500, "manual")] += 1
                continue
            t_out = t_in + self.rng.randrange(900, 3000)
            log.append(t_in, wire.EVENT_SESSION, (key, wire.ROLE_STAFF))
            log.append(t_in + 5, wire.EVENT_UNLOCKED, (900, 3100, 1, key))
            log.append(t_out, wire.EVENT_LOCKED, (900, 3100, 1, key))
            self.visits[number][(person, t_in + 5, t_out, "lock")] += 1

    def battery_swap(self, d: int, lock_id: str, place: dict) -> None:
        """The technician lets themselves in, swaps and registers the battery, locks and
        unlocks five times each (the routine), and locks the door on leaving: one visit."""
        log, number = self.logs[lock_id], place["customer"]
        person, key = place["tech"]
        t = _t(d, 14)
        log.append(t, wire.EVENT_UNLOCKED, (900, 3100, 1, key))
        swap = self.store.begin_swap(lock_id, person, now=t + 30)
        log.append(t + 60, wire.EVENT_BATTERY_SWAP, (3620, 3480, 1800, key))
        self.store.mark_swap_registered(swap.swap_id, 3480, now=t + 60)
        for n in range(10):
            locking = n % 2 == 0
            at = t + 120 + 20 * n
            log.append(at, wire.EVENT_LOCKED if locking else wire.EVENT_UNLOCKED, (900, 3400, 1, key))
            self.store.add_swap_cycle(swap.swap_id, n, "lock" if locking else "unlock", wire.STATUS_OK,
                                      1 if locking else 2, 900, 3400, at=at)
        self.store.finish_swap(swap.swap_id, "passed", now=t + 400)
        log.append(t + 600, wire.EVENT_LOCKED, (900, 3400, 1, key))
        self.visits[number][(person, t, t + 600, "lock")] += 1

    def sync_all(self) -> None:
        for lock_id, log in self.logs.items():
            if log.records and self.store.sync_cursor(lock_id).next_seq < log.next_seq:
                result = asyncio.run(sync_log(log, self.store))
                assert result.lost == 0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def year(request, tmp_path_factory):
    """The year, once per backend (PostgreSQL skipped, saying why, without a server)."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("year") / "fleet.sqlite3")
    else:
        url = _postgres_database(request.getfixturevalue("postgres_server"))
    with FleetStore(url) as store:
        sim = Year(store, random.Random(2025))
        sim.setup()
        for d in range(365):
            sim.day(d)
        sim.sync_all()
        yield sim
    if request.param == "postgresql":
        _postgres_admin(request.getfixturevalue("postgres_server"), "DROP DATABASE IF EXISTS {} WITH (FORCE)")


def _postgres_admin(server: str, statement: str) -> str:
    """Run statement (naming this run's year database) on the server; that database's URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"hemlas_year_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement.format(f'"{name}"')))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _postgres_database(server: str) -> str:
    _postgres_admin(server, "DROP DATABASE IF EXISTS {} WITH (FORCE)")
    return _postgres_admin(server, "CREATE DATABASE {}")


def _expected_compensation(sim: Year, provider: str, month: str):
    """The documented rule, counted from the ledger: an hour pays for a mount of the same
    provider, customer and calendar month; each mount takes one hour."""
    mounts = [m for m in sim.mounts if m[0] == provider and _month(m[3]) == month]
    hours = Counter((h[1], h[2]) for h in sim.hours if h[0] == provider and h[3].strftime("%Y-%m") == month)
    unmatched_mounts = []
    for _p, number, lock_id, _at in mounts:
        if hours[(number, lock_id)]:
            hours[(number, lock_id)] -= 1
        else:
            unmatched_mounts.append((number, lock_id))
    return len(mounts), sorted(unmatched_mounts), sum(hours.values())


def test_the_compensation_report_matches_an_independent_count(year):
    checked = Counter()
    for provider in PROVIDERS:
        for m in range(1, 13):
            month = f"{YEAR}-{m:02d}"
            report = year.store.compensation_report(provider, month)
            n_mounts, unmatched, extra_hours = _expected_compensation(year, provider, month)
            assert len(report.mounts) == n_mounts, (provider, month)
            assert sorted((u.customer_number, u.lock_id) for u in report.unmatched_mounts) == unmatched
            assert len(report.unmatched_hours) == extra_hours, (provider, month)
            checked["mounts"] += n_mounts
            checked["unmatched"] += len(unmatched) + extra_hours
    assert checked["mounts"] == len(year.mounts) >= 150  # every mount of the year, in some month
    assert checked["unmatched"] > 0  # the year had mismatches, and the report found each one


def test_every_customers_visits_match_the_ledger(year):
    for number, expected in year.visits.items():
        listed = year.store.visits(number, START, NOW)
        got = Counter((v.person, v.in_at, v.out_at, v.source) for v in listed)
        assert got == +expected, number
    assert sum(sum(c.values()) for c in year.visits.values()) > 10_000


def test_lifecycle_histories_refusals_and_revocations(year):
    for lock_id, actions in year.history.items():
        assert [r.action for r in year.store.lock_history(lock_id)] == actions
    assert year.refusals["nfc"] > 20 and year.refusals["dismantle before sign-out"] > 20
    for key_id in year.revoked_keys:
        assert year.store.key(key_id).revoked_at is not None
    assert all(tag.deactivated_at is not None for tag in year.store.nfc_tags())
