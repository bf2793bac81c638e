"""Keys by the plan: a carer gets a key for each planned visit (each door of its customer),
valid from the planned start minus a margin to the planned end plus a margin, and no other
(docs/planning.md). :func:`keys_for_carer` is what the field endpoint calls.

Keys are issued when first fetched, not at import: a visit cancelled or moved before its
carer fetched anything costs no key id and no entry in the lock's revocation list (64
entries, docs/security.md). A key already issued is handed out again (its bytes derived again
from the lock secret and its fields: nothing of it is stored) until the plan ends it. A key
revoked outside the plan (a lost phone, `hemlas keys revoke`) is not replaced by itself: that
visit is returned as blocked until a coordinator has it re-issued (planned_visits.reissue).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..firmware import wire
from ..i18n import _
from . import audit
from ._common import _UINT32_MAX, FleetError, _get_lock, _now
from .models import (Account, Customer, IssuedKey, IssuedKeyRow, LockAssignment, PlannedVisit,
                     VisitKey)
from .roles import CARER, Caller

# Why 15 minutes before: carers arrive early (the previous visit ended early, the bus came) and
# the lock's clock may run a few minutes off between the host's settings of it; a key that is
# not yet valid at the door sends the carer to the physical key. Why 30 after: visits overrun
# (the customer needed more help), and the carer must still lock the door from the app when
# leaving. Both bounded, so no configuration turns a visit's key back into a shift's.
DEFAULT_BEFORE_S, DEFAULT_AFTER_S = 15 * 60, 30 * 60
MAX_MARGIN_S = 2 * 3600
# How far ahead a phone holds keys: the day's and the next morning's visits, fetched ahead
# because the lock opens without network at the door; no more, so a lost phone holds little.
DEFAULT_HORIZON_S, MAX_HORIZON_S = 24 * 3600, 48 * 3600
MARGIN_ENV = ("HEMLAS_PLAN_MARGIN_BEFORE_MIN", "HEMLAS_PLAN_MARGIN_AFTER_MIN")


@dataclass(frozen=True)
class Margins:
    before_s: int = DEFAULT_BEFORE_S
    after_s: int = DEFAULT_AFTER_S

    def __post_init__(self) -> None:
        for value in (self.before_s, self.after_s):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MARGIN_S:
                raise FleetError(_("a key margin is 0 to {limit} minutes, not {value!r}")
                                 .format(limit=MAX_MARGIN_S // 60, value=value))


def configured_margins() -> Margins:
    """The margins from HEMLAS_PLAN_MARGIN_BEFORE_MIN / _AFTER_MIN, else the settings file's
    [plan] margin_before_min / margin_after_min, else 15 and 30 minutes."""
    from ..settings import load

    table = load().get("plan", {})
    table = table if isinstance(table, dict) else {}
    minutes = []
    for env, key, default in zip(MARGIN_ENV, ("margin_before_min", "margin_after_min"),
                                 (DEFAULT_BEFORE_S // 60, DEFAULT_AFTER_S // 60)):
        value = os.environ.get(env, table.get(key, default))
        try:
            minutes.append(int(value))
        except (TypeError, ValueError):
            raise FleetError(_("{name} is a whole number of minutes, not {value!r}")
                             .format(name=env, value=value)) from None
    return Margins(minutes[0] * 60, minutes[1] * 60)


def key_window(start: int, end: int, margins: Margins) -> tuple[int, int]:
    """A planned visit's key window, inside what a lock's clock (uint32) says."""
    return max(0, start - margins.before_s), min(_UINT32_MAX, end + margins.after_s)


def wanted(window: tuple[int, int], now: int, horizon_s: int) -> bool:
    """Whether a phone fetching at ``now`` should hold a key valid in ``window``: it is still
    valid after now, and becomes valid within the horizon."""
    return window[1] > now and window[0] <= now + horizon_s


def issue_in(session: Session, lock_id: str, person: str, window: tuple[int, int],
             now: int) -> IssuedKey:
    """A staff key issued in the caller's transaction, as FleetStore.issue_key issues one."""
    lock = _get_lock(session, lock_id, for_update=True)
    row = IssuedKeyRow(lock_id=lock_id, person=person, role=wire.ROLE_STAFF,
                       not_before=window[0], not_after=window[1], issued_at=now, superseded=False)
    session.add(row)
    session.flush()  # the database allocates the key id
    if row.key_id > _UINT32_MAX:
        raise FleetError(_("the fleet has used up the key ids (uint32)"))
    return _with_bytes(row, lock.secret)


def derive_again(session: Session, row: IssuedKeyRow) -> IssuedKey:
    return _with_bytes(row, _get_lock(session, row.lock_id).secret)


def _with_bytes(row: IssuedKeyRow, secret: bytes) -> IssuedKey:
    from .store import _key_record

    key = wire.derive_key(secret, row.lock_id, row.key_id, row.role, row.not_before, row.not_after)
    return IssuedKey(_key_record(row), key, wire.derive_advertising_key(secret))


def end_key(session: Session, link: VisitKey, why: str, now: int) -> bool:
    """End a visit's key and revoke it (the lock learns at its next admin connection);
    whether the key was still unrevoked."""
    link.ended_at, link.ended_why = now, why
    row = session.get(IssuedKeyRow, link.key_id, with_for_update=True)
    if row.revoked_at is None and not row.superseded:
        row.revoked_at = now
        return True
    return False


def end_visit_keys(session: Session, visit_id: int, why: str, now: int) -> list[int]:
    """End every live key of the visit; the ids of those revoked now."""
    links = session.scalars(select(VisitKey).where(VisitKey.visit_id == visit_id,
                                                   VisitKey.ended_at.is_(None))).all()
    return sorted(link.key_id for link in links if end_key(session, link, why, now))


@dataclass(frozen=True)
class VisitKeyAnswer:
    """One key a carer holds for a visit, with the bytes (for their device only)."""

    visit_id: int
    customer_number: str
    planned_start: int
    planned_end: int
    alarm: bool
    issued: IssuedKey


@dataclass(frozen=True)
class BlockedVisit:
    """A visit whose key was revoked outside the plan: no key until it is re-issued."""

    visit_id: int
    lock_id: str
    key_id: int


@dataclass(frozen=True)
class CarerKeys:
    keys: tuple[VisitKeyAnswer, ...]
    blocked: tuple[BlockedVisit, ...]


def keys_for_carer(session: Session, account, now: int | None = None,
                   horizon: int = DEFAULT_HORIZON_S, *, margins: Margins | None = None,
                   caller: Caller | None = None) -> CarerKeys:
    """The carer's keys for their active visits (planned ones and alarm accesses) whose key
    window is still open after ``now`` and opens within ``horizon`` seconds: issued now if
    they were not yet, handed out again if they were. Recorded in the audit log (key ids,
    never bytes).

    Args:
        account: the carer (an Account row, an AccountRecord or the carer's Caller).
        horizon: seconds ahead, 1 to MAX_HORIZON_S.
        margins: the key margins; None for :func:`configured_margins`.
        caller: who asks, for the audit log; None: the carer themself.

    Raises:
        FleetError: a bad horizon; the account is disabled or not a carer.
    """
    now = _now(now)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 0 < horizon <= MAX_HORIZON_S:
        raise FleetError(_("the horizon is 1 to {limit} seconds, not {value!r}")
                         .format(limit=MAX_HORIZON_S, value=horizon))
    margins = configured_margins() if margins is None else margins
    carer = session.get(Account, account.account_id)
    if carer is None or carer.disabled_at is not None or carer.role != CARER:
        raise FleetError(_("keys by the plan are for an enabled carer's account"))
    if caller is None:
        caller = Caller(carer.account_id, carer.login, carer.display_name, carer.role, None,
                        device=getattr(account, "device", None),
                        address=getattr(account, "address", None))
    visits = session.scalars(
        select(PlannedVisit)
        .where(PlannedVisit.carer_account_id == carer.account_id,
               PlannedVisit.status == "active",
               PlannedVisit.planned_end + MAX_MARGIN_S > now,
               PlannedVisit.planned_start <= now + horizon + MAX_MARGIN_S)
        .order_by(PlannedVisit.planned_start, PlannedVisit.visit_id)
        .with_for_update()).all()
    answers, blocked, issued, ended = [], [], [], []
    for visit in visits:
        links = {link.lock_id: link for link in session.scalars(
            select(VisitKey).where(VisitKey.visit_id == visit.visit_id,
                                   VisitKey.ended_at.is_(None)))}
        customer = session.get(Customer, visit.customer_number)
        if customer is None or customer.provider != visit.provider:
            # The customer changed provider since the plan was made: not this carer's door.
            ended += [link.key_id for link in links.values()
                      if end_key(session, link, "customer-left", now)]
            continue
        doors = set(session.scalars(select(LockAssignment.lock_id).where(
            LockAssignment.customer_number == visit.customer_number,
            LockAssignment.ended_at.is_(None))))
        for lock_id, link in list(links.items()):
            if lock_id not in doors:
                ended += [link.key_id] if end_key(session, link, "lock-gone", now) else []
                del links[lock_id]
        alarm = visit.kind == "alarm"
        for lock_id in sorted(doors):
            link = links.get(lock_id)
            row = session.get(IssuedKeyRow, link.key_id) if link is not None else None
            if row is not None and row.superseded:  # re-provisioned: nobody meant to block it
                end_key(session, link, "superseded", now)
                row = None
            if row is not None and row.revoked_at is not None:
                blocked.append(BlockedVisit(visit.visit_id, lock_id, row.key_id))
                continue
            if row is not None:
                if wanted((row.not_before, row.not_after), now, horizon):
                    answers.append(_answer(visit, alarm, derive_again(session, row)))
                continue
            if alarm:  # an alarm key is issued at the request, never again by itself
                continue
            window = key_window(visit.planned_start, visit.planned_end, margins)
            if not wanted(window, now, horizon):
                continue
            key = issue_in(session, lock_id, carer.display_name, window, now)
            session.add(VisitKey(key_id=key.record.key_id, visit_id=visit.visit_id,
                                 lock_id=lock_id, alarm=False, issued_at=now))
            issued.append(key.record.key_id)
            answers.append(_answer(visit, alarm, key))
    handed = sorted(a.issued.record.key_id for a in answers)
    audit.record(session, caller, "plan.keys",
                 f"carer {carer.login}: keys {_ids(handed)} (new {_ids(issued)}); "
                 f"blocked {_ids(b.key_id for b in blocked)}; revoked {_ids(ended)}",
                 _provider_name(session, carer), now=now)
    session.flush()
    return CarerKeys(tuple(answers), tuple(blocked))


def _answer(visit: PlannedVisit, alarm: bool, key: IssuedKey) -> VisitKeyAnswer:
    return VisitKeyAnswer(visit.visit_id, visit.customer_number, visit.planned_start,
                          visit.planned_end, alarm, key)


def _ids(ids) -> str:
    ids = list(ids)
    return ", ".join(f"#{i}" for i in ids) if ids else "none"


def _provider_name(session: Session, account: Account) -> str | None:
    from .models import Provider

    provider = session.get(Provider, account.provider_id) if account.provider_id else None
    return provider.name if provider else None

