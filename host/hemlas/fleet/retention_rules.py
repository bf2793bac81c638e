"""What each kind of record may lose to retention, and the removal itself (retention.py runs
these; docs/privacy.md has the table and why).

Each rule removes at most ``limit`` records older than its cut-off and returns how many went.
Every rule keeps what something still reads, whatever the periods say:

- the visit records (visit events, manual visits) and the compensation records of a month
  whose compensation is still open (``Context.open_start``);
- the newest battery reading of each lock, and its last registered swap: the battery report
  reads them; a swap still pending (unverified);
- the newest door event of each lock (a door left open warns until a closing is synced) and
  every forced entry the door report still lists;
- a record that arrived (was synced) within its period, however old the lock's clock said it
  was: a lock whose clock ran wrong must not have its visits vanish before anyone saw them.

A manual visit or a registered hour goes only together with its corrections and the rows they
replace or were replaced by (the whole chain old enough), never leaving half a correction.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from ..firmware import wire
from .doors import DEFAULT_FORCED_WITHIN_S
from .models import (AuthToken, BatteryReading, BatterySwap, CompensationHour,
                     CompensationHourCorrection, LockAssignment, LockEvent, LockLifecycle,
                     LoginFailure, ManualVisit, ManualVisitCorrection, PlannedVisit, SwapCycle,
                     VisitKey)
from .visit_pairing import VISIT_EVENTS

DOOR_STATE_EVENTS = (wire.EVENT_DOOR_OPENED, wire.EVENT_DOOR_CLOSED, wire.EVENT_DOOR_LEFT_OPEN)
DOOR_EVENTS = DOOR_STATE_EVENTS + (wire.EVENT_FORCED,)


@dataclass(frozen=True)
class Context:
    """One run's moment: now, and the start of the oldest compensation month still open."""

    now: int
    open_start: int

    @property
    def open_start_day(self) -> datetime.date:
        return datetime.date.fromtimestamp(self.open_start)


def _count(result) -> int:
    return max(0, result.rowcount or 0)


def _event_keys(*where):
    return select(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq).where(*where)


def _delete_events(session: Session, keys, limit: int) -> int:
    key = tuple_(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq)
    return _count(session.execute(delete(LockEvent).where(key.in_(keys.limit(limit)))
                                  .execution_options(synchronize_session=False)))


def visit_events(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Locks and unlocks, swap registrations: the visit record (docs/visits.md)."""
    cut = min(cut, ctx.open_start)
    return _delete_events(session, _event_keys(
        LockEvent.type.in_(VISIT_EVENTS), LockEvent.at < cut, LockEvent.synced_at < cut), limit)


def door_events(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Door opened, closed, left open, forced (docs/knock.md)."""
    newest = (select(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq,
                     func.row_number().over(partition_by=LockEvent.lock_id,
                                            order_by=(LockEvent.log_epoch.desc(),
                                                      LockEvent.seq.desc())).label("n"))
              .where(LockEvent.type.in_(DOOR_STATE_EVENTS)).subquery())
    newest_keys = select(newest.c.lock_id, newest.c.log_epoch, newest.c.seq).where(newest.c.n == 1)
    key = tuple_(LockEvent.lock_id, LockEvent.log_epoch, LockEvent.seq)
    listed_forced = (LockEvent.type == wire.EVENT_FORCED) & (
        LockEvent.at >= ctx.now - DEFAULT_FORCED_WITHIN_S)
    return _delete_events(session, _event_keys(
        LockEvent.type.in_(DOOR_EVENTS), LockEvent.at < cut, LockEvent.synced_at < cut,
        ~listed_forced, key.not_in(newest_keys)), limit)


def other_events(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Every other event of a lock's log: boots, faults, sessions, refusals, clock, battery."""
    return _delete_events(session, _event_keys(
        LockEvent.type.not_in(VISIT_EVENTS + DOOR_EVENTS), LockEvent.at < cut,
        LockEvent.synced_at < cut), limit)


def battery_readings(session: Session, cut: int, ctx: Context, limit: int) -> int:
    newest = (select(BatteryReading.reading_id,
                     func.row_number().over(partition_by=BatteryReading.lock_id,
                                            order_by=(BatteryReading.at.desc(),
                                                      BatteryReading.reading_id.desc())).label("n"))
              .subquery())
    ids = (select(BatteryReading.reading_id)
           .where(BatteryReading.at < cut,
                  BatteryReading.reading_id.not_in(select(newest.c.reading_id).where(newest.c.n == 1)))
           .limit(limit))
    return _count(session.execute(delete(BatteryReading).where(BatteryReading.reading_id.in_(ids))
                                  .execution_options(synchronize_session=False)))


def battery_swaps(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Finished swaps and their verification cycles; never one pending, nor a lock's last
    registered swap (the battery report times the cell from it)."""
    last = (select(BatterySwap.lock_id, func.max(BatterySwap.registered_at).label("last"))
            .group_by(BatterySwap.lock_id).subquery())
    ids = list(session.scalars(
        select(BatterySwap.swap_id)
        .outerjoin(last, last.c.lock_id == BatterySwap.lock_id)
        .where(BatterySwap.status != "pending", BatterySwap.started_at < cut,
               func.coalesce(BatterySwap.finished_at, 0) < cut,
               func.coalesce(BatterySwap.registered_at, 0) < cut,
               or_(BatterySwap.registered_at.is_(None), last.c.last.is_(None),
                   BatterySwap.registered_at != last.c.last))
        .order_by(BatterySwap.swap_id).limit(limit)))
    if not ids:
        return 0
    session.execute(delete(SwapCycle).where(SwapCycle.swap_id.in_(ids))
                    .execution_options(synchronize_session=False))
    return _count(session.execute(delete(BatterySwap).where(BatterySwap.swap_id.in_(ids))
                                  .execution_options(synchronize_session=False)))


def _chains(members: dict[int, bool], links: list[tuple[int, int | None, bool]]) -> set[int]:
    """Rows removable as whole correction chains: ``members`` is {row id: old enough},
    ``links`` (corrected id, replacement id or None, correction old enough). A chain goes only
    if all its rows and corrections are old enough."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in members:
        find(row)
    for corrected, replacement, _old in links:
        if replacement is not None:
            parent[find(corrected)] = find(replacement)
    bad = {find(row) for row, old in members.items() if not old}
    bad |= {find(corrected) for corrected, _r, old in links if not old}
    return {row for row in members if find(row) not in bad}


def _remove_chains(session: Session, row_model, row_id, correction_model, member_ids,
                   old: Callable) -> int:
    """Remove the removable chains among rows (all rows: a chain's newest may be young). No
    batch limit: a limit could cut a chain in two, and these tables hold a few rows a day."""
    corrections = session.execute(select(correction_model.visit_id if correction_model is
                                         ManualVisitCorrection else correction_model.hour_id,
                                         correction_model.replacement_id,
                                         correction_model.recorded_at)).all()
    members = {row: is_old for row, is_old in member_ids}
    links = [(c, r, old(at)) for c, r, at in corrections]
    gone = sorted(_chains(members, links))
    if not gone:
        return 0
    corrected = correction_model.visit_id if correction_model is ManualVisitCorrection \
        else correction_model.hour_id
    for chunk in _chunks(gone):
        session.execute(delete(correction_model).where(or_(corrected.in_(chunk),
                                                           correction_model.replacement_id.in_(chunk)))
                        .execution_options(synchronize_session=False))
    removed = 0
    for chunk in _chunks(gone):
        removed += _count(session.execute(delete(row_model).where(row_id.in_(chunk))
                                          .execution_options(synchronize_session=False)))
    return removed


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def manual_visits(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Visits registered by hand (with their notes), with their corrections."""
    cut = min(cut, ctx.open_start)
    rows = session.execute(select(ManualVisit.visit_id, ManualVisit.at, ManualVisit.out_at,
                                  ManualVisit.registered_at)).all()
    members = [(v, max(at, out_at or 0, registered) < cut) for v, at, out_at, registered in rows]
    return _remove_chains(session, ManualVisit, ManualVisit.visit_id, ManualVisitCorrection,
                          members, lambda at: at < cut)


def planned_visits(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Planned visits and alarm accesses (the plan, an alarm's reason) that ended, and were
    last changed, before the cut-off, with their links to the keys issued for them (the keys'
    own records stay, as every issued key's)."""
    cut = min(cut, ctx.open_start)
    ids = list(session.scalars(
        select(PlannedVisit.visit_id)
        .where(PlannedVisit.planned_end < cut, PlannedVisit.created_at < cut,
               or_(PlannedVisit.changed_at.is_(None), PlannedVisit.changed_at < cut))
        .order_by(PlannedVisit.visit_id).limit(limit)))
    removed = 0
    for chunk in _chunks(ids):
        session.execute(delete(VisitKey).where(VisitKey.visit_id.in_(chunk))
                        .execution_options(synchronize_session=False))
        removed += _count(session.execute(delete(PlannedVisit).where(
            PlannedVisit.visit_id.in_(chunk)).execution_options(synchronize_session=False)))
    return removed


def login_failures(session: Session, cut: int, ctx: Context, limit: int) -> int:
    ids = select(LoginFailure.failure_id).where(LoginFailure.at < cut).limit(limit)
    return _count(session.execute(delete(LoginFailure).where(LoginFailure.failure_id.in_(ids))
                                  .execution_options(synchronize_session=False)))


def ended_tokens(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Sessions and device tokens that ended (expired, or revoked) before the cut-off."""
    ids = (select(AuthToken.token_id)
           .where(or_(AuthToken.expires_at < cut,
                      AuthToken.revoked_at.is_not(None) & (AuthToken.revoked_at < cut)))
           .limit(limit))
    return _count(session.execute(delete(AuthToken).where(AuthToken.token_id.in_(ids))
                                  .execution_options(synchronize_session=False)))


def compensation_hours(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Registered "Uppstart smarta lås" hours with their corrections: by the hour's date and
    its registration, both before the cut-off (a calendar year's start: bokföringslagen)."""
    cut = min(cut, ctx.open_start)
    cut_day = datetime.date.fromtimestamp(cut)
    rows = session.execute(select(CompensationHour.hour_id, CompensationHour.day,
                                  CompensationHour.registered_at)).all()
    members = [(h, day < cut_day and registered < cut) for h, day, registered in rows]
    return _remove_chains(session, CompensationHour, CompensationHour.hour_id,
                          CompensationHourCorrection, members, lambda at: at < cut)


def lifecycle(session: Session, cut: int, ctx: Context, limit: int) -> int:
    """Ended placements (lock_assignments) and their lifecycle records (mounts, moves, key
    custody, dismantling), all before the cut-off; never a lock's latest placement, whose
    records say where the lock is now (lifecycle.py)."""
    cut = min(cut, ctx.open_start)
    latest = (select(LockLifecycle.assignment_id,
                     func.row_number().over(partition_by=LockLifecycle.lock_id,
                                            order_by=LockLifecycle.record_id.desc()).label("n"))
              .subquery())
    young = select(LockLifecycle.assignment_id).where(
        or_(LockLifecycle.at >= cut, LockLifecycle.recorded_at >= cut))
    ids = list(session.scalars(
        select(LockAssignment.assignment_id)
        .where(LockAssignment.ended_at.is_not(None), LockAssignment.ended_at < cut,
               LockAssignment.assigned_at < cut,
               LockAssignment.assignment_id.not_in(young),
               LockAssignment.assignment_id.not_in(
                   select(latest.c.assignment_id).where(latest.c.n == literal(1))))
        .order_by(LockAssignment.assignment_id).limit(limit)))
    if not ids:
        return 0
    removed = 0
    for chunk in _chunks(ids):
        removed += _count(session.execute(delete(LockLifecycle)
                                          .where(LockLifecycle.assignment_id.in_(chunk))
                                          .execution_options(synchronize_session=False)))
        session.execute(delete(LockAssignment).where(LockAssignment.assignment_id.in_(chunk))
                        .execution_options(synchronize_session=False))
    return removed
