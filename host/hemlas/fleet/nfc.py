"""Customers' NFC tags, and the routine's rule between tags and locks (part of FleetStore).

Before the smart locks, staff registered visit time with an NFC tag at the customer's home.
The routine: a customer who gets a lock gets no tag, and a tag still up must first be
deactivated (by the coordinator, recorded with who and when); then it may be taken down. So a
lock is never mounted while the customer has an active tag, and a customer with a lock gets
no new active tag. Both directions are checked here, also for back-dated records: a mount is
refused if it is dated before the deactivation of any of the customer's tags (a placement is
open-ended, so it would overlap that tag even if the tag was registered after the mount's
date), and a tag is refused if it is dated before the end of any of the customer's placements.

The time helpers at the end are shared with lifecycle.py and compensation.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..i18n import _
from ._common import FleetError, _check_text, _check_time, _now
from .customers import _get_customer
from .models import NFC_TAG_LENGTH, PERSON_LENGTH, LockAssignment, NfcTag, NfcTagRecord


class NfcTagActiveError(FleetError):
    """A lock cannot be mounted: the customer's NFC tag is still active, or was deactivated
    after the mount's date."""

    def __init__(self, customer_number: str, tag: str, until: int | None = None):
        if until is None:
            message = _("customer {number} has an active NFC tag ({tag}): a lock is mounted only "
                        "after the customer's NFC tag is deactivated; deactivate it first: hemlas "
                        "customers nfc-deactivate {number} --by PERSON (then the tag may be taken "
                        "down)").format(number=customer_number, tag=tag)
        else:
            message = _("customer {number}'s NFC tag ({tag}) was active until {until}: a lock is "
                        "mounted only after the tag is deactivated, so the mount cannot be dated "
                        "earlier than that").format(number=customer_number, tag=tag,
                                                    until=local_time(until))
        super().__init__(message)
        self.customer_number = customer_number
        self.tag = tag


class CustomerHasLockError(FleetError):
    """No new active NFC tag for a customer with a lock, nor one dated before the end of a
    placement of theirs."""

    def __init__(self, customer_number: str, lock_id: str, until: int | None = None):
        if until is None:
            message = _("customer {number} has lock {lock_id} mounted: a customer with a smart "
                        "lock gets no NFC tag (the lock registers visit time)").format(
                number=customer_number, lock_id=lock_id)
        else:
            message = _("customer {number} had lock {lock_id} mounted until {until}: a customer "
                        "with a smart lock gets no NFC tag (the lock registers visit time), so the "
                        "tag cannot be dated earlier than that").format(
                number=customer_number, lock_id=lock_id, until=local_time(until))
        super().__init__(message)
        self.customer_number = customer_number
        self.lock_id = lock_id


class NfcTagError(FleetError):
    """A tag registration or deactivation that does not fit the tags on record."""


class NfcMixin:
    """NFC tags per customer; FleetStore supplies the transactions."""

    _transaction: Callable[[], AbstractContextManager[Session]]

    def register_nfc_tag(self, customer_number: str, tag: str, person: str,
                         at: int | None = None, *, now: int | None = None) -> NfcTagRecord:
        """Record an NFC tag that is up (active) at a customer's home.

        Args:
            customer_number: the customer.
            tag: the tag's id.
            person: who registered it.
            at: when it was put up or registered (unix s); None for now.
            now: the present, which ``at`` may not be after; None for the clock.

        Raises:
            UnknownCustomerError: no such customer.
            CustomerHasLockError: the customer has a lock mounted, or had one mounted at any
                time after ``at`` (the tag, active from ``at``, would overlap it).
            NfcTagError: the customer already has an active tag, or the tag is active at
                another customer.
            FleetError: an empty field, or ``at`` in the future.
        """
        tag = _check_text("NFC tag id", tag, NFC_TAG_LENGTH)
        person = _check_text("person", person, PERSON_LENGTH)
        at = past_time("at", at, now)
        with self._transaction() as session:
            number = _get_customer(session, customer_number, for_update=True).customer_number
            for lock_id, ended_at in session.execute(_placements(number, at)):
                raise CustomerHasLockError(number, lock_id, until=ended_at)
            active = _active_tag(session, number)
            if active is not None:
                raise NfcTagError(_("customer {number} already has an active NFC tag ({tag}): "
                                    "one at a time; deactivate it first: hemlas customers "
                                    "nfc-deactivate {number} --by PERSON")
                                  .format(number=number, tag=active.tag))
            elsewhere = session.scalar(select(NfcTag).where(NfcTag.tag == tag,
                                                            NfcTag.deactivated_at.is_(None)))
            if elsewhere is not None:
                raise NfcTagError(_("NFC tag {tag} is active at customer {number}: deactivate "
                                    "it there first: hemlas customers nfc-deactivate {number} "
                                    "--by PERSON").format(tag=tag,
                                                          number=elsewhere.customer_number))
            row = NfcTag(customer_number=number, tag=tag, registered_at=at, registered_by=person)
            session.add(row)
            try:
                session.flush()
            except IntegrityError as err:  # a concurrent registration won the unique index
                raise NfcTagError(_("customer {number} or tag {tag} got an active NFC tag at the "
                                    "same moment; list them: hemlas customers nfc-list {number}")
                                  .format(number=number, tag=tag)) from err
            return _tag_record(row)

    def deactivate_nfc_tag(self, customer_number: str, person: str, at: int | None = None,
                           *, now: int | None = None) -> NfcTagRecord:
        """Deactivate the customer's active NFC tag, recording who and when. After this the
        tag may be taken down, and a lock may be mounted.

        Raises:
            UnknownCustomerError: no such customer.
            NfcTagError: the customer has no active tag, or ``at`` is before its registration.
            FleetError: an empty person, or ``at`` in the future.
        """
        person = _check_text("person", person, PERSON_LENGTH)
        at = past_time("at", at, now)
        with self._transaction() as session:
            number = _get_customer(session, customer_number, for_update=True).customer_number
            row = _active_tag(session, number, for_update=True)
            if row is None:
                raise NfcTagError(_("customer {number} has no active NFC tag: nothing to "
                                    "deactivate (list the tags: hemlas customers nfc-list "
                                    "{number})").format(number=number))
            if at < row.registered_at:
                raise NfcTagError(_("NFC tag {tag} was registered at {at}: it cannot be "
                                    "deactivated before that")
                                  .format(tag=row.tag, at=local_time(row.registered_at)))
            row.deactivated_at, row.deactivated_by = at, person
            return _tag_record(row)

    def nfc_tags(self, customer_number: str | None = None, *,
                 active_only: bool = False) -> list[NfcTagRecord]:
        """Every customer's NFC tags (or one customer's), by customer then registration.

        Raises:
            UnknownCustomerError: ``customer_number`` is given and unknown.
        """
        query = select(NfcTag).order_by(NfcTag.customer_number, NfcTag.nfc_tag_id)
        if active_only:
            query = query.where(NfcTag.deactivated_at.is_(None))
        with self._transaction() as session:
            if customer_number is not None:
                number = _get_customer(session, customer_number).customer_number
                query = query.where(NfcTag.customer_number == number)
            return [_tag_record(row) for row in session.scalars(query)]


def check_no_active_tag(session: Session, customer_number: str, at: int) -> None:
    """The mount rule: refuse if any tag of the customer is active at any time from ``at`` on:
    active now, or deactivated after ``at`` (whenever it was registered: the placement, open
    from ``at``, would overlap it).

    Raises:
        NfcTagActiveError: naming the tag and what to do (the latest deactivation, the
            earliest time the mount may be dated).
    """
    active = _active_tag(session, customer_number)
    if active is not None:
        raise NfcTagActiveError(customer_number, active.tag)
    was = session.scalar(select(NfcTag).where(NfcTag.customer_number == customer_number,
                                              NfcTag.deactivated_at > at)
                         .order_by(NfcTag.deactivated_at.desc()).limit(1))
    if was is not None:
        raise NfcTagActiveError(customer_number, was.tag, until=was.deactivated_at)


def _placements(customer_number: str, at: int):
    """The customer's placement open at any time from ``at`` on (lock id, ended_at): the one
    open now, else the one that ended last after ``at``; at most one row."""
    return (select(LockAssignment.lock_id, LockAssignment.ended_at)
            .where(LockAssignment.customer_number == customer_number,
                   or_(LockAssignment.ended_at.is_(None), LockAssignment.ended_at > at))
            .order_by(LockAssignment.ended_at.is_not(None), LockAssignment.ended_at.desc(),
                      LockAssignment.assignment_id)
            .limit(1))


def _active_tag(session: Session, customer_number: str, for_update: bool = False) -> NfcTag | None:
    query = select(NfcTag).where(NfcTag.customer_number == customer_number,
                                 NfcTag.deactivated_at.is_(None))
    return session.scalar(query.with_for_update() if for_update else query)


def _tag_record(row: NfcTag) -> NfcTagRecord:
    return NfcTagRecord(row.nfc_tag_id, row.customer_number, row.tag, row.registered_at,
                        row.registered_by, row.deactivated_at, row.deactivated_by)


# ---- Times shared by the routine's records ---------------------------------------------------

def past_time(what: str, at: int | None, now: int | None) -> int:
    """``at`` (None: now) as a checked unix time, refused if it lies in the future: a record
    says what happened, and a time ahead of the clock is a typing error."""
    now = _now(now)
    at = now if at is None else at
    if isinstance(at, int) and not isinstance(at, bool) and at > now:
        raise FleetError(_("{at} is in the future: a record says what has happened; give the "
                           "time it happened (--at), or none for now").format(at=local_time(at)))
    _check_time(what, at)
    return at


def local_time(t: int) -> str:
    """A unix time as local "YYYY-MM-DD HH:MM", for messages."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


__all__ = ["CustomerHasLockError", "NfcMixin", "NfcTagActiveError", "NfcTagError",
           "check_no_active_tag", "local_time", "past_time"]
