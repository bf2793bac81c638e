"""Erasure at the end of care (GDPR art. 17; docs/privacy.md): a customer's personal data
erased, keeping only what the compensation basis and the locks' history need, under a
pseudonym.

What goes: the name, the address (the customer's and every lifecycle record's), the NFC tag
ids, the notes of manual visits and lifecycle records, the reasons of their corrections and of
the battery swaps, the source references of the registered hours. What stays, under a new
customer number ``erased-`` and 16 random hex digits (never derived from the old one, and
the link kept nowhere): the placements, lifecycle records, manual visits, swaps and registered
hours, with their dates, locks, providers and staff, so a closed month's compensation report
counts the same, a lock's life goes on (its key can be returned, it can be mounted again) and
the retention periods remove the rest in their time. A number is digits only, so a pseudonym
is never a customer's number.

Refused (each with its rule and next step) while the customer still has a lock mounted (the
placement is open: dismantle first), an active NFC tag (deactivate it), a visit still planned
(cancel it in the plan), or a mount or hour in a compensation month still open (its basis may
change: erase once it closes). Planned visits and alarm accesses stay, with their times and
carers, under the pseudonym; their row keys (a hash over the customer's number) and alarm
reasons go.
"""

from __future__ import annotations

import datetime
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import String, case, or_, select, text, update
from sqlalchemy.orm import Session

from ..i18n import _
from . import audit, retention
from .customers import UnknownCustomerError
from .errors import FleetError
from .models import (AuditEntry, BatterySwap, CompensationHour, CompensationHourCorrection,
                     Customer, LockAssignment, LockLifecycle, ManualVisit, ManualVisitCorrection,
                     NfcTag, PlannedVisit)
from .roles import ERASE_CUSTOMER, Caller, require

ACTION = "customers.erase"
PSEUDONYM_PREFIX = "erased-"
ERASED = "(erased)"  # what a required text column holds once its text is erased


class ErasureRefusedError(FleetError):
    """The customer cannot be erased yet; the message says which rule and what to do."""

    rule = "erasure-refused"


class LockStillMountedError(ErasureRefusedError):
    rule = "erasure-lock-mounted"

    def __init__(self, number: str, lock_ids: list[str]):
        super().__init__(_(
            "customer {number} still has lock {locks} mounted: a customer is erased at the end "
            "of care, once the lock is dismantled; dismantle it first: hemlas locks key-out "
            "{lock} --by FITTER, then hemlas locks dismantle {lock} --by FITTER").format(
            number=number, locks=", ".join(lock_ids), lock=lock_ids[0]))


class NfcTagStillActiveError(ErasureRefusedError):
    rule = "erasure-nfc-tag-active"

    def __init__(self, number: str):
        super().__init__(_(
            "customer {number} has an active NFC tag: deactivate it first (hemlas customers "
            "nfc-deactivate {number} --by PERSON), then erase").format(number=number))


class CompensationOpenError(ErasureRefusedError):
    rule = "erasure-compensation-open"

    def __init__(self, number: str, month: str, closes: datetime.date):
        super().__init__(_(
            "customer {number} has a mount or a registered hour in {month}, whose compensation "
            "is still open (its basis may still change): erase on or after {closes}, when it "
            "closes").format(number=number, month=month, closes=closes.isoformat()))


class VisitsPlannedError(ErasureRefusedError):
    rule = "erasure-visits-planned"

    def __init__(self, number: str, start: int):
        super().__init__(_(
            "customer {number} still has visits planned (the next at {start}): care goes on; "
            "cancel them in the planning system and import the plan again (or hemlas plan "
            "cancel VISIT), then erase").format(number=number, start=audit.iso(start)))


class AlreadyErasedError(ErasureRefusedError):
    rule = "already-erased"

    def __init__(self, number: str, at: int):
        super().__init__(_("customer {number} was erased at {at}: nothing is left to erase")
                         .format(number=number, at=audit.iso(at)))


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: how many records of each kind lost their personal data."""

    customer_number: str
    provider: str | None
    records: dict[str, int]
    at: int


def erase(session: Session, caller: Caller, number: str, rules: retention.Policy | None = None,
          now: int | None = None) -> Erasure:
    """Erase customer ``number``'s personal data, in ``session``'s transaction, audited.

    Raises:
        ForbiddenError: the caller may not erase customers.
        UnknownCustomerError: no such customer, or another provider's.
        ErasureRefusedError: a lock mounted, an active NFC tag, an open compensation month, or
            erased already (said only to whom the customer was visible).
    """
    require(caller, ERASE_CUSTOMER)
    now = int(time.time()) if now is None else now
    rules = retention.policy() if rules is None else rules
    number = number.strip() if isinstance(number, str) else number
    row = session.get(Customer, number, with_for_update=True) if isinstance(number, str) else None
    if row is None or not (caller.all_providers or row.provider == caller.provider):
        _refuse_again(session, caller, number)
        raise UnknownCustomerError(number)
    _check_erasable(session, row, rules, now)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))  # no old text left in free pages
    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(8)
    session.add(Customer(customer_number=pseudonym, name=ERASED, address=None,
                         created_at=row.created_at, provider=None))
    session.flush()
    records = _pseudonymise(session, number, pseudonym)
    provider = row.provider
    session.delete(row)
    session.flush()
    audit.record(session, caller, ACTION, f"customer {number}", provider, now=now)
    return Erasure(number, provider, records, now)


def _refuse_again(session: Session, caller: Caller, number) -> None:
    """A second erasure (a form posted twice) says it was done, to whom may know."""
    if not isinstance(number, str):
        return
    done = session.scalar(select(AuditEntry).where(
        AuditEntry.action == ACTION, AuditEntry.outcome == audit.OK,
        AuditEntry.target == f"customer {number}").order_by(AuditEntry.audit_id.desc()).limit(1))
    if done is not None and (caller.all_providers or done.provider == caller.provider):
        raise AlreadyErasedError(number, done.at)


def _check_erasable(session: Session, row: Customer, rules: retention.Policy, now: int) -> None:
    number = row.customer_number
    mounted = list(session.scalars(select(LockAssignment.lock_id).where(
        LockAssignment.customer_number == number, LockAssignment.ended_at.is_(None))
        .order_by(LockAssignment.lock_id)))
    if mounted:
        raise LockStillMountedError(number, mounted)
    ahead = session.scalar(select(PlannedVisit.planned_start).where(
        PlannedVisit.customer_number == number, PlannedVisit.status == "active",
        PlannedVisit.planned_end > now).order_by(PlannedVisit.planned_start).limit(1))
    if ahead is not None:
        raise VisitsPlannedError(number, ahead)
    if session.scalar(select(NfcTag.nfc_tag_id).where(
            NfcTag.customer_number == number, NfcTag.deactivated_at.is_(None)).limit(1)):
        raise NfcTagStillActiveError(number)
    start = retention.open_start(now, rules.open_months)
    mount = session.scalar(select(LockLifecycle.at).where(
        LockLifecycle.customer_number == number, LockLifecycle.action == "mount",
        LockLifecycle.at >= start).order_by(LockLifecycle.at.desc()).limit(1))
    hour = session.scalar(select(CompensationHour.day).where(
        CompensationHour.customer_number == number,
        CompensationHour.day >= datetime.date.fromtimestamp(start))
        .order_by(CompensationHour.day.desc()).limit(1))
    days = [d for d in (mount and datetime.date.fromtimestamp(mount), hour) if d is not None]
    if days:
        newest = max(days)
        index = newest.year * 12 + newest.month - 1 + rules.open_months
        closes = datetime.date(index // 12, index % 12 + 1, 1)
        raise CompensationOpenError(number, f"{newest:%Y-%m}", closes)


def _pseudonymise(session: Session, number: str, pseudonym: str) -> dict[str, int]:
    def change(model, values, *where) -> int:
        result = session.execute(update(model).where(*where).values(**values)
                                 .execution_options(synchronize_session=False))
        return max(0, result.rowcount or 0)

    visits = list(session.scalars(select(ManualVisit.visit_id)
                                  .where(ManualVisit.customer_number == number)))
    hours = list(session.scalars(select(CompensationHour.hour_id)
                                 .where(CompensationHour.customer_number == number)))
    counts = {
        "placements": change(LockAssignment, {"customer_number": pseudonym},
                             LockAssignment.customer_number == number),
        "lifecycle": change(LockLifecycle, {"customer_number": pseudonym, "address": None,
                                            "note": None},
                            LockLifecycle.customer_number == number),
        "nfc_tags": change(NfcTag, {"customer_number": pseudonym,
                                    "tag": ERASED + " #" + NfcTag.nfc_tag_id.cast(String(64))},
                           NfcTag.customer_number == number),
        "manual_visits": change(ManualVisit, {"customer_number": pseudonym, "note": ERASED},
                                ManualVisit.customer_number == number),
        "battery_swaps": change(BatterySwap, {"customer_number": pseudonym, "reason": None},
                                BatterySwap.customer_number == number),
        "compensation_hours": change(CompensationHour, {"customer_number": pseudonym,
                                                        "source_ref": None},
                                     CompensationHour.customer_number == number),
        # The row key hashes the customer's number with the row (planned_visits.row_key): a
        # link back by trying every number, so it goes; an alarm's reason may name them.
        "planned_visits": change(PlannedVisit, {"customer_number": pseudonym, "row_key": None,
                                                "reason": case((PlannedVisit.reason.is_(None), None),
                                                               else_=ERASED)},
                                 PlannedVisit.customer_number == number),
    }
    if visits:  # a correction's reason may name the customer too
        change(ManualVisitCorrection, {"reason": ERASED},
            or_(ManualVisitCorrection.visit_id.in_(visits),
                ManualVisitCorrection.replacement_id.in_(visits)))
    if hours:
        change(CompensationHourCorrection, {"reason": ERASED},
               or_(CompensationHourCorrection.hour_id.in_(hours),
                   CompensationHourCorrection.replacement_id.in_(hours)))
    return counts

