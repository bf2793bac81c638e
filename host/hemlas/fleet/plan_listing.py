"""Listing planned visits and alarm accesses, scoped to the caller (a provider's; a carer's
own), each read in the audit log; the records the domain hands out; the CSV export."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .customers import check_provider
from .models import Account, PlannedVisit, PlannedVisitRecord, VisitKey
from .plan_csv import STOCKHOLM
from .roles import IMPORT_PLAN, READ_PLAN, Caller, require
from .tenancy import _listed

MAX_LISTED = 10_000
_CHUNK = 500  # bound an IN (...) list


def visits(session: Session, caller: Caller, *, provider: str | None = None,
           customer: str | None = None, carer: str | None = None, since: int | None = None,
           until: int | None = None, kind: str | None = None,
           limit: int = MAX_LISTED) -> list[PlannedVisitRecord]:
    """The caller's provider's visits (a carer's: their own) that end after ``since`` and
    start before ``until``, by start; ``kind`` "alarm" for the alarm accesses only."""
    require(caller, READ_PLAN)
    query = (select(PlannedVisit).join(Account, Account.account_id == PlannedVisit.carer_account_id)
             .order_by(PlannedVisit.planned_start, PlannedVisit.visit_id)
             .limit(max(1, min(int(limit), MAX_LISTED))))
    if not caller.all_providers:
        query = query.where(PlannedVisit.provider == caller.provider)
    elif provider:
        query = query.where(PlannedVisit.provider == check_provider(provider))
    if not caller.may(IMPORT_PLAN):
        query = query.where(PlannedVisit.carer_account_id == caller.account_id)
    if customer:
        query = query.where(PlannedVisit.customer_number == customer.strip())
    if carer:
        query = query.where(Account.login == carer.strip().casefold())
    if since is not None:
        query = query.where(PlannedVisit.planned_end > since)
    if until is not None:
        query = query.where(PlannedVisit.planned_start < until)
    if kind:
        query = query.where(PlannedVisit.kind == kind)
    found = list(session.scalars(query))
    records = records_of(session, found)
    audit.record(session, caller, "alarm.read" if kind == "alarm" else "plan.read",
                 _listed([str(v.visit_id) for v in found]), caller.provider)
    return records


def records_of(session: Session, found: list[PlannedVisit]) -> list[PlannedVisitRecord]:
    ids = [v.visit_id for v in found]
    keys: dict[int, list[int]] = defaultdict(list)
    accounts: dict[int, Account] = {}
    for i in range(0, len(ids), _CHUNK):
        for visit_id, key_id in session.execute(select(VisitKey.visit_id, VisitKey.key_id).where(
                VisitKey.visit_id.in_(ids[i:i + _CHUNK])).order_by(VisitKey.key_id)):
            keys[visit_id].append(key_id)
    for v in found:
        if v.carer_account_id not in accounts:
            accounts[v.carer_account_id] = session.get(Account, v.carer_account_id)
    return [_record(v, accounts[v.carer_account_id], tuple(keys[v.visit_id])) for v in found]


def record(session: Session, visit: PlannedVisit) -> PlannedVisitRecord:
    return records_of(session, [visit])[0]


def _record(v: PlannedVisit, carer: Account, key_ids: tuple[int, ...]) -> PlannedVisitRecord:
    return PlannedVisitRecord(v.visit_id, v.provider, v.external_id, v.customer_number,
                              carer.login, carer.display_name, v.planned_start, v.planned_end,
                              v.kind, v.status, v.reason, v.source, v.created_at, v.created_by,
                              v.changed_at, v.changed_by, key_ids)


CSV_FIELDS = ("visit_id", "external_id", "provider", "customer_number", "carer_login",
              "carer_name", "planned_start", "planned_end", "kind", "status", "reason", "key_ids")


def as_csv(records: list[PlannedVisitRecord], delimiter: str = ",") -> str:
    """The visits as CSV (csv_safe: what starts like a formula is written as text), times ISO
    8601 in Swedish time with their offset."""
    from . import csv_safe

    return csv_safe.document(CSV_FIELDS, ([
        r.visit_id, r.external_id, r.provider, r.customer_number, r.carer_login, r.carer_name,
        local_iso(r.planned_start), local_iso(r.planned_end), r.kind, r.status, r.reason,
        " ".join(map(str, r.key_ids))] for r in records), delimiter)


def local_iso(at: int) -> str:
    return datetime.fromtimestamp(at, STOCKHOLM).isoformat(timespec="minutes")
