"""Field devices: their keys fetched ahead, and their uploads applied once each
(fleet/uploads.py holds the rules; this only translates).

    GET /keys?hours=N                          the caller's keys valid now or within N hours
    PUT /locks/{lock_id}/uploads/{upload_id}   one upload; the same id again: the same answer

PUT to a name the client made: a repeat is the same request, and answers the same."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ..fleet import uploads
from ..fleet.models import LOCK_ID_LENGTH, PERSON_LENGTH, REASON_LENGTH, SOURCE_LENGTH
from . import schemas
from .deps import CallerDep, StoreDep

router = APIRouter(tags=["field"])
_NOT_FOUND = {404: {"model": schemas.Problem, "description": "no such lock, or another provider's"}}
_INT32 = 2**31 - 1
_UINT32 = 2**32 - 1
_MAX_LOG_PAGE = 64  # records: a lock answers 8 at a time (wire.MAX_LOG_RECORDS); room to spare


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldKey(BaseModel):
    """A key for the field client's key file: the one answer that holds key bytes, the
    caller's own keys (docs/service.md, "Field clients")."""

    lock_id: str
    key_id: int
    role: int
    not_before: int
    not_after: int
    key: str  # hex
    adv_key: str  # hex


class LogRecord(_Strict):
    seq: int = Field(ge=1, le=_UINT32)
    time: int = Field(ge=0, le=_UINT32)
    type: int = Field(ge=0, le=255)
    fields: list[int] = Field(max_length=8)


class LogPage(_Strict):
    kind: Literal["log-page"]
    lock_next_seq: int = Field(ge=0, le=_UINT32)
    records: list[LogRecord] = Field(max_length=_MAX_LOG_PAGE)


class BatteryReading(_Strict):
    kind: Literal["battery-reading"]
    at: int = Field(ge=0, le=_UINT32)
    idle_mv: int
    loaded_mv: int
    state: int
    percent: int | None = None
    days_left: int | None = None
    charge_used_mah: int | None = None
    source: str = Field(default="battery", min_length=1, max_length=SOURCE_LENGTH)


class SwapCycle(_Strict):
    cycle_index: int = Field(ge=0, le=_INT32)
    action: Literal["lock", "unlock"]
    result: int
    state: int
    travel_ms: int
    loaded_mv: int | None = None
    at: int = Field(ge=0, le=_UINT32)


class Swap(_Strict):
    kind: Literal["swap"]
    person: str = Field(min_length=1, max_length=PERSON_LENGTH)
    started_at: int = Field(ge=0, le=_UINT32)
    lock_swap_time_before: int | None = None
    registered_at: int | None = None
    loaded_mv_at_registration: int | None = None
    lock_swap_time: int | None = None
    cycles: list[SwapCycle] = Field(default=[], max_length=200)
    status: Literal["passed", "failed", "refused", "abandoned"]
    reason: str | None = Field(default=None, max_length=REASON_LENGTH)
    finished_at: int | None = None


Upload = Annotated[LogPage | BatteryReading | Swap, Field(discriminator="kind")]


class UploadAnswer(BaseModel):
    upload_id: str
    kind: str
    lock_id: str
    applied_at: int
    result: dict


@router.get("/keys", response_model=list[FieldKey])
def keys(caller: CallerDep, fleet: StoreDep,
         hours: int = Query(default=12, ge=0, le=uploads.KEY_HOURS_MAX)):
    """The keys issued to the caller's person, valid now or within ``hours`` (also the keys
    that begin by then), for the locks of the caller's provider's customers: fetched ahead,
    so the lock opens with no network."""
    with fleet.unit_of_work() as uow:
        found = uploads.field_keys(uow, caller, hours)
    return [{"lock_id": k.lock_id, "key_id": k.key_id, "role": k.role,
             "not_before": k.not_before, "not_after": k.not_after, "key": k.key.hex(),
             "adv_key": k.adv_key.hex()} for k in found]


@router.put("/locks/{lock_id}/uploads/{upload_id}", response_model=UploadAnswer,
            responses=_NOT_FOUND)
def upload(caller: CallerDep, fleet: StoreDep, body: Upload, response: Response,
           lock_id: str = Path(max_length=LOCK_ID_LENGTH),
           upload_id: str = Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")):
    """Apply one upload (a log page, a battery reading, a finished swap) once: the same id
    again answers as the first time (``Hemlas-Upload-Repeat: 1`` says so) and changes nothing."""
    payload = body.model_dump(exclude={"kind"})
    with fleet.unit_of_work() as uow:
        applied = uploads.apply_upload(uow, caller, upload_id, body.kind, lock_id, payload)
    if applied.repeat:
        response.headers["Hemlas-Upload-Repeat"] = "1"
    return applied.answer
