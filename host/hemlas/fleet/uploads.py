"""What field clients send the service: their keys fetched ahead, and their uploads (a lock's
event-log page, a battery reading, a battery swap) applied once each.

A field client writes what a connection learnt into its outbox first and sends it later
(host/hemlas/outbox.py), each upload under an id it made itself. The service applies an
upload and records its id in one transaction (:class:`AppliedUpload`), so a repeat -- the
answer lost on the way, the client killed before it noted it -- is answered as the first time
and changes nothing: nothing doubled, nothing lost.

The rules are the store's own, the ones `hemlas sync` and the battery commands run locally
(store_log_page, record_battery_reading, the swap methods), called here on the request's one
session (:class:`_InUnit`) so the upload's id commits with its effect or not at all.

Tenancy: a caller acts only on a lock it sees (tenancy.visible_lock_provider): another
provider's lock is unknown, word for word as one that does not exist.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from ..firmware import wire
from ..i18n import _
from . import audit, plan_keys, tenancy
from ._common import FleetError, _now
from .accounts import person_key
from .batteries import BatteryMixin
from .models import (SWAP_PENDING, UPLOAD_KINDS, Account, AppliedUpload, BatterySwap, IssuedKeyRow,
                     Lock, LockSync)
from .roles import CARER, READ_LOCKS, Caller, require
from .swaps import SwapMixin
from .visits import LogRestartedError, StalePageError, SyncRaceError, VisitMixin

LOG_PAGE, BATTERY_READING, SWAP = UPLOAD_KINDS
UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")  # a UUID's hex, or any long random token
KEY_HOURS_MAX = 48  # keys fetched ahead for two days at most: a lost phone holds no more


class UploadIdReusedError(FleetError):
    """The same upload id came again with a different body: a client's bug, never applied."""

    rule = "upload-id-reused"

    def __init__(self, upload_id: str):
        super().__init__(_("upload {upload_id} was applied before with other contents; a new "
                           "upload needs a new id").format(upload_id=upload_id))


class SwapPendingElsewhereError(FleetError):
    """A swap uploaded for a lock whose swap another device began and has not finished."""

    rule = "swap-pending-elsewhere"

    def __init__(self, lock_id: str, swap_id: int):
        super().__init__(_("lock {lock_id} has battery swap {swap_id} pending, begun on another "
                           "device: finish or abandon that one first").format(lock_id=lock_id,
                                                                              swap_id=swap_id))


class _InUnit(BatteryMixin, SwapMixin, VisitMixin):
    """The store's battery, swap and log rules on one open session: their writes commit with
    the upload's id (each method's own transaction is this one)."""

    def __init__(self, session: Session):
        self._session = session

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        yield self._session


@dataclass(frozen=True)
class Applied:
    answer: dict
    repeat: bool  # applied before: this is the first answer again


def apply_upload(session: Session, caller: Caller, upload_id: str, kind: str, lock_id: str,
                 payload: dict, now: int | None = None) -> Applied:
    """Apply one field upload once, in ``session``'s transaction.

    Raises:
        UnknownLockError: no such lock, or one the caller does not see.
        UploadIdReusedError: the id was applied before with another body.
        FleetError: the payload breaks a rule of the store's (a field out of range, ...).
    """
    require(caller, READ_LOCKS)
    if caller.account_id is None:
        raise FleetError(_("uploads come from a logged-in account"))
    if not isinstance(upload_id, str) or not UPLOAD_ID.fullmatch(upload_id):
        raise FleetError(_("an upload id is 16 to 64 letters, digits, - or _"))
    if kind not in UPLOAD_KINDS:
        raise FleetError(_("an upload is one of {kinds}, not {kind}")
                         .format(kinds=", ".join(UPLOAD_KINDS), kind=repr(kind)))
    now = _now(now)
    digest = hashlib.sha256(json.dumps([kind, lock_id, payload], sort_keys=True,
                                       separators=(",", ":")).encode()).hexdigest()
    done = session.get(AppliedUpload, (caller.account_id, upload_id))
    if done is not None:
        if done.body_sha256 != digest:
            raise UploadIdReusedError(upload_id)
        return Applied(done.answer, True)
    provider = tenancy.visible_lock_provider(session, caller, lock_id)
    store = _InUnit(session)
    result = _APPLY[kind](store, session, lock_id, payload, now)
    answer = {"upload_id": upload_id, "kind": kind, "lock_id": lock_id, "applied_at": now,
              "result": result}
    session.add(AppliedUpload(account_id=caller.account_id, upload_id=upload_id, kind=kind,
                              lock_id=lock_id, body_sha256=digest, answer=answer, applied_at=now))
    audit.record(session, caller, f"uploads.{kind}", f"lock {lock_id}; upload {upload_id}",
                 provider, now=now)
    session.flush()  # a second apply of the same id racing this one fails here, not later
    return Applied(answer, False)


class _Record:
    """A log record as store_log_page reads it (the lock client's EventRecord's fields)."""

    __slots__ = ("seq", "time", "type", "fields")

    def __init__(self, seq: int, time: int, type: int, fields: list[int]):
        self.seq, self.time, self.type, self.fields = seq, time, type, fields


def _log_page(store: _InUnit, session: Session, lock_id: str, payload: dict, now: int) -> dict:
    """One page of the lock's log, as the lock answered it, into the store's copy of the log.

    Pages come from several devices, each with its own outbox: a page can arrive after a later
    one, whose gap the store counted as lost. Records filling such a gap are taken off the lost
    count (every number below the cursor is stored or counted lost: docs/visits.md)."""
    records = [_Record(int(r["seq"]), int(r["time"]), int(r["type"]), [int(f) for f in r["fields"]])
               for r in payload["records"]]
    lock_next_seq = int(payload["lock_next_seq"])
    restarted = False
    for _attempt in range(2):
        cursor = store.sync_cursor(lock_id)
        below = {r.seq for r in records if r.seq < cursor.next_seq}
        try:
            page = store.store_log_page(lock_id, cursor.log_epoch, lock_next_seq, records, now)
        except StalePageError:  # an empty page behind the store: nothing in it to keep
            return {"stored": 0, "duplicates": 0, "lost": 0, "log_epoch": cursor.log_epoch,
                    "restarted": False}
        except LogRestartedError:
            if restarted:
                raise
            # A record differs from the one stored under its number: the lock's log began
            # again (its flash erased); the page starts the new epoch, as sync.py does.
            store.restart_log(lock_id, cursor.log_epoch, now)
            restarted = True
            continue
        except SyncRaceError:
            continue
        filled = len(below) - page.duplicates if below else 0
        if filled > 0:
            row = session.get(LockSync, lock_id)
            row.lost_events = max(0, row.lost_events - filled)
        return {"stored": page.stored, "duplicates": page.duplicates, "lost": page.lost,
                "log_epoch": page.cursor.log_epoch, "restarted": restarted}
    raise FleetError(_("lock {lock_id}: its log changed while this page was stored; send it "
                       "again").format(lock_id=lock_id))


def _battery_reading(store: _InUnit, _session: Session, lock_id: str, payload: dict,
                     _now_s: int) -> dict:
    record = store.record_battery_reading(lock_id, **payload)
    return {"reading_at": record.at}


def _swap(store: _InUnit, session: Session, lock_id: str, payload: dict, now: int) -> dict:
    """A battery swap the device ran to its end: begun, registered, verified, finished, as
    the guided flow records it locally, in one go (nothing of it on the service before).
    The same swap again (same lock, person and start: queued twice) is the one recorded."""
    same = session.scalar(select(BatterySwap).where(
        BatterySwap.lock_id == lock_id, BatterySwap.started_at == payload["started_at"],
        BatterySwap.person == payload["person"].strip(), BatterySwap.status != SWAP_PENDING))
    if same is not None:
        return {"swap_id": same.swap_id, "status": same.status}
    swap = store.begin_swap(lock_id, payload["person"], now=payload["started_at"])
    if swap.started_at != payload["started_at"] or swap.person != payload["person"].strip():
        raise SwapPendingElsewhereError(lock_id, swap.swap_id)
    if payload.get("lock_swap_time_before") is not None:
        store.record_lock_swap_before(swap.swap_id, payload["lock_swap_time_before"])
    if payload.get("registered_at") is not None:
        store.mark_swap_registered(swap.swap_id, payload.get("loaded_mv_at_registration"),
                                   now=payload["registered_at"],
                                   lock_swap_time=payload.get("lock_swap_time"))
    for cycle in payload.get("cycles", ()):
        store.add_swap_cycle(swap.swap_id, cycle["cycle_index"], cycle["action"], cycle["result"],
                             cycle["state"], cycle["travel_ms"], cycle.get("loaded_mv"),
                             at=cycle["at"])
    done = store.finish_swap(swap.swap_id, payload["status"], payload.get("reason"),
                             now=payload.get("finished_at") or now)
    return {"swap_id": done.swap_id, "status": done.status}


_APPLY = {LOG_PAGE: _log_page, BATTERY_READING: _battery_reading, SWAP: _swap}


@dataclass(frozen=True)
class FieldKey:
    """A key as the field client saves it (keyfile.StaffKey's fields)."""

    lock_id: str
    key_id: int
    role: int
    not_before: int
    not_after: int
    key: bytes
    adv_key: bytes

    def __repr__(self) -> str:  # never the key bytes
        return f"FieldKey(lock_id={self.lock_id!r}, key_id={self.key_id!r})"


def field_keys(session: Session, caller: Caller, hours: int, now: int | None = None) -> list[FieldKey]:
    """The keys issued to the caller's person, valid now or within ``hours``, for the locks the
    caller sees (its provider's customers'): what a field device fetches ahead so the lock
    opens with no network at the door. The key bytes are derived from the lock's secret here,
    as at issue; the audit log records which key ids were handed out, never the bytes."""
    require(caller, READ_LOCKS)
    if caller.account_id is None:
        raise FleetError(_("keys are fetched by a logged-in account"))
    if isinstance(hours, bool) or not isinstance(hours, int) or not 0 <= hours <= KEY_HOURS_MAX:
        raise FleetError(_("keys are fetched for 0 to {hours} hours ahead")
                         .format(hours=KEY_HOURS_MAX))
    now = _now(now)
    account = session.get(Account, caller.account_id)
    if account is not None and account.role == CARER and account.disabled_at is None:
        # The plan's keys are issued at their first fetch (fleet/plan_keys.py): issue the ones
        # this window reaches, so the select below hands them out with the carer's other keys.
        plan_keys.keys_for_carer(session, caller, now, max(1, min(hours * 3600, plan_keys.MAX_HORIZON_S)))
    rows = session.execute(select(IssuedKeyRow, Lock.secret)
                           .join(Lock, Lock.lock_id == IssuedKeyRow.lock_id)
                           .where(IssuedKeyRow.revoked_at.is_(None),
                                  IssuedKeyRow.superseded == false(),
                                  IssuedKeyRow.not_after >= now,
                                  IssuedKeyRow.not_before <= now + hours * 3600)
                           .order_by(IssuedKeyRow.key_id)).all()
    mine = [(row, secret) for row, secret in rows if person_key(row.person) == account.person_key]
    visible = tenancy.visible_lock_ids(session, caller) if mine else set()
    found = [FieldKey(row.lock_id, row.key_id, row.role, row.not_before, row.not_after,
                      wire.derive_key(secret, row.lock_id, row.key_id, row.role, row.not_before,
                                      row.not_after),
                      wire.derive_advertising_key(secret))
             for row, secret in mine if row.lock_id in visible]
    audit.record(session, caller, "keys.fetch",
                 "keys: " + (", ".join(str(k.key_id) for k in found) or "none"), caller.provider,
                 now=now)
    return found
