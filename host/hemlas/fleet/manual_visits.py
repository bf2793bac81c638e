"""Manual visits: registered by hand when the lock failed, and corrected or withdrawn only by an
append-only correction record (part of FleetStore, through VisitMixin).

A manual visit is never rewritten or deleted. A wrong one is withdrawn, or corrected by a new
manual visit that replaces it; the correction record (visit_corrections) says who, when and
why. Listings show the current version of each; docs/visits.md has the rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from ..i18n import _
from ._common import FleetError, _check_text, _check_time, _now
from .corrections import correction_reason, correction_state, record_correction
from .customers import _get_customer
from .models import (NOTE_LENGTH, PERSON_LENGTH, LockAssignment, ManualVisit,
                     ManualVisitCorrection)
from .visit_pairing import MANUAL, Visit

FUTURE_SLACK_S = 5 * 60  # a manual visit may be registered a little ahead of this host's clock
_UNSET = object()  # a correction leaves this value as it was


class UnknownVisitError(FleetError):
    def __init__(self, visit_id: int):
        super().__init__(_("there is no manual visit #{visit_id}: `hemlas visits CUSTOMER "
                            "--all` lists each visit's number").format(visit_id=visit_id))


class ManualVisitMixin:
    """Manual visits and their corrections; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def register_manual_visit(self, customer_number: str, person: str, at: int, note: str,
                              out_at: int | None = None, now: int | None = None) -> Visit:
        """Register a visit by hand, as the routine asks when the lock failed.

        Raises:
            FleetError: no note (the routine asks for one saying why), a time in the future,
                an end before the start, the customer had no lock at that time, or the same
                visit (customer, person, in, out, note) is already registered.
            UnknownCustomerError: no such customer.
        """
        now = _now(now)
        person, at, out_at, note = _checked(person, at, out_at, note, now)
        with self._transaction() as session:
            number = _get_customer(session, customer_number).customer_number
            row = _add_manual(session, number, person, at, out_at, note, now)
            return _visit(row)

    def correct_manual_visit(self, visit_id: int, by: str, reason: str, *, person=_UNSET,
                             at=_UNSET, out_at=_UNSET, note=_UNSET,
                             now: int | None = None) -> Visit:
        """Correct a manual visit: a new manual visit with the given values (the others as
        they were) replaces it, and a correction record says who, when and why.

        Raises:
            UnknownVisitError: no such manual visit.
            FleetError: it was already corrected or withdrawn (corrections are made to the
                current version), a blank reason, nothing changed, or the new values break a
                manual visit's rules (register_manual_visit).
        """
        now = _now(now)
        by, reason = _check_text("--by (who corrects it)", by, PERSON_LENGTH), correction_reason(reason)
        with self._transaction() as session:
            old = _current_row(session, visit_id)
            values = [old.person if person is _UNSET else person, old.at if at is _UNSET else at,
                      old.out_at if out_at is _UNSET else out_at, old.note if note is _UNSET else note]
            new = _checked(*values, now)
            if new == (old.person, old.at, old.out_at, old.note):
                raise FleetError(_("the correction changes nothing in manual visit #{visit_id}: "
                                    "give the values that were wrong (--at, --out, --note, "
                                    "--person)").format(visit_id=visit_id))
            replacement = _add_manual(session, old.customer_number, *new, now)
            record_correction(session, ManualVisitCorrection(
                visit_id=visit_id, action="correct", replacement_id=replacement.visit_id, by=by,
                reason=reason, recorded_at=now),
                _("manual visit #{visit_id}").format(visit_id=visit_id))
            return _visit(replacement, corrects=visit_id)

    def withdraw_manual_visit(self, visit_id: int, by: str, reason: str,
                              now: int | None = None) -> Visit:
        """Withdraw a manual visit registered in error: it stays in the store, marked
        withdrawn by a correction record (who, when, why), and leaves the listings.

        Raises: as correct_manual_visit."""
        now = _now(now)
        by, reason = _check_text("--by (who withdraws it)", by, PERSON_LENGTH), correction_reason(reason)
        with self._transaction() as session:
            old = _current_row(session, visit_id)
            correction = ManualVisitCorrection(visit_id=visit_id, action="withdraw", by=by,
                                               reason=reason, recorded_at=now)
            record_correction(session, correction,
                              _("manual visit #{visit_id}").format(visit_id=visit_id))
            return _visit(old, correction=correction)

    def _manual_visits(self, session: Session, number: str, start: int, end: int,
                       include_all: bool) -> list[Visit]:
        """The customer's manual visits beginning in [start, end): the current ones, or with
        include_all also those withdrawn or corrected (each marked)."""
        own, replaced = aliased(ManualVisitCorrection), aliased(ManualVisitCorrection)
        query = (select(ManualVisit, own, replaced.visit_id)
                 .outerjoin(own, own.visit_id == ManualVisit.visit_id)
                 .outerjoin(replaced, replaced.replacement_id == ManualVisit.visit_id)
                 .where(ManualVisit.customer_number == number, ManualVisit.at >= start,
                        ManualVisit.at < end))
        if not include_all:
            query = query.where(own.correction_id.is_(None))
        return [_visit(row, corrects=corrects, correction=correction)
                for row, correction, corrects in session.execute(query)]


def _checked(person, at, out_at, note, now: int) -> tuple[str, int, int | None, str]:
    if not isinstance(note, str) or not note.strip():
        raise FleetError(_("a manual visit needs a note saying why it was registered by hand "
                            '(the routine): give --note "..."'))
    note = _check_text("note", note, NOTE_LENGTH)
    person = _check_text("person", person, PERSON_LENGTH)
    _check_time("visit time", at)
    if at > now + FUTURE_SLACK_S:
        raise FleetError(_("a manual visit cannot be registered ahead of time: its time is in "
                            "the future"))
    if out_at is not None:
        _check_time("visit end", out_at)
        if out_at < at:
            raise FleetError(_("a visit cannot end before it begins"))
        if out_at > now + FUTURE_SLACK_S:
            raise FleetError(_("a visit's end cannot be in the future"))
    return person, at, out_at, note


def _add_manual(session: Session, number: str, person: str, at: int, out_at: int | None,
                note: str, now: int) -> ManualVisit:
    had_lock = session.scalar(select(LockAssignment.assignment_id).where(
        LockAssignment.customer_number == number, LockAssignment.assigned_at <= at,
        or_(LockAssignment.ended_at.is_(None), LockAssignment.ended_at > at)).limit(1))
    if had_lock is None:
        raise FleetError(_("customer {number} had no lock at that time: a manual visit records "
                            "a visit where the customer's lock failed").format(number=number))
    same = session.scalar(
        select(ManualVisit.visit_id)
        .outerjoin(ManualVisitCorrection, ManualVisitCorrection.visit_id == ManualVisit.visit_id)
        .where(ManualVisit.customer_number == number, ManualVisit.person == person,
               ManualVisit.at == at, ManualVisit.note == note,
               ManualVisit.out_at.is_(None) if out_at is None else ManualVisit.out_at == out_at,
               ManualVisitCorrection.correction_id.is_(None)).limit(1))
    if same is not None:
        raise FleetError(_("this visit is already registered: manual visit #{same} (same "
                            "customer, person, times and note); nothing was added. A wrong one "
                            'is corrected: hemlas visits correct {same} --by NAME --reason "..."')
                          .format(same=same))
    row = ManualVisit(customer_number=number, person=person, at=at, out_at=out_at, note=note,
                      registered_at=now)
    session.add(row)
    session.flush()
    return row


def _current_row(session: Session, visit_id: int) -> ManualVisit:
    row = session.get(ManualVisit, visit_id, with_for_update=True) if isinstance(visit_id, int) else None
    if row is None:
        raise UnknownVisitError(visit_id)
    done = session.scalar(select(ManualVisitCorrection).where(
        ManualVisitCorrection.visit_id == visit_id))
    if done is not None:
        raise _already(visit_id, done)
    return row


def _already(visit_id: int, done: ManualVisitCorrection) -> FleetError:
    if done.action == "withdraw":
        return FleetError(_("manual visit #{visit_id} was already withdrawn by {by} at "
                             "{recorded_at} ({reason}); register the visit again if it did happen")
                           .format(visit_id=visit_id, by=done.by,
                                   recorded_at=when(done.recorded_at), reason=done.reason))
    return FleetError(_("manual visit #{visit_id} was already corrected by {by} at "
                         "{recorded_at} ({reason}): correct or withdraw its replacement, "
                         "#{replacement_id}")
                       .format(visit_id=visit_id, by=done.by,
                               recorded_at=when(done.recorded_at), reason=done.reason,
                               replacement_id=done.replacement_id))


def when(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _visit(row: ManualVisit, corrects: int | None = None,
           correction: ManualVisitCorrection | None = None) -> Visit:
    status, record = correction_state(correction)
    return Visit(row.customer_number, row.person, row.at, row.at, row.out_at, MANUAL,
                 note=row.note, visit_id=row.visit_id, corrects=corrects, status=status,
                 correction=record)


__all__ = ["FUTURE_SLACK_S", "ManualVisitMixin", "UnknownVisitError"]
