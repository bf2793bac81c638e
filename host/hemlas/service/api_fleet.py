"""Customers, locks and battery warnings, scoped to the caller's provider (fleet/tenancy.py
holds the scope and records each read in the audit log; this only translates)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query

from ..fleet import tenancy
from . import schemas
from .deps import CallerDep, StoreDep

router = APIRouter(tags=["fleet"])
_NOT_FOUND = {404: {"model": schemas.Problem, "description": "no such id, or another provider's"}}


def _customer(record) -> dict:
    return {"customer_number": record.customer_number, "name": record.name,
            "address": record.address, "provider": record.provider,
            "created_at": record.created_at}


@router.get("/customers", response_model=list[schemas.Customer])
def customers(caller: CallerDep, fleet: StoreDep,
              search: str | None = Query(default=None, max_length=tenancy.SEARCH_MAX,
                                         description="part of the number, name or address")):
    """The caller's provider's customers (every provider's for the lock administrator)."""
    with fleet.unit_of_work() as uow:
        return [_customer(c) for c in tenancy.customers(uow, caller, search)]


@router.get("/customers/{number}", response_model=schemas.CustomerDetail, responses=_NOT_FOUND)
def customer(number: str, caller: CallerDep, fleet: StoreDep):
    """One customer and the locks with them now."""
    with fleet.unit_of_work() as uow:
        record, lock_ids = tenancy.customer(uow, caller, number)
    return {**_customer(record), "lock_ids": lock_ids}


@router.get("/locks", response_model=list[schemas.Lock])
def locks(caller: CallerDep, fleet: StoreDep):
    """The locks with the caller's provider's customers (every lock for the lock
    administrator and the technician)."""
    with fleet.unit_of_work() as uow:
        return [asdict(v) for v in tenancy.locks(uow, caller)]


@router.get("/locks/{lock_id}", response_model=schemas.Lock, responses=_NOT_FOUND)
def lock(lock_id: str, caller: CallerDep, fleet: StoreDep):
    with fleet.unit_of_work() as uow:
        return asdict(tenancy.lock(uow, caller, lock_id))


@router.get("/warnings", response_model=list[schemas.Warning])
def warnings(caller: CallerDep, fleet: StoreDep):
    """Battery warnings (CRITICAL, LOW, stale), most urgent first, for the locks the caller sees."""
    return [asdict(w) for w in tenancy.warnings(fleet, caller)]
