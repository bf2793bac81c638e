"""Data protection (docs/privacy.md): a customer's access-request export and erasure at the
end of care (the customer's provider's coordinator, or the lock administrator), the retention
run and its report (the lock administrator). The rules are fleet/'s; this only translates."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from ..fleet import erasure, retention, subject_access
from ..fleet.audit import iso
from ..fleet.subject_access_text import as_text
from . import schemas
from .deps import CallerDep, StoreDep

router = APIRouter(tags=["privacy"])
_NOT_FOUND = {404: {"model": schemas.Problem, "description": "no such id, or another provider's"}}


class ErasureAnswer(BaseModel):
    customer_number: str
    records: dict[str, int]  # records of each kind that keep their dates under a pseudonym
    at: str


class RetentionRun(BaseModel):
    removed: dict[str, int]
    cutoffs: dict[str, str]
    compensation_open_since: str
    at: str


class RetentionEntry(BaseModel):
    at: str
    actor: str
    target: str | None


class RetentionReport(BaseModel):
    periods: dict[str, dict]
    compensation_open_months: int
    runs: list[RetentionEntry]


@router.get("/customers/{number}/export", responses={
    **_NOT_FOUND, 200: {"content": {"application/json": {}, "text/plain": {}}}})
def export(number: str, caller: CallerDep, fleet: StoreDep,
           format: Literal["json", "text"] = "json"):
    """Everything stored about the customer (GDPR art. 15); the export is audited."""
    document = subject_access.export(fleet, caller, number)
    if format == "text":
        return PlainTextResponse(as_text(document))
    return document


@router.post("/customers/{number}/erasure", response_model=ErasureAnswer, responses=_NOT_FOUND)
def erase(number: str, caller: CallerDep, fleet: StoreDep):
    """Erase the customer's personal data at the end of care (what the compensation basis
    needs stays, pseudonymised). Refused while a lock is mounted, an NFC tag is active or a
    compensation month with their mount or hour is open; a second time says it was done."""
    with fleet.unit_of_work() as uow:
        done = erasure.erase(uow, caller, number)
    return {"customer_number": done.customer_number, "records": done.records, "at": iso(done.at)}


@router.post("/retention", response_model=RetentionRun)
def run_retention(caller: CallerDep, fleet: StoreDep):
    """Remove what is older than its period now (the service also does it daily)."""
    outcome = retention.run(fleet, caller)
    return {"removed": outcome.removed,
            "cutoffs": {k: iso(v) for k, v in outcome.cutoffs.items()},
            "compensation_open_since": iso(outcome.open_start), "at": iso(outcome.at)}


@router.get("/retention", response_model=RetentionReport)
def retention_report(caller: CallerDep, fleet: StoreDep,
                     limit: int = Query(default=100, ge=1, le=1000)):
    """The periods in force and the removals recorded, newest first."""
    with fleet.unit_of_work() as uow:
        entries = retention.runs(uow, caller, limit)
    rules = retention.policy()
    return {"periods": {k.name: {"period": rules.periods[k.name],
                                 "unit": "years" if k.years else "days"} for k in retention.KINDS},
            "compensation_open_months": rules.open_months,
            "runs": [{"at": iso(e.at), "actor": e.actor, "target": e.target} for e in entries]}

