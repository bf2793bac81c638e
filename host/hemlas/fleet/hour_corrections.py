"""Withdrawing or correcting a registered compensation hour, append-only (part of FleetStore,
through CompensationMixin).

An hour is never rewritten or deleted. A wrong one is withdrawn, or corrected by a new hour
that replaces it; a correction record (hour_corrections) says who, when and why. The report
and `compensation list` count the current hours only. The withdrawn or replaced row keeps its
row key, so importing the same CSV again still adds nothing; the replacement's own row key
is derived from the row it replaces (each row is corrected once).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ..i18n import _
from ._common import _check_text, _now
from .corrections import correction_reason, record_correction
from .hours import CompensationError, HourEntry, _check_hour, _hour_row, hour_record
from .models import PERSON_LENGTH, CompensationHour, CompensationHourCorrection

_UNSET = object()  # a correction leaves this value as it was


class UnknownHourError(CompensationError):
    def __init__(self, hour_id):
        super().__init__(_("there is no registered hour #{hour_id}: hemlas compensation list "
                            "--provider P --all lists each hour's number")
                          .format(hour_id=hour_id))


class HourCorrectionMixin:
    """Corrections of registered hours; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def withdraw_hour(self, hour_id: int, by: str, reason: str,
                      now: int | None = None) -> HourEntry:
        """Withdraw a registered hour (registered in error): it stays, marked withdrawn by a
        correction record (who, when, why), and no longer counts in the report.

        Raises:
            UnknownHourError: no such hour.
            CompensationError: already withdrawn or corrected (say by whom, when), or no reason.
        """
        now = _now(now)
        by, reason = _check_text("--by (who withdraws it)", by, PERSON_LENGTH), correction_reason(reason)
        with self._transaction() as session:
            old = _current_row(session, hour_id)
            correction = CompensationHourCorrection(hour_id=hour_id, action="withdraw", by=by,
                                                    reason=reason, recorded_at=now)
            record_correction(session, correction, _("hour #{hour_id}").format(hour_id=hour_id),
                              CompensationError)
            return hour_record(old, correction)

    def correct_hour(self, hour_id: int, by: str, reason: str, *, customer_number=_UNSET,
                     day=_UNSET, lock_id=_UNSET, now: int | None = None) -> HourEntry:
        """Correct a registered hour: a new hour with the given values (the others as they
        were) replaces it, and a correction record says who, when and why.

        Raises:
            UnknownHourError: no such hour.
            CompensationError: already withdrawn or corrected, no reason, nothing changed, or
                the new values break a registration's rules (register_hours).
        """
        now = _now(now)
        by, reason = _check_text("--by (who corrects it)", by, PERSON_LENGTH), correction_reason(reason)
        with self._transaction() as session:
            old = _current_row(session, hour_id)
            hour = _check_hour(old.provider,
                               old.customer_number if customer_number is _UNSET else customer_number,
                               old.day if day is _UNSET else day,
                               old.lock_id if lock_id is _UNSET else lock_id, now)
            if hour == (old.provider, old.customer_number, old.day.isoformat(), old.lock_id):
                raise CompensationError(_("the correction changes nothing in hour #{hour_id}: "
                                           "give the values that were wrong (--customer, --date, "
                                           "--lock)").format(hour_id=hour_id))
            key = hashlib.sha256(f"correction\0{old.row_key}".encode()).hexdigest()
            new = _hour_row(hour, key, by, now, "cli", f"correction of hour #{hour_id}")
            session.add(new)
            session.flush()
            record_correction(session, CompensationHourCorrection(
                hour_id=hour_id, action="correct", replacement_id=new.hour_id, by=by,
                reason=reason, recorded_at=now), _("hour #{hour_id}").format(hour_id=hour_id),
                CompensationError)
            return hour_record(new, corrects=hour_id)

    @staticmethod
    def _hours_query():
        """Hours with their own correction record (or None) and the hour each replaces."""
        own, replaced = aliased(CompensationHourCorrection), aliased(CompensationHourCorrection)
        return (select(CompensationHour, own, replaced.hour_id)
                .outerjoin(own, own.hour_id == CompensationHour.hour_id)
                .outerjoin(replaced, replaced.replacement_id == CompensationHour.hour_id))


def _current_row(session: Session, hour_id: int) -> CompensationHour:
    row = session.get(CompensationHour, hour_id, with_for_update=True) if isinstance(hour_id, int) else None
    if row is None:
        raise UnknownHourError(hour_id)
    done = session.scalar(select(CompensationHourCorrection).where(
        CompensationHourCorrection.hour_id == hour_id))
    if done is not None:
        at = time.strftime("%Y-%m-%d %H:%M", time.localtime(done.recorded_at))
        if done.action == "withdraw":
            raise CompensationError(_("hour #{hour_id} was already withdrawn by {by} at {at} "
                                       "({reason}); register it again if it was right")
                                     .format(hour_id=hour_id, by=done.by, at=at,
                                             reason=done.reason))
        raise CompensationError(_("hour #{hour_id} was already corrected by {by} at {at} "
                                   "({reason}): correct or withdraw its replacement, hour "
                                   "#{replacement_id}")
                                 .format(hour_id=hour_id, by=done.by, at=at, reason=done.reason,
                                         replacement_id=done.replacement_id))
    return row


__all__ = ["HourCorrectionMixin", "UnknownHourError"]
