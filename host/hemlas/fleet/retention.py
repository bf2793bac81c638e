"""Retention: each kind of record is kept for a configured period, then removed on schedule,
and each removal is recorded in the audit log (how many of which kind, before which cut-off:
never whose). docs/privacy.md says what is kept, for how long and why.

The periods are the ``[retention]`` table of the settings file (settings.py), in days, the
compensation records' in years (bokföringslagen counts calendar years). A value that is not
a whole number in range, or a name that is no kind, is refused: a removal must never run on a
period nobody meant. What the rules keep whatever the periods say is retention_rules.py's.

Runs are safe at once and again: each batch is one transaction that takes the store's write
lock first (SQLite's BEGIN IMMEDIATE; a PostgreSQL advisory lock), so two runs take turns and
the second finds nothing left; a run cut off keeps what its committed batches did.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..i18n import N_, Texts, _
from . import audit
from . import retention_rules as rules
from .errors import FleetError
from .models import AuditEntry
from .roles import RUN_RETENTION, Caller, require

log = logging.getLogger(__name__)

ACTION = "retention.remove"  # the audit log's action for one kind's removal
BATCH = 20_000  # records a transaction removes at most: other writers wait no longer than that
DAILY_S = 86_400
_ADVISORY_LOCK = 0x68656D6C6173  # "hemlas": one number for every retention run on a server
OPEN_MONTHS = "compensation_open_months"
DEFAULT_OPEN_MONTHS = 2  # this month and the last: late registrations and corrections
MAX_DAYS = 100 * 366


@dataclass(frozen=True)
class Kind:
    name: str
    default: int  # days; years for the compensation records
    rule: Callable[[Session, int, rules.Context, int], int]
    years: bool = False
    # The visit and compensation records: none of a compensation month still open goes.
    held: bool = False


KINDS = (
    Kind("visit_events", 730, rules.visit_events, held=True),
    Kind("manual_visits", 730, rules.manual_visits, held=True),
    Kind("planned_visits", 730, rules.planned_visits, held=True),
    Kind("door_events", 90, rules.door_events),
    Kind("lock_events", 365, rules.other_events),
    Kind("battery_readings", 730, rules.battery_readings),
    Kind("battery_swaps", 730, rules.battery_swaps),
    Kind("login_failures", 30, rules.login_failures),
    Kind("ended_sessions", 90, rules.ended_tokens),
    Kind("compensation_hours", 7, rules.compensation_hours, years=True, held=True),
    Kind("lifecycle", 7, rules.lifecycle, years=True, held=True),
)
BY_NAME = {kind.name: kind for kind in KINDS}
KIND_TEXT = Texts({
    "visit_events": N_("visit events (locks, unlocks, battery-swap registrations)"),
    "manual_visits": N_("visits registered by hand, their notes and corrections"),
    "planned_visits": N_("planned visits and alarm accesses (the plan, an alarm's reason)"),
    "door_events": N_("door events (opened, closed, left open, forced)"),
    "lock_events": N_("other lock events (starts, faults, sessions, refusals)"),
    "battery_readings": N_("battery readings"),
    "battery_swaps": N_("battery swaps and their lock/unlock checks"),
    "login_failures": N_("failed logins"),
    "ended_sessions": N_("ended sessions and device tokens"),
    "compensation_hours": N_("registered \"Uppstart smarta lås\" hours and their corrections"),
    "lifecycle": N_("ended placements of locks and their lifecycle records (mounts, moves, "
                    "dismantling)"),
})


class RetentionSettingsError(FleetError):
    rule = "retention-settings"


@dataclass(frozen=True)
class Policy:
    periods: dict[str, int]  # kind: days (years for a years kind)
    open_months: int = DEFAULT_OPEN_MONTHS


@dataclass(frozen=True)
class Outcome:
    """What one run removed: records per kind, each kind's cut-off (unix time: older went)."""

    removed: dict[str, int]
    cutoffs: dict[str, int]
    open_start: int  # the start of the oldest compensation month still open
    at: int


def policy(settings: dict | None = None) -> Policy:
    """The periods: the defaults, as the settings' ``[retention]`` table changes them.

    Raises:
        RetentionSettingsError: a name that is no kind, or a value out of range.
    """
    if settings is None:
        from ..settings import load

        settings = load().get("retention", {})
    if not isinstance(settings, dict):
        raise RetentionSettingsError(_("settings: retention must be a table ([retention])"))
    periods = {kind.name: kind.default for kind in KINDS}
    open_months = DEFAULT_OPEN_MONTHS
    for name, value in settings.items():
        if name == OPEN_MONTHS:
            open_months = _whole(name, value, 1, 24)
        elif name in BY_NAME:
            periods[name] = _whole(name, value, 1, 100 if BY_NAME[name].years else MAX_DAYS)
        else:
            raise RetentionSettingsError(_(
                "settings: [retention] has no kind {name!r}; the kinds are: {kinds}, and "
                "{open_months}").format(name=name, kinds=", ".join(BY_NAME),
                                        open_months=OPEN_MONTHS))
    return Policy(periods, open_months)


def _whole(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RetentionSettingsError(_(
            "settings: [retention] {name} must be a whole number in {low}..{high}, not {value!r}")
            .format(name=name, low=low, high=high, value=value))
    return value


def open_start(now: int, open_months: int) -> int:
    """The local start of the oldest compensation month still open: this month and the
    ``open_months - 1`` before it are open (their basis may still change)."""
    today = datetime.date.fromtimestamp(now)
    index = today.year * 12 + today.month - 1 - (open_months - 1)
    first = datetime.date(index // 12, index % 12 + 1, 1)
    return int(datetime.datetime.combine(first, datetime.time()).timestamp())


def cutoffs(rules_: Policy, now: int) -> dict[str, int]:
    """Each kind's cut-off: records older than it may go. Days count back from now; years are
    calendar years (kept through the N-th year after the one they belong to); a held kind's is
    never later than the start of the oldest compensation month still open."""
    found, held_from = {}, open_start(now, rules_.open_months)
    for kind in KINDS:
        period = rules_.periods[kind.name]
        if kind.years:
            first = datetime.date(datetime.date.fromtimestamp(now).year - period, 1, 1)
            found[kind.name] = int(datetime.datetime.combine(first, datetime.time()).timestamp())
        else:
            found[kind.name] = now - period * 86_400
        if kind.held:
            found[kind.name] = min(found[kind.name], held_from)
    return found


def run(store, caller: Caller, rules_: Policy | None = None, now: int | None = None,
        batch: int = BATCH) -> Outcome:
    """Remove every record older than its kind's period (the rules' exceptions kept), each
    kind in transactions of at most ``batch`` records, each recorded in the audit log in the
    transaction that removes it (a kind that lost nothing is recorded too: the rule ran).

    Raises:
        ForbiddenError: the caller may not run retention.
        RetentionSettingsError: the settings are wrong (nothing is removed).
    """
    require(caller, RUN_RETENTION)
    rules_ = policy() if rules_ is None else rules_
    now = int(time.time()) if now is None else now
    context = rules.Context(now, open_start(now, rules_.open_months))
    cuts = cutoffs(rules_, now)
    removed = {}
    for kind in KINDS:
        removed[kind.name] = 0
        while True:
            with store.unit_of_work() as uow:
                _take_turn(uow)
                count = kind.rule(uow, cuts[kind.name], context, batch)
                audit.record(uow, caller, ACTION, _target(kind.name, count, cuts[kind.name]),
                             now=now)
            removed[kind.name] += count
            if count < batch:
                break
    return Outcome(removed, cuts, context.open_start, now)


def _target(kind: str, count: int, cut: int) -> str:
    """The audit entry's target: the kind, the count, the cut-off (no one's data)."""
    return f"{kind}: {count} removed, before {audit.iso(cut)}"


def _take_turn(session: Session) -> None:
    """Serialise runs (the SQLite transaction already holds the write lock), and have SQLite
    overwrite what it deletes rather than leave it in free pages."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
    elif session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def runs(session: Session, caller: Caller, limit: int = 100) -> list[audit.AuditRecord]:
    """The audit log's retention entries, newest first (the report of what went when)."""
    require(caller, RUN_RETENTION)
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == ACTION)
                           .order_by(AuditEntry.audit_id.desc()).limit(max(1, min(limit, 1000))))
    return [audit._record(row) for row in rows]


def run_daily(store, caller: Caller, interval_s: float = DAILY_S) -> Callable[[], None]:
    """Run retention now and every ``interval_s`` in a background thread (`hemlas serve`);
    returns the function that stops it. A failed run is logged and tried at the next turn."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                outcome = run(store, caller)
                log.info("retention: removed %s", {k: v for k, v in outcome.removed.items() if v})
            except Exception:  # the service goes on; the log says why, every day until fixed
                log.exception("retention run failed")
            stop.wait(interval_s)

    thread = threading.Thread(target=loop, name="hemlas-retention", daemon=True)
    thread.start()

    def cancel() -> None:
        stop.set()
        thread.join(timeout=30)

    return cancel
