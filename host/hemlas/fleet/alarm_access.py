"""Alarm access (trygghetslarm): a carer answering a customer's safety alarm gets a short-lived
key to that customer's door at once, on request, with a reason; no coordinator is asked first
(the alarm cannot wait). What guards it is that it is seen: the access is a visit of kind
"alarm" with its reason, its keys are flagged (visit_keys.alarm), the audit log records it,
and coordinators list their provider's alarm accesses (:func:`alarm_accesses`, CSV too).

Asking twice (a form sent again, a phone that retried) while the first key has minutes left
hands out the same key again instead of another.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ..i18n import _
from . import audit
from ._common import FleetError, _check_text, _now
from .accounts import get_account
from .customers import UnknownCustomerError
from .models import (PERSON_LENGTH, REASON_LENGTH, Account, Customer, IssuedKey, IssuedKeyRow,
                     LockAssignment, PlannedVisit, PlannedVisitRecord, Provider, VisitKey)
from .plan_keys import derive_again, issue_in
from .plan_listing import local_iso, record, visits
from .roles import CARER, READ_ALARM_ACCESS, REQUEST_ALARM_KEY, Caller, require

# 30 minutes: the time to reach the home and deal with most alarms; a longer one is a visit to
# plan. At most an hour; at least 5 minutes, or the key could lapse on the way to the door.
DEFAULT_MINUTES, MIN_MINUTES, MAX_MINUTES = 30, 5, 60
# The key is valid from a little before now: a lock's clock a few minutes slow must still take
# it (as the host's own admin keys, store._ADMIN_CLOCK_SLACK_S).
CLOCK_SLACK_S = 300
# A repeat within the key's life gets the same key, unless fewer minutes than this are left.
_REUSE_LEFT_S = 5 * 60


class AlarmAccessError(FleetError):
    rule = "alarm-access"


class NoDoorError(FleetError):
    rule = "customer-has-no-lock"

    def __init__(self, number: str):
        super().__init__(_("customer {number} has no lock mounted: use the physical key, and "
                           "register the visit manually (hemlas visits register-manual)")
                         .format(number=number))


@dataclass(frozen=True)
class AlarmAccess:
    visit: PlannedVisitRecord
    keys: tuple[IssuedKey, ...]
    again: bool  # the same request again: the keys issued for it the first time


def _carer(session: Session, caller: Caller, carer_login: str | None) -> Account:
    """Whose key: a carer asks for themself; the lock administrator (the CLI) names the carer."""
    if not caller.all_providers:
        if carer_login is not None and carer_login.strip().casefold() != caller.actor:
            raise AlarmAccessError(_("a carer requests alarm access for themself"))
        return session.get(Account, caller.account_id)
    if not carer_login:
        raise AlarmAccessError(_("name the carer who answers the alarm (--carer LOGIN)"))
    account = get_account(session, carer_login)
    if account.role != CARER or account.disabled_at is not None:
        raise AlarmAccessError(_("{login} is not an enabled carer's account")
                               .format(login=account.login))
    return account


def request_alarm_key(session: Session, caller: Caller, customer_number: str, reason: str, *,
                      carer_login: str | None = None, minutes: int = DEFAULT_MINUTES,
                      now: int | None = None) -> AlarmAccess:
    """Issue a carer a key to the customer's door(s) for ``minutes``, at once.

    Raises:
        UnknownCustomerError: no such customer, or another provider's (the same words).
        NoDoorError: the customer has no lock now.
        AlarmAccessError: no reason, a duration outside 5..60 minutes, another carer named.
        ForbiddenError: the caller's role may not ask.
    """
    require(caller, REQUEST_ALARM_KEY)
    carer = _carer(session, caller, carer_login)
    provider = session.get(Provider, carer.provider_id).name
    customer = session.get(Customer, customer_number.strip()) if isinstance(customer_number, str) else None
    if customer is None or customer.provider != provider:
        raise UnknownCustomerError(customer_number)
    if not isinstance(reason, str) or not reason.strip():
        raise AlarmAccessError(_("say why: an alarm access needs a reason (e.g. the alarm's "
                                 "time and what it said)"))
    reason = _check_text("reason", reason, REASON_LENGTH)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise AlarmAccessError(_("an alarm key lasts {low} to {high} minutes, not {value!r}")
                               .format(low=MIN_MINUTES, high=MAX_MINUTES, value=minutes))
    doors = sorted(session.scalars(select(LockAssignment.lock_id).where(
        LockAssignment.customer_number == customer.customer_number,
        LockAssignment.ended_at.is_(None))))
    if not doors:
        raise NoDoorError(customer.customer_number)
    now = _now(now)
    again = _live_again(session, carer, customer.customer_number, now)
    if again is not None:
        visit, keys = again
        audit.record(session, caller, "alarm.key", f"customer {customer.customer_number}: alarm "
                     f"access {visit.visit_id} of {carer.login} asked again; keys "
                     f"{_ids(k.record.key_id for k in keys)} handed out again", provider, now=now)
        return AlarmAccess(record(session, visit), keys, True)
    visit = PlannedVisit(provider=provider, row_key=None, external_id=None,
                         customer_number=customer.customer_number,
                         carer_account_id=carer.account_id, planned_start=now,
                         planned_end=now + minutes * 60, kind="alarm", status="active",
                         reason=reason, source="alarm", created_at=now,
                         created_by=caller.actor[:PERSON_LENGTH])
    session.add(visit)
    session.flush()
    window = (max(0, now - CLOCK_SLACK_S), visit.planned_end)
    keys = []
    for lock_id in doors:
        key = issue_in(session, lock_id, carer.display_name, window, now)
        session.add(VisitKey(key_id=key.record.key_id, visit_id=visit.visit_id, lock_id=lock_id,
                             alarm=True, issued_at=now))
        keys.append(key)
    audit.record(session, caller, "alarm.key", f"customer {customer.customer_number}: alarm "
                 f"access {visit.visit_id} for {carer.login}, {minutes} min; keys "
                 f"{_ids(k.record.key_id for k in keys)}", provider, now=now)
    session.flush()
    return AlarmAccess(record(session, visit), tuple(keys), False)


def _live_again(session: Session, carer: Account, number: str, now: int):
    visit = session.scalars(select(PlannedVisit).where(
        PlannedVisit.kind == "alarm", PlannedVisit.status == "active",
        PlannedVisit.carer_account_id == carer.account_id,
        PlannedVisit.customer_number == number,
        PlannedVisit.planned_end >= now + _REUSE_LEFT_S)
        .order_by(PlannedVisit.visit_id.desc()).with_for_update()).first()
    if visit is None:
        return None
    rows = session.scalars(select(IssuedKeyRow).join(VisitKey, VisitKey.key_id == IssuedKeyRow.key_id)
                           .where(VisitKey.visit_id == visit.visit_id, VisitKey.ended_at.is_(None),
                                  IssuedKeyRow.revoked_at.is_(None),
                                  IssuedKeyRow.superseded == false())).all()
    if not rows:
        return None  # its keys were revoked since: a new request is a new access
    return visit, tuple(derive_again(session, row) for row in rows)


def alarm_accesses(session: Session, caller: Caller, *, provider: str | None = None,
                   since: int | None = None, until: int | None = None) -> list[PlannedVisitRecord]:
    """The alarm accesses of the caller's provider (every provider's for the lock
    administrator, or ``provider``'s) in [since, until), by time."""
    require(caller, READ_ALARM_ACCESS)
    return visits(session, caller, provider=provider, since=since, until=until, kind="alarm")


REPORT_FIELDS = ("visit_id", "provider", "from", "until", "carer_login", "carer_name",
                 "customer_number", "customer_name", "reason", "status", "key_ids")


def report_csv(session: Session, records: list[PlannedVisitRecord], delimiter: str = ",") -> str:
    """The alarm accesses as CSV for a spreadsheet: names and reasons as text (csv_safe)."""
    from . import csv_safe

    names = {r.customer_number: (session.get(Customer, r.customer_number).name) for r in records}
    return csv_safe.document(REPORT_FIELDS, ([
        r.visit_id, r.provider, local_iso(r.planned_start), local_iso(r.planned_end),
        r.carer_login, r.carer_name, r.customer_number, names[r.customer_number], r.reason,
        r.status, " ".join(map(str, r.key_ids))] for r in records), delimiter)


def _ids(ids) -> str:
    ids = list(ids)
    return ", ".join(f"#{i}" for i in ids) if ids else "none"
