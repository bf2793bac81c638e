"""Visits read from one lock's event log: the pairing rule of docs/visits.md ("Pairing").

Every staff event (a lock, an unlock or a battery-swap registration, with a key) belongs to
exactly one visit, and a visit once listed stays listed as more events arrive: a visit is
decided by its own events and the person's event just before it, never by what comes later,
and it is listed by the time of its first event, which never changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..firmware import wire

# Locking and unlocking again within MERGE_GAP_S stays the same visit (the routine's five
# lock/unlock checks after a battery swap, a carer stepping out to the car). A person inside
# (last move an unlock) who locks or registers a swap more than MAX_VISIT_S later has lost
# that visit's "out": the lock begins a visit of its own.
MERGE_GAP_S = 10 * 60
MAX_VISIT_S = 12 * 3600
MOVE_EVENTS = (wire.EVENT_UNLOCKED, wire.EVENT_LOCKED)
SWAP_EVENTS = (wire.EVENT_BATTERY_SWAP, wire.EVENT_SWAP_REFUSED)
VISIT_EVENTS = MOVE_EVENTS + SWAP_EVENTS
# Where each event type carries the key that did it (firmware/wire.py).
KEY_FIELD = {wire.EVENT_LOCKED: 3, wire.EVENT_UNLOCKED: 3,  # travel_ms, loaded_mv, attempts, key
             wire.EVENT_BATTERY_SWAP: 3,  # idle_mv, loaded_mv, mAh, key
             wire.EVENT_SWAP_REFUSED: 2}  # idle_mv, loaded_mv, key
MANUAL, LOCK = "manual", "lock"
KIND_VISIT, KIND_SWAP = "visit", "battery_swap"
CURRENT, WITHDRAWN, CORRECTED = "current", "withdrawn", "corrected"


def event_key_id(event_type: int, fields: Sequence) -> int | None:
    """The key id an event carries (None: no key, the lock's button or console, or an event
    that names none)."""
    index = KEY_FIELD.get(event_type)
    if index is None or len(fields) <= index:
        return None
    return int(fields[index]) or None


@dataclass(frozen=True)
class Correction:
    """A manual visit's (or hour's) correction record: who, when, why, and its replacement."""

    action: str  # "correct" or "withdraw"
    by: str
    reason: str
    recorded_at: int
    replacement_id: int | None


@dataclass(frozen=True)
class Visit:
    """One visit at a customer: from the lock's log (source "lock") or registered by hand."""

    customer_number: str
    person: str
    at: int  # the visit's time, that listings window by: its first event (manual: its "in")
    in_at: int | None  # None: the visit did not begin with this person's unlock
    out_at: int | None  # the visit's last lock; None: none (yet), or a manual visit without an end
    source: str  # "lock" or "manual"
    lock_id: str | None = None
    key_id: int | None = None
    note: str | None = None
    visit_id: int | None = None  # manual visits
    battery_swap: bool = False  # the visit holds a battery-swap registration (or its refusal)
    events: int = 0  # lock visits: how many of the lock's events it holds
    last_at: int | None = None  # lock visits: its last event
    corrects: int | None = None  # manual visits: the visit id this one replaces
    status: str = CURRENT  # manual visits: current, withdrawn or corrected
    correction: Correction | None = None  # manual visits withdrawn or corrected: the record

    @property
    def kind(self) -> str:
        return KIND_SWAP if self.battery_swap else KIND_VISIT


@dataclass
class _Building:
    person: str
    key_id: int
    first_at: int
    in_at: int | None
    last_at: int = 0
    out_at: int | None = None
    inside: bool = False  # the last lock or unlock was an unlock
    swap: bool = False
    events: int = 0

    def continues_with(self, at: int, kind: int) -> bool:
        if at < self.last_at:  # the lock's clock went back: not one visit ending before it began
            return False
        limit = MAX_VISIT_S if self.inside and kind != wire.EVENT_UNLOCKED else MERGE_GAP_S
        return at - self.last_at <= limit

    def add(self, at: int, kind: int) -> None:
        self.last_at, self.events = at, self.events + 1
        if kind == wire.EVENT_LOCKED:
            self.out_at, self.inside = at, False
        elif kind == wire.EVENT_UNLOCKED:
            self.inside = True
        else:
            self.swap = True


def pair_visits(customer_number: str, lock_id: str, events: Iterable) -> list[Visit]:
    """Visits from one lock's events (at, type, key_id, person), in log order, in the order
    of their first events. Events of other types or without a key are no one's visit."""
    building: list[_Building] = []
    latest: dict[str, _Building] = {}
    for at, kind, key_id, person in events:
        if kind not in VISIT_EVENTS or not key_id:
            continue
        visit = latest.get(person)
        if visit is None or not visit.continues_with(at, kind):
            visit = _Building(person, key_id, at, at if kind == wire.EVENT_UNLOCKED else None)
            building.append(visit)
            latest[person] = visit
        visit.add(at, kind)
    return [Visit(customer_number, v.person, v.first_at, v.in_at, v.out_at, LOCK, lock_id, v.key_id,
                  battery_swap=v.swap, events=v.events, last_at=v.last_at) for v in building]


__all__ = ["CORRECTED", "CURRENT", "Correction", "KIND_SWAP", "KIND_VISIT", "LOCK", "MANUAL",
           "MAX_VISIT_S", "MERGE_GAP_S", "MOVE_EVENTS", "SWAP_EVENTS", "VISIT_EVENTS", "Visit",
           "WITHDRAWN", "event_key_id", "pair_visits"]
