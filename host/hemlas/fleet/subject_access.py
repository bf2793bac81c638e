"""An access request (GDPR art. 15; docs/privacy.md): everything the fleet store holds about
one customer, as one JSON document, for the customer's provider's coordinator or the lock
administrator to hand over; the export itself is recorded in the audit log.

It holds the customer's record, the locks with them and their placements, the lifecycle
records, NFC tags, visits (from the locks' logs and by hand, corrections too), the visits
planned and the alarm accesses (with their reasons), the door
events of their placements, the battery swaps at their home, the registered hours, the keys
that could open their door while a lock was theirs (metadata, never key bytes), who read or
changed their data (the audit log: art. 15(1)(c)), and how long each kind is kept (art.
15(1)(d)). Staff names are in it as the records hold them: the coordinator reviews the
export before it is handed over (art. 15(4); offentlighets- och sekretesslagen).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from . import audit, retention
from .customers import UnknownCustomerError
from .models import (AuditEntry, BatterySwap, CompensationHour, Customer, IssuedKeyRow,
                     LockAssignment, LockEvent, LockLifecycle, NfcTag, PlannedVisit)
from .retention_rules import DOOR_EVENTS
from .roles import EXPORT_CUSTOMER, Caller, require

ACTION = "customers.export"
FORMAT = "hemlas-access-request/1"
_END = 2 ** 32  # after every time a lock or the host can write
_DOOR_NAMES = {18: "door_opened", 19: "door_closed", 20: "door_left_open", 21: "forced"}


def _iso(t: int | None) -> str | None:
    return None if t is None else audit.iso(t)


def _scoped(session: Session, caller: Caller, number) -> Customer:
    row = session.get(Customer, number.strip()) if isinstance(number, str) else None
    if row is None or not (caller.all_providers or row.provider == caller.provider):
        raise UnknownCustomerError(number)
    return row


def export(store, caller: Caller, number: str, now: int | None = None) -> dict:
    """Customer ``number``'s data as one JSON-ready document.

    Raises:
        ForbiddenError: the caller may not export.
        UnknownCustomerError: no such customer, or another provider's.
    """
    require(caller, EXPORT_CUSTOMER)
    now = int(time.time()) if now is None else now
    with store.unit_of_work() as uow:
        row = _scoped(uow, caller, number)
        number = row.customer_number
        document = _records(uow, row)
    visits = store.visits(number, 0, _END, include_all=True)
    document["visits"] = [{**asdict(v), "at": _iso(v.at), "in_at": _iso(v.in_at),
                           "out_at": _iso(v.out_at), "last_at": _iso(v.last_at)}
                          for v in visits]
    rules = retention.policy()
    document["retention"] = {k.name: {"period": rules.periods[k.name],
                                      "unit": "years" if k.years else "days"}
                             for k in retention.KINDS}
    document["export"] = {"format": FORMAT, "made_at": _iso(now), "made_by": caller.actor}
    with store.unit_of_work() as uow:  # recorded before the answer leaves
        audit.record(uow, caller, ACTION, f"customer {number}", row.provider, now=now)
    return document


def _records(session: Session, row: Customer) -> dict:
    number = row.customer_number
    placements = session.execute(select(LockAssignment).where(
        LockAssignment.customer_number == number).order_by(LockAssignment.assigned_at)).scalars().all()
    periods = [(p.lock_id, p.assigned_at, p.ended_at) for p in placements]
    return {
        "customer": {"customer_number": number, "name": row.name, "address": row.address,
                     "personal_number": row.personal_number, "provider": row.provider,
                     "created_at": _iso(row.created_at)},
        "locks_now": [lock for lock, _a, ended in periods if ended is None],
        "placements": [{"lock_id": lock, "from": _iso(a), "until": _iso(e)}
                       for lock, a, e in periods],
        "lifecycle": [{"lock_id": r.lock_id, "action": r.action, "at": _iso(r.at),
                       "address": r.address, "person": r.person, "provider": r.provider,
                       "note": r.note, "recorded_at": _iso(r.recorded_at)}
                      for r in session.scalars(select(LockLifecycle).where(
                          LockLifecycle.customer_number == number).order_by(LockLifecycle.record_id))],
        "nfc_tags": [{"tag": t.tag, "registered_at": _iso(t.registered_at),
                      "registered_by": t.registered_by, "deactivated_at": _iso(t.deactivated_at),
                      "deactivated_by": t.deactivated_by}
                     for t in session.scalars(select(NfcTag).where(
                         NfcTag.customer_number == number).order_by(NfcTag.nfc_tag_id))],
        "door_events": _door_events(session, periods),
        "battery_swaps": [{"lock_id": s.lock_id, "person": s.person,
                           "started_at": _iso(s.started_at), "status": s.status,
                           "registered_at": _iso(s.registered_at),
                           "finished_at": _iso(s.finished_at), "reason": s.reason}
                          for s in session.scalars(select(BatterySwap).where(
                              BatterySwap.customer_number == number).order_by(BatterySwap.swap_id))],
        "compensation_hours": [{"provider": h.provider, "day": h.day.isoformat(),
                                "lock_id": h.lock_id, "registered_by": h.registered_by,
                                "registered_at": _iso(h.registered_at)}
                               for h in session.scalars(select(CompensationHour).where(
                                   CompensationHour.customer_number == number)
                                   .order_by(CompensationHour.day, CompensationHour.hour_id))],
        "planned_visits": [{"visit_id": v.visit_id, "kind": v.kind, "status": v.status,
                            "planned_start": _iso(v.planned_start),
                            "planned_end": _iso(v.planned_end), "reason": v.reason,
                            "provider": v.provider, "created_at": _iso(v.created_at),
                            "created_by": v.created_by}
                           for v in session.scalars(select(PlannedVisit).where(
                               PlannedVisit.customer_number == number)
                               .order_by(PlannedVisit.planned_start, PlannedVisit.visit_id))],
        "keys": _keys(session, periods),
        "disclosures": _disclosures(session, number),
    }


def _during(column_lock, column_at, periods):
    return or_(*((column_lock == lock) & (column_at >= start) &
                 (column_at < (end if end is not None else _END))
                 for lock, start, end in periods))


def _door_events(session: Session, periods) -> list[dict]:
    if not periods:
        return []
    rows = session.execute(select(LockEvent.lock_id, LockEvent.at, LockEvent.type, LockEvent.fields)
                           .where(LockEvent.type.in_(DOOR_EVENTS),
                                  _during(LockEvent.lock_id, LockEvent.at, periods))
                           .order_by(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq)).all()
    return [{"lock_id": lock, "at": _iso(at), "event": _DOOR_NAMES.get(kind, str(kind)),
             "fields": list(fields)} for lock, at, kind, fields in rows]


def _keys(session: Session, periods) -> list[dict]:
    """Keys valid at some time while a lock was the customer's: who could open the door."""
    if not periods:
        return []
    overlapping = or_(*((IssuedKeyRow.lock_id == lock) & (IssuedKeyRow.not_after >= start) &
                        (IssuedKeyRow.not_before < (end if end is not None else _END))
                        for lock, start, end in periods))
    return [{"key_id": k.key_id, "lock_id": k.lock_id, "person": k.person, "role": k.role,
             "valid_from": _iso(k.not_before), "valid_until": _iso(k.not_after),
             "revoked_at": _iso(k.revoked_at)}
            for k in session.scalars(select(IssuedKeyRow).where(overlapping)
                                     .order_by(IssuedKeyRow.key_id))]


def _disclosures(session: Session, number: str) -> list[dict]:
    """Audit entries naming the customer (a read of them, or of a list they were in)."""
    rows = session.scalars(select(AuditEntry).where(AuditEntry.target.contains(number))
                           .order_by(AuditEntry.audit_id))
    return [{"at": _iso(e.at), "actor": e.actor, "action": e.action, "provider": e.provider}
            for e in rows if number in re.split(r"[^0-9A-Za-z-]+", e.target or "")]
