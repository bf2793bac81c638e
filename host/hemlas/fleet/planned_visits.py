"""Planned visits: a provider's plan imported from its planning system (plan_csv.py reads the
file), listed, moved and cancelled, each change in the audit log in its own transaction; the
keys that follow the plan are plan_keys.py's (docs/planning.md).

An import is all or nothing: every row is checked (plan_csv.py's own rules, then the store's:
the customer is this provider's, the carer is this provider's enabled carer) and one bad row
imports none. Importing a file again, or one that overlaps it, adds no visit twice: a row's
visit id (or, without one, the row itself) finds the visit already imported; a visit id found
with other fields moves the visit, with status cancelled cancels it, and either revokes the
keys already issued for it. Another provider's customer or carer is refused exactly as one
that does not exist.
"""

from __future__ import annotations

import hashlib
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..i18n import _, ngettext
from . import audit
from ._common import FleetError, _now
from .accounts import UnknownProviderError, provider_named
from .customers import UnknownCustomerError, check_provider
from .models import (PERSON_LENGTH, SOURCE_REF_LENGTH, Account, Customer, PlannedVisit,
                     PlannedVisitRecord, PlanImport, VisitKey)
from .plan_csv import CANCELLED, MAX_VISIT_S, PlanRow, RowProblem, parse_plan, problem
from .plan_keys import end_key, end_visit_keys
from .plan_listing import record
from .roles import CARER, IMPORT_PLAN, Caller, require

_LISTED_PROBLEMS = 50  # in the message; the API's answer lists up to MAX_PROBLEMS
MAX_PROBLEMS = 1000
_CHUNK = 500  # bound an IN (...) list


class PlanImportError(FleetError):
    """Rows that are not right: nothing was imported. ``problems`` lists each (line, rule)."""

    rule = "plan-rows"

    def __init__(self, source: str, problems: list[RowProblem]):
        shown = [_("  line {line} ({rule}): {message}").format(line=p.line, rule=p.rule,
                                                                message=p.message)
                 for p in problems[:_LISTED_PROBLEMS]]
        if len(problems) > _LISTED_PROBLEMS:
            shown.append(_("  ... and {n} more").format(n=len(problems) - _LISTED_PROBLEMS))
        head = ngettext("{source}: {n} bad row, nothing imported; correct it and import the "
                        "file again:", "{source}: {n} bad rows, nothing imported; correct them "
                        "and import the file again:", len(problems))
        super().__init__(head.format(source=source, n=len(problems)) + "\n" + "\n".join(shown))
        self.problems = problems


class UnknownPlannedVisitError(FleetError):
    rule = "unknown-visit"

    def __init__(self, visit_id: object):
        super().__init__(_("planned visit {visit_id} is not in the fleet store")
                         .format(visit_id=visit_id))


def plan_provider(session: Session, caller: Caller, provider: str | None) -> str:
    """Whose plan: a coordinator's own provider (naming another is refused as unknown); the
    lock administrator names one."""
    if not caller.all_providers:
        if provider is not None and check_provider(provider) != caller.provider:
            raise UnknownProviderError(provider)
        return caller.provider
    if provider is None:
        raise FleetError(_("name the provider whose plan this is (--provider)"))
    return provider_named(session, provider).name


def row_key(provider: str, row: PlanRow) -> str:
    """The visit a row names: by its visit id (unique within its provider), else by itself."""
    parts = (("id", provider, row.visit_id) if row.visit_id is not None else
             ("row", provider, row.customer_number, row.carer_login, row.start, row.end))
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def import_plan(session: Session, caller: Caller, data: bytes, *, provider: str | None = None,
                source: str = "plan.csv", now: int | None = None) -> PlanImport:
    """Import one provider's planned visits from the planning system's CSV (docs/planning.md).

    Raises:
        PlanImportError: a row is bad (each listed with its line and rule); nothing imported.
        PlanFileTooLargeError: the file is over plan_csv.MAX_PLAN_BYTES.
        ForbiddenError, UnknownProviderError.
    """
    require(caller, IMPORT_PLAN)
    provider = plan_provider(session, caller, provider)
    now = _now(now)
    rows, problems, read = parse_plan(data)
    carers = _check_in_store(session, provider, rows, problems)
    if problems:
        raise PlanImportError(source, sorted(problems, key=lambda p: p.line)[:MAX_PROBLEMS])
    keyed = {row_key(provider, row): row for row in rows}
    existing = {}
    keys = list(keyed)
    for i in range(0, len(keys), _CHUNK):
        existing.update((v.row_key, v) for v in session.scalars(
            select(PlannedVisit).where(PlannedVisit.row_key.in_(keys[i:i + _CHUNK]))
            .with_for_update()))
    added = moved = cancelled = unchanged = 0
    revoked: list[int] = []
    who = caller.actor[:PERSON_LENGTH]
    for key, row in keyed.items():
        status = "cancelled" if row.status == CANCELLED else "active"
        fields = dict(customer_number=row.customer_number,
                      carer_account_id=carers[row.carer_login].account_id,
                      planned_start=row.start, planned_end=row.end, status=status)
        where = f"{source}:{row.line}"[-SOURCE_REF_LENGTH:]
        visit = existing.get(key)
        if visit is None:
            session.add(PlannedVisit(provider=provider, row_key=key, external_id=row.visit_id,
                                     kind="planned", source=where, created_at=now,
                                     created_by=who, **fields))
            added += status == "active"
            cancelled += status == "cancelled"
            continue
        if all(getattr(visit, name) == value for name, value in fields.items()):
            unchanged += 1
            continue
        why = "cancelled" if status == "cancelled" else "moved"
        revoked += end_visit_keys(session, visit.visit_id, why, now)
        for name, value in fields.items():
            setattr(visit, name, value)
        visit.source, visit.changed_at, visit.changed_by = where, now, who
        cancelled += why == "cancelled"
        moved += why == "moved"
    result = PlanImport(read, added, moved, cancelled, unchanged, tuple(sorted(revoked)))
    audit.record(session, caller, "plan.import",
                 f"{source}: {read} rows, {added} added, {moved} moved, {cancelled} cancelled, "
                 f"{unchanged} unchanged; keys revoked: {_ids(result.revoked_key_ids)}",
                 provider, now=now)
    session.flush()
    return result


def _check_in_store(session: Session, provider: str, rows: list[PlanRow],
                    problems: list[RowProblem]) -> dict[str, Account]:
    """The store's rules for each row, added to ``problems``; the carers' accounts by login."""
    numbers = sorted({row.customer_number for row in rows})
    logins = sorted({row.carer_login for row in rows})
    theirs: dict[str, str | None] = {}
    carers: dict[str, Account] = {}
    for i in range(0, len(numbers), _CHUNK):
        theirs.update((number, provider) for number, provider in session.execute(
            select(Customer.customer_number, Customer.provider)
            .where(Customer.customer_number.in_(numbers[i:i + _CHUNK]))))
    for i in range(0, len(logins), _CHUNK):
        carers.update((a.login, a) for a in session.scalars(
            select(Account).where(Account.login.in_(logins[i:i + _CHUNK]))))
    provider_id = provider_named(session, provider).provider_id
    for row in rows:
        if theirs.get(row.customer_number, "") != provider:
            problems.append(problem(row.line, "unknown-customer",
                                    str(UnknownCustomerError(row.customer_number))))
        account = carers.get(row.carer_login)
        if account is None or account.role != CARER or account.provider_id != provider_id:
            problems.append(problem(row.line, "unknown-carer", _(
                "{login} is not a carer's login at this provider (hemlas accounts list shows "
                "them)").format(login=row.carer_login)))
        elif account.disabled_at is not None:
            problems.append(problem(row.line, "carer-disabled", _(
                "{login}'s account is disabled: plan the visit for another carer")
                .format(login=row.carer_login)))
    return carers


def parse_visit_id(value: object) -> int:
    """A visit id from a URL or a command line; UnknownPlannedVisitError for anything else."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise UnknownPlannedVisitError(value)
    return int(text)


def _scoped(session: Session, caller: Caller, visit_id: object, for_update: bool = False) -> PlannedVisit:
    """The visit, if the caller's provider's (and, for a carer, their own): else unknown."""
    visit = session.get(PlannedVisit, parse_visit_id(visit_id), with_for_update=for_update)
    if visit is None or not (caller.all_providers or visit.provider == caller.provider) or \
            not (caller.may(IMPORT_PLAN) or visit.carer_account_id == caller.account_id):
        raise UnknownPlannedVisitError(visit_id)
    return visit


def cancel_visit(session: Session, caller: Caller, visit_id: object,
                 now: int | None = None) -> tuple[PlannedVisitRecord, list[int], bool]:
    """Cancel a planned visit (or end an alarm access early): its keys are revoked. Returns
    (its record, key ids revoked now, whether it was cancelled already: then nothing changed)."""
    require(caller, IMPORT_PLAN)
    visit = _scoped(session, caller, visit_id, for_update=True)
    now = _now(now)
    if visit.status == "cancelled":
        return record(session, visit), [], True
    visit.status, visit.changed_at, visit.changed_by = "cancelled", now, caller.actor[:PERSON_LENGTH]
    revoked = end_visit_keys(session, visit.visit_id, "cancelled", now)
    audit.record(session, caller, "plan.cancel", f"visit {visit.visit_id} (customer "
                 f"{visit.customer_number}); keys revoked: {_ids(revoked)}", visit.provider, now=now)
    return record(session, visit), revoked, False


def move_visit(session: Session, caller: Caller, visit_id: object, start: int, end: int,
               now: int | None = None) -> tuple[PlannedVisitRecord, list[int]]:
    """Move a planned visit to another time: its keys are revoked; the carer's next fetch gets
    keys for the new window. Returns (its record, key ids revoked)."""
    require(caller, IMPORT_PLAN)
    visit = _scoped(session, caller, visit_id, for_update=True)
    if visit.kind != "planned":
        raise FleetError(_("visit {visit_id} is an alarm access: it cannot be moved, only ended "
                           "(hemlas plan cancel {visit_id})").format(visit_id=visit.visit_id))
    if visit.status != "active":
        raise FleetError(_("visit {visit_id} is cancelled: a cancelled visit is not moved")
                         .format(visit_id=visit.visit_id))
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= start + MAX_VISIT_S):
        raise FleetError(_("a planned visit ends after it starts, at most {hours} hours later")
                         .format(hours=MAX_VISIT_S // 3600))
    now = _now(now)
    revoked = end_visit_keys(session, visit.visit_id, "moved", now)
    visit.planned_start, visit.planned_end = start, end
    visit.changed_at, visit.changed_by = now, caller.actor[:PERSON_LENGTH]
    audit.record(session, caller, "plan.move", f"visit {visit.visit_id} (customer "
                 f"{visit.customer_number}); keys revoked: {_ids(revoked)}", visit.provider, now=now)
    return record(session, visit), revoked


def reissue(session: Session, caller: Caller, visit_id: object,
            now: int | None = None) -> list[int]:
    """Let a visit whose key was revoked outside the plan (a lost phone) get keys again at its
    carer's next fetch; the ids of the revoked keys it had."""
    from .models import IssuedKeyRow

    require(caller, IMPORT_PLAN)
    visit = _scoped(session, caller, visit_id, for_update=True)
    now = _now(now)
    ended = []
    for link in session.scalars(select(VisitKey).where(VisitKey.visit_id == visit.visit_id,
                                                       VisitKey.ended_at.is_(None))):
        if session.get(IssuedKeyRow, link.key_id).revoked_at is not None:
            end_key(session, link, "reissued", now)
            ended.append(link.key_id)
    audit.record(session, caller, "plan.reissue", f"visit {visit.visit_id}: blocked keys "
                 f"{_ids(ended)} replaced at the next fetch", visit.provider, now=now)
    return ended


def _ids(ids) -> str:
    ids = list(ids)
    return ", ".join(f"#{i}" for i in ids) if ids else "none"
