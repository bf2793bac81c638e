"""The pairing of lock events into visits, against an oracle written from docs/visits.md
("Pairing: the rule"), with Hypothesis: random interleavings of several people's locks and
unlocks, short and long gaps, a door found unlocked or locked, battery swaps (the guided flow's
registration and its five locks and unlocks), "no move needed" events, the lock's clock set
back, button events (key 0) and other event types.

The oracle is this file's own reading of the documented rule; it shares no code with
hemlas.fleet.visit_pairing.
"""

from __future__ import annotations

import os
from collections import Counter
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hemlas.firmware import wire
from hemlas.fleet.store import FleetStore
from hemlas.fleet.visits import pair_visits
from hemlas.results import EventRecord

U, L = wire.EVENT_UNLOCKED, wire.EVENT_LOCKED
SWAP, REFUSED = wire.EVENT_BATTERY_SWAP, wire.EVENT_SWAP_REFUSED
TEN_MINUTES, TWELVE_HOURS = 600, 12 * 3600  # docs/visits.md: the rule's two limits
T0 = 1_790_000_000
PEOPLE = ("Anna", "Bo", "Cecilia")  # key index 1, 2, 3 (key 4 is Anna's second key)
PERSON_OF_KEY = {1: "Anna", 2: "Bo", 3: "Cecilia", 4: "Anna"}


def _fields(kind: int, key: int, no_move: bool = False) -> tuple:
    """The event's fields as firmware/wire.py lays them out, key id included."""
    if kind in (U, L):
        return (0, 0, 0, key) if no_move else (900, 3100, 1, key)
    if kind == SWAP:
        return (3620, 3480, 1800, key)
    if kind == REFUSED:
        return (3000, 2500, key)
    return (key, wire.ROLE_STAFF)  # EVENT_SESSION: key id, role (not a visit event)


# ---- the oracle, from docs/visits.md ---------------------------------------------------------

def oracle(events, person_of, low=None, high=None) -> list[dict]:
    """Visits from (at, type, key) events in log order, as docs/visits.md's rule says, each
    with the log positions of its events."""
    staff = [(i, at, kind, key) for i, (at, kind, key) in enumerate(events)
             if kind in (U, L, SWAP, REFUSED) and key != 0
             and (low is None or at >= low) and (high is None or at < high)]
    visits = []
    for person in {person_of(key) for _, _, _, key in staff}:
        mine = [e for e in staff if person_of(e[3]) == person]
        groups = [[mine[0]]]
        for previous, event in zip(mine, mine[1:]):
            moves = [kind for _, _, kind, _ in groups[-1] if kind in (U, L)]
            inside = bool(moves) and moves[-1] == U
            limit = TWELVE_HOURS if inside and event[2] != U else TEN_MINUTES
            if event[1] >= previous[1] and event[1] - previous[1] <= limit:
                groups[-1].append(event)
            else:
                groups.append([event])
        for group in groups:
            first, locks = group[0], [at for _, at, kind, _ in group if kind == L]
            visits.append({"person": person, "at": first[1], "in": first[1] if first[2] == U else None,
                           "out": locks[-1] if locks else None, "key": first[3],
                           "swap": any(kind in (SWAP, REFUSED) for _, _, kind, _ in group),
                           "positions": [i for i, _, _, _ in group], "last": group[-1][1]})
    return sorted(visits, key=lambda v: v["positions"][0])


# ---- histories -------------------------------------------------------------------------------

GAPS = st.one_of(st.integers(0, 90),  # seconds apart: the swap's checks, a quick lock
                 st.integers(TEN_MINUTES - 60, TEN_MINUTES + 60),  # around the re-entry limit
                 st.integers(900, 4 * 3600),  # an ordinary visit's length, or between visits
                 st.integers(TWELVE_HOURS - 120, TWELVE_HOURS + 120),  # around the 12 hours
                 st.integers(-3 * 3600, -1))  # the lock's clock set back


@st.composite
def histories(draw, max_steps=25):
    """A lock's log: (at, type, fields) in log order, always at or after T0."""
    events, at = [], T0 + draw(st.integers(0, 3600))
    for _ in range(draw(st.integers(1, max_steps))):
        at = max(T0, at + draw(GAPS))
        key = draw(st.sampled_from([0, 1, 2, 3, 4]))
        what = draw(st.sampled_from(["unlock", "lock", "unlock", "lock", "no-move", "swap",
                                     "refused", "session", "guided swap"]))
        if what == "guided swap":  # registration, then locks and unlocks from the door's state
            door_unlocked = draw(st.booleans())
            events.append((at, SWAP, _fields(SWAP, key)))
            for n in range(10):
                at += draw(st.integers(5, 40))
                kind = (L if n % 2 == 0 else U) if door_unlocked else (U if n % 2 == 0 else L)
                events.append((at, kind, _fields(kind, key)))
        elif what in ("unlock", "lock", "no-move"):
            kind = draw(st.sampled_from([U, L])) if what == "no-move" else (U if what == "unlock" else L)
            events.append((at, kind, _fields(kind, key, no_move=what == "no-move")))
        else:
            kind = {"swap": SWAP, "refused": REFUSED, "session": wire.EVENT_SESSION}[what]
            events.append((at, kind, _fields(kind, key)))
    return events


def _key_at(kind: int) -> int:
    """Where the key id is, as this test reads firmware/wire.py's field layout."""
    return 2 if kind == REFUSED else 0 if kind == wire.EVENT_SESSION else 3


def _key(kind: int, fields: tuple) -> int:
    return fields[_key_at(kind)]


def _pure(events):
    """The code's visits for a history whose keys are PERSON_OF_KEY's."""
    return pair_visits("1001", "HL-1", [(at, kind, _key(kind, f), PERSON_OF_KEY.get(_key(kind, f)))
                                        for at, kind, f in events])


def _as_oracle(events):
    return oracle([(at, kind, _key(kind, f)) for at, kind, f in events], PERSON_OF_KEY.get)


def _summary(v) -> tuple:
    return (v.person, v.at, v.in_at, v.out_at, v.key_id, v.battery_swap, v.events, v.last_at)


def _oracle_summary(v) -> tuple:
    return (v["person"], v["at"], v["in"], v["out"], v["key"], v["swap"], len(v["positions"]), v["last"])


# ---- properties, on the pairing alone --------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(histories())
def test_every_staff_event_is_in_exactly_one_visit_as_the_rule_says(events):
    expected = _as_oracle(events)
    staff = [i for i, (_, kind, f) in enumerate(events)
             if kind in (U, L, SWAP, REFUSED) and _key(kind, f) != 0]
    assert sorted(i for v in expected for i in v["positions"]) == staff  # the oracle partitions
    got = _pure(events)
    assert [_summary(v) for v in got] == [_oracle_summary(v) for v in expected]
    assert sum(v.events for v in got) == len(staff)
    assert all(v.at is not None and v.at >= T0 for v in got)  # no visit without a time


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_a_visit_once_listed_stays_listed_and_only_gains_precision(events, data):
    cut = data.draw(st.integers(0, len(events)))
    before, after = _pure(events[:cut]), _pure(events)
    assert len(after) >= len(before)
    for old, new in zip(before, after):  # visits in the order of their first events
        assert (new.person, new.at, new.in_at, new.key_id, new.lock_id) == \
               (old.person, old.at, old.in_at, old.key_id, old.lock_id)
        assert old.out_at is None or (new.out_at is not None and new.out_at >= old.out_at)
        assert new.events >= old.events and new.last_at >= old.last_at
        assert new.battery_swap >= old.battery_swap


@settings(max_examples=200, deadline=None)
@given(histories(), st.lists(st.integers(0, 4 * 86400), max_size=6))
def test_adjacent_windows_list_each_visit_exactly_once(events, cuts):
    visits = _pure(events)
    edges = [T0] + sorted(T0 + c for c in cuts) + [T0 + 10 * 86400]
    listed = [v for start, end in zip(edges, edges[1:]) for v in visits if start <= v.at < end]
    assert Counter(map(_summary, listed)) == Counter(map(_summary, visits))


# ---- examples named in issue 11 --------------------------------------------------------------

def test_a_lock_then_an_unlock_is_a_visit():
    """Door found unlocked: `hemlas lock L; hemlas unlock L` was listed as nothing."""
    [visit] = _pure([(T0, L, _fields(L, 1)), (T0 + 30, U, _fields(U, 1))])
    assert (visit.person, visit.at, visit.in_at, visit.out_at) == ("Anna", T0, None, T0)


def test_no_move_needed_events_give_the_visit_its_time():
    """A lock of a locked door and an unlock of an unlocked one are logged with no motor run
    (attempts 0, docs/firmware.md): still the carer's events, and the visit gets its time.
    Anna checks the locked door with a lock and lets the nurse in with an unlock; Bo finds
    the door unlocked, "unlocks" it and locks it on leaving."""
    events = [(T0, L, (0, 0, 0, 1)), (T0 + 300, U, (0, 0, 0, 1)),  # both "no move needed"
              (T0 + 86400, U, (0, 0, 0, 2)), (T0 + 86400 + 1500, L, (900, 3100, 1, 2))]
    got = [(v.person, v.at, v.in_at, v.out_at) for v in _pure(events)]
    assert got == [("Anna", T0, None, T0), ("Bo", T0 + 86400, T0 + 86400, T0 + 86400 + 1500)]


@pytest.mark.parametrize("door", ["unlocked", "locked"])
def test_a_guided_battery_swap_is_one_visit_marked_as_a_swap(door):
    events = [(T0, SWAP, _fields(SWAP, 3))]
    for n in range(10):
        kind = (L if n % 2 == 0 else U) if door == "unlocked" else (U if n % 2 == 0 else L)
        events.append((T0 + 20 + 20 * n, kind, _fields(kind, 3)))
    [visit] = _pure(events)
    assert visit.battery_swap and visit.kind == "battery_swap" and visit.events == 11
    assert (visit.at, visit.person) == (T0, "Cecilia")
    assert visit.out_at == max(at for at, kind, _ in events if kind == L)


# ---- the same through the real store ---------------------------------------------------------

_LOCKS = count(1)


def _through_store(store, events, cut):
    """A fresh lock and customer, keys 1..4 issued; the log synced up to ``cut``, listed,
    synced to the end, listed again."""
    n = next(_LOCKS)
    lock_id, number = f"HL-P{n:05d}", f"{50000 + n}"
    store.add_lock(lock_id, "virtual", "1.0", os.urandom(32), now=T0 - 86400)
    store.add_customer(number, f"Kund {n}", "Gatan 1", now=T0 - 86400)
    store.assign_lock(lock_id, number, now=T0 - 86400)
    ids = {0: 0}
    for index in (1, 2, 3, 4):
        ids[index] = store.issue_key(lock_id, PERSON_OF_KEY[index], wire.ROLE_STAFF, T0 - 86400,
                                     T0 + 30 * 86400, now=T0 - 86400).record.key_id
    person = {real: PERSON_OF_KEY[index] for index, real in ids.items() if index}.get
    records = []
    for seq, (at, kind, fields) in enumerate(events, 1):
        real = list(fields)
        real[_key_at(kind)] = ids[fields[_key_at(kind)]]
        records.append(EventRecord(seq, at, kind, tuple(real)))
    epoch = store.sync_cursor(lock_id).log_epoch
    listings = []
    for part in (records[:cut], records[cut:]):
        for i in range(0, len(part), wire.MAX_LOG_RECORDS):
            page = part[i:i + wire.MAX_LOG_RECORDS]
            store.store_log_page(lock_id, epoch, page[-1].seq + 1, page, now=T0)
        listings.append(store.visits(number, T0 - 86400, T0 + 10 * 86400))
    expected = oracle([(r.time, r.type, _key(r.type, r.fields)) for r in records], person)
    return number, listings, expected


@pytest.mark.parametrize("backend_examples", [25])
def test_the_store_lists_what_the_rule_says_and_keeps_what_it_listed(store_url, backend_examples):
    with FleetStore(store_url) as store:

        @settings(max_examples=backend_examples, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(histories(max_steps=18), st.data())
        def check(events, data):
            number, (before, after), expected = _through_store(
                store, events, data.draw(st.integers(0, len(events))))
            summary = Counter((v.person, v.at, v.in_at, v.out_at, v.battery_swap) for v in after)
            assert summary == Counter((v["person"], v["at"], v["in"], v["out"], v["swap"])
                                      for v in expected)
            identity = Counter((v.person, v.at, v.in_at) for v in before)
            assert not identity - Counter((v.person, v.at, v.in_at) for v in after)
            # Adjacent windows, each visit once.
            edges = sorted({T0 - 86400, T0 + 10 * 86400,
                            *data.draw(st.lists(st.integers(T0, T0 + 3 * 86400), max_size=4))})
            parts = [v for a, b in zip(edges, edges[1:]) for v in store.visits(number, a, b)]
            assert Counter(map(_summary, parts)) == Counter(map(_summary, after))

        check()
