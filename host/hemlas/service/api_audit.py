"""The audit log, for the lock administrator: JSON, or CSV to export (?format=csv)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..fleet import audit
from ..fleet.roles import READ_AUDIT, require
from . import schemas
from .deps import CallerDep, StoreDep

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[schemas.AuditEntry],
            responses={200: {"content": {"text/csv": {}}}})
def audit_entries(caller: CallerDep, fleet: StoreDep,
                  format: Literal["json", "csv"] = "json",
                  since: int | None = Query(default=None, ge=0, description="unix time, from"),
                  until: int | None = Query(default=None, ge=0, description="unix time, before"),
                  before_id: int | None = Query(default=None, ge=1,
                                                description="page on: entries older than this id"),
                  limit: int = Query(default=1000, ge=1, le=audit.MAX_LIMIT)):
    """Entries newest first. Reading the log is itself recorded in it."""
    with fleet.unit_of_work() as uow:
        require(caller, READ_AUDIT)
        rows = audit.entries(uow, since=since, until=until, before_id=before_id, limit=limit)
        audit.record(uow, caller, "audit.read", f"{len(rows)} entries ({format})")
    if format == "csv":
        return Response(audit.as_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
    return [{k: v for k, v in asdict(r).items() if k != "account_id"} for r in rows]
