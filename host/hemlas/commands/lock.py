"""Field commands over BLE: scan, status, lock, unlock, battery, log."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict

from .. import client
from ..client import LockClient
from ..codes import BatteryState, EventType
from ..errors import (BatteryCriticalError, LockDisconnectedError, LockError, LockNotFoundError,
                      LockTimeoutError)
from ..firmware import wire
from .output import BATTERY_TEXT, CommandError, discharged_guidance, emit, state_name

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


async def _with_lock(lock_id: str, action, role: int = wire.ROLE_STAFF):
    async with LockClient(lock_id, role=role) as lock:
        return await action(lock)


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
    reading = _run(_with_lock(args.lock, lambda lock: lock.battery()))
    percent = "unknown" if reading.percent is None else f"{reading.percent} %"
    emit(args, f"{args.lock}: battery {BATTERY_TEXT[reading.state]}; {reading.idle_mv} mV idle, "
               f"{reading.loaded_mv} mV under load, about {percent} left",
         {"lock": args.lock, "state": BatteryState(reading.state).name, "idle_mv": reading.idle_mv,
          "loaded_mv": reading.loaded_mv, "percent": reading.percent, "last_swap": reading.last_swap})


def do_log(args) -> None:
    records = _run(_with_lock(args.lock, lambda lock: lock.read_log(args.since), wire.ROLE_TECHNICIAN))
    lines = []
    for r in records:
        name = EventType(r.type).name.lower() if r.type in EventType._value2member_map_ else str(r.type)
        lines.append(f"#{r.seq:<5} {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.time))} "
                     f"{name:16} {list(r.fields)}")
    emit(args, "\n".join(lines) or "no events", [asdict(r) for r in records])
