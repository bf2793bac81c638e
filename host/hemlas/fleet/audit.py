"""The audit log: every action that changes something, or reveals personal data, in one
append-only table (who, when, what, from which device and address, whose data).

An entry is written in the same transaction as the change it records, so there is never a
change without its entry or an entry for a change that was rolled back; a read is recorded
before its answer leaves. It never holds a secret: no password, token, lock secret or key
bytes; targets are ids and names the caller already had (a customer number, a lock id, a
login). The database refuses UPDATE and DELETE on it (migration 0006's triggers).
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import csv_safe
from .models import (AUDIT_ACTION_LENGTH, AUDIT_TARGET_LENGTH, PROVIDER_LENGTH, AuditEntry,
                     AuditRecord)
from .roles import Caller

OK, REFUSED = "ok", "refused"
CSV_FIELDS = ("audit_id", "at", "actor", "device", "address", "action", "target", "provider",
              "outcome")
_DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000  # one answer's rows; an export pages on with before_id


def record(session: Session, caller: Caller, action: str, target: str | None = None,
           provider: str | None = None, outcome: str = OK, *, now: int | None = None) -> None:
    """Add one entry in ``session``'s transaction.

    Args:
        caller: who did it (its account, device and address are recorded).
        action: what, as "domain.verb" (e.g. "customers.read", "accounts.disable").
        target: which record(s): ids only, never a secret.
        provider: whose data it was, when one provider's.
        outcome: "ok", or "refused" for a refusal worth keeping (a failed login).
    """
    session.add(AuditEntry(
        at=int(time.time()) if now is None else now, account_id=caller.account_id,
        actor=caller.actor[:200], device=caller.device, address=caller.address,
        action=action[:AUDIT_ACTION_LENGTH],
        target=None if target is None else target[:AUDIT_TARGET_LENGTH],
        provider=None if provider is None else provider[:PROVIDER_LENGTH], outcome=outcome))


def entries(session: Session, *, since: int | None = None, until: int | None = None,
            before_id: int | None = None, limit: int = _DEFAULT_LIMIT) -> list[AuditRecord]:
    """Entries newest first, at most ``limit`` (1..MAX_LIMIT), with ids below ``before_id``."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = select(AuditEntry).order_by(AuditEntry.audit_id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_id is not None:
        query = query.where(AuditEntry.audit_id < before_id)
    return [_record(row) for row in session.scalars(query)]


def as_csv(records: list[AuditRecord]) -> str:
    """The entries as CSV, UTF-8 with a byte-order mark (Excel reads å, ä, ö: as every CSV of
    hemlas), times in ISO 8601 UTC. A device's name and a login are typed by whoever logs in:
    a cell that would start a formula is written as text (csv_safe)."""
    return csv_safe.document(CSV_FIELDS, ([r.audit_id, iso(r.at), r.actor, r.device or "",
                                           r.address or "", r.action, r.target or "",
                                           r.provider or "", r.outcome] for r in records))


def iso(at: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _record(row: AuditEntry) -> AuditRecord:
    return AuditRecord(row.audit_id, row.at, row.account_id, row.actor, row.device, row.address,
                       row.action, row.target, row.provider, row.outcome)
