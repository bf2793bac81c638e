"""Planned visits and alarm access (docs/planning.md): a coordinator imports the provider's
plan (the planning system's CSV as the request's body), lists and cancels visits; a carer
asks for an alarm key; coordinators list the alarm accesses. The rules are fleet/'s
(planned_visits.py, alarm_access.py); this only translates."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..fleet import alarm_access, plan_csv, plan_listing, planned_visits
from ..keyfile import StaffKey, _to_json
from . import problems, schemas
from .deps import CallerDep, StoreDep

router = APIRouter(tags=["plan"])
# The import's own body bound (app.py gives this path it instead of the 16 KiB of the rest).
IMPORT_PATH = "/plan/imports"
MAX_IMPORT_BYTES = plan_csv.MAX_PLAN_BYTES
_NOT_FOUND = {404: {"model": schemas.Problem, "description": "no such visit, or another provider's"}}


class PlannedVisit(BaseModel):
    visit_id: int
    provider: str
    external_id: str | None
    customer_number: str
    carer_login: str
    carer_name: str
    planned_start: int
    planned_end: int
    kind: str
    status: str
    reason: str | None
    key_ids: list[int]


class ImportAnswer(BaseModel):
    rows: int
    added: int
    moved: int
    cancelled: int
    unchanged: int
    revoked_key_ids: list[int]


class AlarmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_number: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=500)
    minutes: int = Field(default=alarm_access.DEFAULT_MINUTES, ge=alarm_access.MIN_MINUTES,
                         le=alarm_access.MAX_MINUTES)


class StaffKeyEntry(BaseModel):
    """A key as the field client's key file holds it (keyfile.py): for the carer's device only."""

    lock_id: str
    key_id: int
    role: int
    not_before: int
    not_after: int
    key: str
    adv_key: str


class AlarmAnswer(BaseModel):
    visit: PlannedVisit
    again: bool
    keys: list[StaffKeyEntry]


def _visit(record) -> dict:
    fields = PlannedVisit.model_fields
    return {k: (list(v) if k == "key_ids" else v) for k, v in asdict(record).items() if k in fields}


async def _csv_body(request: Request) -> bytes:
    return await request.body()  # bounded by app.BodyLimit (MAX_IMPORT_BYTES on this path)


@router.post(IMPORT_PATH, response_model=ImportAnswer,
             openapi_extra={"requestBody": {"content": {"text/csv": {}}, "required": True}},
             responses={422: {"model": schemas.Problem, "description": "bad rows: nothing imported"}})
def import_plan(caller: CallerDep, fleet: StoreDep, body: bytes = Depends(_csv_body),
                provider: str | None = Query(default=None, max_length=200,
                                             description="the lock administrator's: whose plan"),
                source: str = Query(default="plan.csv", max_length=200,
                                    description="the file's name, for the messages")):
    """Import the provider's planned visits: the CSV is the body (docs/planning.md). All rows
    or none: a bad row answers 422 with every row's line and rule in ``errors``."""
    try:
        with fleet.unit_of_work() as uow:
            result = planned_visits.import_plan(uow, caller, body, provider=provider,
                                                source=source)
    except planned_visits.PlanImportError as err:
        return problems.problem(422, err.rule, str(err),
                                errors=[asdict(p) for p in err.problems])
    except plan_csv.PlanFileTooLargeError as err:
        return problems.problem(413, err.rule, str(err))
    return asdict(result)


@router.get("/plan/visits", response_model=list[PlannedVisit],
            responses={200: {"content": {"text/csv": {}}}})
def list_visits(caller: CallerDep, fleet: StoreDep, format: Literal["json", "csv"] = "json",
                customer: str | None = Query(default=None, max_length=32),
                carer: str | None = Query(default=None, max_length=64),
                since: int | None = Query(default=None, ge=0, description="unix time: ending after"),
                until: int | None = Query(default=None, ge=0, description="unix time: starting before")):
    """The caller's provider's planned visits and alarm accesses (a carer's: their own)."""
    with fleet.unit_of_work() as uow:
        records = plan_listing.visits(uow, caller, customer=customer, carer=carer,
                                        since=since, until=until)
    if format == "csv":
        return _csv(plan_listing.as_csv(records), "planned-visits.csv")
    return [_visit(r) for r in records]


@router.post("/plan/visits/{visit_id}/cancel", response_model=PlannedVisit, responses=_NOT_FOUND)
def cancel_visit(visit_id: str, caller: CallerDep, fleet: StoreDep):
    """Cancel a planned visit (or end an alarm access early): its keys are revoked."""
    with fleet.unit_of_work() as uow:
        record, _revoked, _already = planned_visits.cancel_visit(uow, caller, visit_id)
    return _visit(record)


@router.post("/alarm-accesses", response_model=AlarmAnswer, responses={
    404: {"model": schemas.Problem, "description": "no such customer, or another provider's"}})
def request_alarm_key(body: AlarmRequest, caller: CallerDep, fleet: StoreDep):
    """A carer answering a safety alarm: a key to the customer's door(s) at once, for
    ``minutes``, logged and flagged as alarm access. The answer holds the key (this carer's
    device's, as its key file keeps it); asked again while it lasts, the same key."""
    with fleet.unit_of_work() as uow:
        access = alarm_access.request_alarm_key(uow, caller, body.customer_number, body.reason,
                                                minutes=body.minutes)
    return {"visit": _visit(access.visit), "again": access.again,
            "keys": [_to_json(StaffKey.from_issued(k)) for k in access.keys]}


@router.get("/alarm-accesses", response_model=list[PlannedVisit],
            responses={200: {"content": {"text/csv": {}}}})
def list_alarm_accesses(caller: CallerDep, fleet: StoreDep,
                        format: Literal["json", "csv"] = "json",
                        since: int | None = Query(default=None, ge=0, description="unix time, from"),
                        until: int | None = Query(default=None, ge=0, description="unix time, before")):
    """The provider's alarm accesses, for its coordinators (every provider's for the lock
    administrator); CSV to export, names and reasons written as text."""
    with fleet.unit_of_work() as uow:
        records = alarm_access.alarm_accesses(uow, caller, since=since, until=until)
        if format == "csv":
            return _csv(alarm_access.report_csv(uow, records), "alarm-accesses.csv")
    return [_visit(r) for r in records]


def _csv(content: str, name: str) -> Response:
    return Response(content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
