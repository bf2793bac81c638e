"""Field commands over BLE: scan, status, lock, unlock, battery, log, sync."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import asdict

from .. import client
from ..client import LockClient
from ..codes import BatteryState, EventType
from ..errors import (BatteryCriticalError, LockDisconnectedError, LockError, LockNotFoundError,
                      LockTimeoutError)
from ..firmware import wire
from ..fleet.store import FleetError, FleetStore, UnknownLockError
from ..results import BatteryReading, SwapRegistration
from ..sync import SyncResult, sync_log
from .output import BATTERY_TEXT, CommandError, discharged_guidance, emit, state_name

log = logging.getLogger(__name__)

# When unlocking fails in these ways the battery may be fully discharged (the routine).
_DISCHARGE_SYMPTOMS = (LockNotFoundError, LockTimeoutError, LockDisconnectedError, BatteryCriticalError)


def _run(coro):
    try:
        return asyncio.run(coro)
    except LockError as err:
        raise CommandError(str(err)) from err


def do_scan(args) -> None:
    locks = _run(client.scan(args.timeout))
    rows = [asdict(lock) for lock in locks]
    human = "\n".join(f"{lock.lock_id:12} {lock.address}  rssi {lock.rssi}" for lock in locks)
    emit(args, human or "no locks found", rows)


async def _with_lock(lock_id: str, action, role: int = wire.ROLE_STAFF, source: str = "connection",
                     sync: bool = True):
    """Run action on the lock; then, on the same connection, store its battery reading (the
    coordinators' battery overview is built from these) and sync its event log (the visit
    record) into the fleet store."""
    async with LockClient(lock_id, role=role) as lock:
        result = None
        try:
            result = await action(lock)
            return result
        finally:  # also when the action failed: a refused unlock's reading matters most
            reading = result if isinstance(result, BatteryReading) else None
            if reading is None:
                try:
                    reading = await lock.battery()
                except LockError as err:
                    log.info("no battery reading from %s on this connection: %s", lock_id, err)
            await _keep(lock, reading, source, sync)


async def _keep(lock: LockClient, reading: BatteryReading | None, source: str, sync: bool) -> None:
    """Keep what this connection learnt in the fleet store, opened (and migrated) once for it:
    the battery reading, and the event log's new records. A store that cannot be opened or
    written is said, and never turns the lock's answer into a failure."""
    try:
        store = FleetStore()
    except FleetError as err:
        print(f"hemlas: the fleet store cannot be opened ({err}): this connection's battery reading "
              "and events are not kept; the next connection syncs the events", file=sys.stderr)
        return
    with store:
        if reading is not None:
            try:
                store_reading(store, lock.lock_id, reading, source)
            except UnknownLockError:
                log.info("lock %s is not in the fleet store: its battery reading is not kept", lock.lock_id)
            except FleetError as err:
                print(f"hemlas: the battery reading of {lock.lock_id} was not kept ({err})", file=sys.stderr)
        if sync:
            await sync_quietly(lock, store)


async def sync_quietly(lock: LockClient, store: FleetStore) -> SyncResult | None:
    """Sync the lock's event log into the store, as every connection does. A failure never
    fails the caller's unlock or lock: it is said, and the next connection resumes the sync."""
    try:
        result = await sync_log(lock, store)
    except UnknownLockError:
        log.info("lock %s is not in the fleet store: its event log is not synced", lock.lock_id)
        return None
    except (LockError, FleetError) as err:
        print(f"hemlas: the event log of {lock.lock_id} was not fully synced ({err}); "
              "the next connection goes on from where this one stopped", file=sys.stderr)
        return None
    if result.lost:
        print(f"hemlas: {result.lost} event(s) of {lock.lock_id} were gone from the lock before "
              "they could be synced", file=sys.stderr)
    return result


def store_reading(store: FleetStore, lock_id: str, reading: BatteryReading | SwapRegistration,
                  source: str) -> None:
    """Put a lock's reading in the store (a swap registration carries no charge figures)."""
    store.record_battery_reading(
        lock_id, idle_mv=reading.idle_mv, loaded_mv=reading.loaded_mv, state=int(reading.state),
        percent=getattr(reading, "percent", None), days_left=getattr(reading, "days_left", None),
        charge_used_mah=getattr(reading, "used_mah", None), source=source)


def do_status(args) -> None:
    status = _run(_with_lock(args.lock, lambda lock: lock.status()))
    emit(args, f"{args.lock}: {state_name(status.state)}, battery {BATTERY_TEXT[status.battery]}"
               f"{', busy' if status.busy else ''}",
         {"lock": args.lock, "state": state_name(status.state), "battery": status.battery.name,
          "busy": status.busy, "next_seq": status.next_seq})


def _move(args, verb: str) -> None:
    async def action(lock):
        return await (lock.unlock() if verb == "unlock" else lock.lock())

    try:
        result = asyncio.run(_with_lock(args.lock, action))
    except _DISCHARGE_SYMPTOMS as err:
        if verb == "unlock":
            raise CommandError(discharged_guidance(str(err))) from err
        raise CommandError(str(err)) from err
    except LockError as err:
        raise CommandError(str(err)) from err
    emit(args, f"{args.lock}: {state_name(result.state)} ({result.travel_ms} ms)",
         {"lock": args.lock, "state": state_name(result.state), "travel_ms": result.travel_ms})


def do_unlock(args) -> None:
    _move(args, "unlock")


def do_lock(args) -> None:
    _move(args, "lock")


def do_battery(args) -> None:
    reading = _run(_with_lock(args.lock, lambda lock: lock.battery(), source="battery"))
    percent = "unknown" if reading.percent is None else f"{reading.percent} %"
    days = "not yet known" if reading.days_left is None else f"about {reading.days_left} days"
    swapped = ("never registered" if reading.last_swap is None
               else time.strftime("%Y-%m-%d", time.localtime(reading.last_swap)))
    emit(args, f"{args.lock}: battery {BATTERY_TEXT[reading.state]}; {reading.idle_mv} mV idle, "
               f"{reading.loaded_mv} mV under load, about {percent} left ({reading.used_mah} mAh "
               f"used since the last swap, {swapped}); {days} left at the recent rate",
         {"lock": args.lock, "state": BatteryState(reading.state).name, "idle_mv": reading.idle_mv,
          "loaded_mv": reading.loaded_mv, "percent": reading.percent, "last_swap": reading.last_swap,
          "used_mah": reading.used_mah, "days_left": reading.days_left})


def do_sync(args) -> None:
    async def action(lock):
        with FleetStore() as store:
            return await sync_log(lock, store)

    try:
        result = _run(_with_lock(args.lock, action, sync=False))  # the action is the sync
    except FleetError as err:
        raise CommandError(str(err)) from err
    emit(args, f"{args.lock}: {result.stored} new event(s) synced, {result.duplicates} already in the "
               f"store, {result.lost} gone from the lock before a sync reached them"
               + ("; its log had started again (a new log epoch)" if result.restarted else ""),
         asdict(result))


def do_log(args) -> None:
    records = _run(_with_lock(args.lock, lambda lock: lock.read_log(args.since)))
    lines = []
    for r in records:
        name = EventType(r.type).name.lower() if r.type in EventType._value2member_map_ else str(r.type)
        lines.append(f"#{r.seq:<5} {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.time))} "
                     f"{name:16} {list(r.fields)}")
    emit(args, "\n".join(lines) or "no events", [asdict(r) for r in records])
