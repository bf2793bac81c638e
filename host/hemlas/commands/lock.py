"""Field commands over BLE: scan, status, lock, unlock, battery, log, sync.

Every command that reaches the lock also reads its battery on the same connection, and its
answer (human and --json) says LOW or CRITICAL (output.battery_warning)."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .. import client
from ..client import LockClient
from ..codes import (EVENT_FIELD_CODES, STATUS_TEXT, BatteryState, EventType as _EventNames, LockState,
                     Status, event_fields, event_name)
from ..errors import (BatteryCriticalError, HemlasError, LockDisconnectedError, LockError,
                      LockNotFoundError, LockTimeoutError, NoKeyError)
from ..firmware import wire
from ..fleet.errors import FleetError, UnknownLockError
from ..fleet.where import missing_store
from ..i18n import N_, _, ngettext
from ..results import BatteryReading, SwapRegistration
from .formats import iso, named
from .output import (BATTERY_TEXT, CommandError, battery_warning, cannot_lock_guidance,
                     discharged_guidance, emit, failure_message, state_name)

if TYPE_CHECKING:  # the store and the sync load SQLAlchemy: only when a store is there (issue 14)
    from ..field.session import FieldSession
    from ..fleet.store import FleetStore
    from ..sync import SyncResult

log = logging.getLogger(__name__)

# When unlocking or locking fails in these ways the battery may be fully discharged (the routine).
_DISCHARGE_SYMPTOMS = (LockNotFoundError, LockTimeoutError, LockDisconnectedError, BatteryCriticalError)
LOCK_ID_PREFIX = "HL-"  # provisioning.new_lock_id: "HL-" and upper-case hex digits


# The door as the lock reports it (client.py's names; --json keeps them), as a person reads it.
_DOOR_TEXT = {"closed": N_("closed"), "open": N_("open"), "left open": N_("LEFT OPEN")}


def _run(coro):
    try:
        return asyncio.run(coro)
    except LockError as err:
        raise CommandError(failure_message(err)) from err


def lock_id_arg(text: str) -> str:
    """The lock id a person typed, as the lock advertises it. Lock ids are upper case
    ("HL-1A2B3C"); a lower-case one names the same lock and nothing else, so it is taken
    upper-cased rather than refused: a carer at the door need not type it again."""
    text = text.strip()
    return text.upper() if text.upper().startswith(LOCK_ID_PREFIX) else text


def _searching(lock_id: str, timeout: float) -> None:
    # stderr, always: --json stdout stays one document, and a wait of up to 20 s is explained.
    print(_("{lock_id} not heard yet: knock on the door to wake it (searching up to {seconds} s)…")
          .format(lock_id=lock_id, seconds=f"{timeout:.0f}"), file=sys.stderr, flush=True)


def _store_advertising_keys() -> dict[bytes, str]:
    """{advertising key: lock id} of every lock in the fleet store, where one exists here (a
    technician's or the service's machine): private advertisements are known by these."""
    if missing_store():  # no store on this machine (a carer's phone): the key file alone
        return {}
    from ..fleet.store import FleetStore

    try:
        with FleetStore() as store:
            return store.advertising_keys()
    except FleetError:
        return {}


def do_scan(args) -> None:
    print(_("scanning for locks ({seconds} s)…").format(seconds=f"{args.timeout:g}"),
          file=sys.stderr, flush=True)
    locks = _run(client.scan(args.timeout, also=_store_advertising_keys()))
    rows = [asdict(lock) for lock in locks]
    human = "\n".join(f"{lock.lock_id:12} {lock.address}  rssi {lock.rssi}" for lock in locks)
    emit(args, human or _("no locks found"), rows)


@dataclass(frozen=True)
class Answer:
    """What one connection gave: the action's result, the battery reading taken on it (None
    if there was none), and the keys the lock refused before one worked."""

    result: Any
    reading: BatteryReading | None
    key_id: int | None
    refused_keys: tuple[tuple[int, int], ...]


def _open_store() -> FleetStore | None:
    """The fleet store for what a connection learns; None (said) when it cannot be opened."""
    try:
        missing = missing_store()  # said without loading the database layer
        if missing:
            raise missing
        from ..fleet.store import FleetStore

        return FleetStore()
    except FleetError as err:
        print(_("hemlas: the fleet store cannot be opened ({error}): this connection's battery "
                "reading and events are not kept; the next connection syncs the events")
              .format(error=err), file=sys.stderr)
        return None


def _unusable_keys(store: FleetStore | None, lock_id: str) -> frozenset[int]:
    if store is None:
        return frozenset()
    try:
        return store.unusable_key_ids(lock_id)
    except FleetError:  # UnknownLockError among them: the key file alone decides
        return frozenset()


def _field_session() -> FieldSession | None:
    """The fleet service's session when this device is logged in (`hemlas login`): what a
    connection learns goes to its outbox, not to a local store. None: the local mode."""
    from ..field.session import FieldSession

    try:
        return FieldSession.active()
    except HemlasError as err:  # a damaged login file or outbox: the lock still opens
        print(_("hemlas: {error}; this connection's battery reading and events are not kept")
              .format(error=err), file=sys.stderr)
        return None


async def _with_lock(lock_id: str, action, role: int = wire.ROLE_STAFF, source: str = "connection",
                     sync: bool = True, field: FieldSession | None = None) -> Answer:
    """Run action on the lock; then, on the same connection, read and store its battery (the
    coordinators' battery overview is built from these; the answer says LOW or CRITICAL) and
    sync its event log (the visit record) into the fleet store. Keys the fleet store has
    superseded or revoked are never chosen.

    On a device logged in to the service (``field``, else looked up) the reading and the log's
    new pages go to the outbox instead, and are sent once the lock is let go of."""
    field = field or _field_session()
    store = _open_store() if field is None else None
    try:
        lock = LockClient(lock_id, role=role, exclude_keys=_unusable_keys(store, lock_id),
                          on_search=_searching)
        try:
            await lock.connect()
        except NoKeyError as err:
            raise NoKeyError(lock_id, err.role, _customer_hint(store, lock_id) or str(err)) from err
        try:
            result = None
            try:
                result = await action(lock)
            finally:  # also when the action failed: a refused unlock's reading matters most
                reading = result if isinstance(result, BatteryReading) else None
                if reading is None:
                    try:
                        reading = await lock.battery()
                    except LockError as err:
                        log.info("no battery reading from %s on this connection: %s", lock_id, err)
                await _keep(lock, store, reading, source, sync, field)
            return Answer(result, reading, lock.key.key_id if lock.key else None,
                          tuple(lock.refused_keys))
        finally:
            await lock.disconnect()
    finally:
        if store is not None:
            store.close()
        if field is not None:
            field.send_quietly()
            field.close()


def _customer_hint(store: FleetStore | None, text: str) -> str | None:
    """When a customer number was given for a lock id: say so, and name the customer's lock."""
    if store is None or text.upper().startswith(LOCK_ID_PREFIX):
        return None
    try:
        customer = store.customer(text)
        locks = [lock.lock_id for lock in store.customer_locks(text)]
    except FleetError:
        return None
    if not locks:
        return _("{number} is a customer number ({name}), not a lock id, and the customer has no "
                 "lock in the fleet store; lock ids look like HL-1A2B3C (hemlas scan lists the "
                 "locks in range)").format(number=text, name=customer.name)
    return _("{number} is a customer number ({name}), not a lock id; the customer's lock is "
             "{locks}: e.g. hemlas unlock {lock_id}").format(
        number=text, name=customer.name, locks=", ".join(locks), lock_id=locks[0])


def _said(answer: Answer, lines: list[str], data: dict) -> tuple[str, dict]:
    """A command's answer with what every connection adds: the battery's state (a warning when
    LOW or CRITICAL) and the keys the lock refused before one worked."""
    state = None if answer.reading is None else answer.reading.state
    warning = battery_warning(state)
    if warning:
        lines.append(warning)
    if answer.refused_keys:
        refused = ", ".join(_("key {key_id} ({text})").format(
            key_id=key_id, text=STATUS_TEXT.get(status, status)) for key_id, status in answer.refused_keys)
        print(ngettext("hemlas: the lock refused {refused}; key {key_id} opened it. Ask your "
                       "coordinator to replace the refused key",
                       "hemlas: the lock refused {refused}; key {key_id} opened it. Ask your "
                       "coordinator to replace the refused keys", len(answer.refused_keys))
              .format(refused=refused, key_id=answer.key_id), file=sys.stderr)
    data.update(named("battery", state, BatteryState))
    data["battery_warning"] = warning
    data["key_id"] = answer.key_id
    data["refused_keys"] = [{"key_id": key_id, **named("status", status, Status)}
                            for key_id, status in answer.refused_keys]
    return "\n".join(lines), data


async def _keep(lock: LockClient, store: FleetStore | None, reading: BatteryReading | None,
                source: str, sync: bool, field: FieldSession | None = None) -> None:
    """Keep what this connection learnt in the fleet store (opened once for the connection),
    or in the outbox when logged in: the battery reading, and the event log's new records. A
    store that cannot be opened or written is said, and never turns the lock's answer into a
    failure."""
    if field is not None:
        await field.keep_quietly(lock, reading, source, sync)
        return
    if store is None:
        return
    if reading is not None:
        try:
            store_reading(store, lock.lock_id, reading, source)
        except UnknownLockError:
            log.info("lock %s is not in the fleet store: its battery reading is not kept", lock.lock_id)
        except FleetError as err:
            print(_("hemlas: the battery reading of {lock_id} was not kept ({error})")
                  .format(lock_id=lock.lock_id, error=err), file=sys.stderr)
    if sync:
        await sync_quietly(lock, store)


async def sync_quietly(lock: LockClient, store: FleetStore) -> SyncResult | None:
    """Sync the lock's event log into the store, as every connection does. A failure never
    fails the caller's unlock or lock: it is said, and the next connection resumes the sync."""
    try:
        from ..sync import sync_log

        result = await sync_log(lock, store)
    except UnknownLockError:
        log.info("lock %s is not in the fleet store: its event log is not synced", lock.lock_id)
        return None
    except (LockError, FleetError) as err:
        print(_("hemlas: the event log of {lock_id} was not fully synced ({error}); the next "
                "connection goes on from where this one stopped").format(lock_id=lock.lock_id, error=err),
              file=sys.stderr)
        return None
    if result.lost:
        print(ngettext("hemlas: {n} event of {lock_id} was gone from the lock before it could be "
                       "synced", "hemlas: {n} events of {lock_id} were gone from the lock before "
                       "they could be synced", result.lost).format(n=result.lost, lock_id=lock.lock_id),
              file=sys.stderr)
    return result


def store_reading(store: FleetStore, lock_id: str, reading: BatteryReading | SwapRegistration,
                  source: str) -> None:
    """Put a lock's reading in the store (a swap registration carries no charge figures)."""
    store.record_battery_reading(
        lock_id, idle_mv=reading.idle_mv, loaded_mv=reading.loaded_mv, state=int(reading.state),
        percent=getattr(reading, "percent", None), days_left=getattr(reading, "days_left", None),
        charge_used_mah=getattr(reading, "used_mah", None), source=source)


def do_status(args) -> None:
    lock_id = lock_id_arg(args.lock)
    answer = _run(_with_lock(lock_id, lambda lock: lock.status()))
    status = answer.result
    battery = status.battery if answer.reading is None else answer.reading.state
    # The door as the lock's knock sensor saw it (docs/knock.md); nothing for a lock without one.
    line = _("{lock_id}: {state}, battery {battery}").format(
        lock_id=lock_id, state=state_name(status.state), battery=BATTERY_TEXT[battery])
    if status.busy:
        line += _(", busy")
    if status.door:
        line += _(", door {door}").format(door=_(_DOOR_TEXT.get(status.door, status.door)))
    text, data = _said(answer, [line],
                       {"lock_id": lock_id, **named("state", status.state, LockState),
                        "busy": status.busy, "next_seq": status.next_seq, "door": status.door})
    emit(args, text, data)


def _move(args, verb: str) -> None:
    lock_id = lock_id_arg(args.lock)

    async def action(lock):
        return await (lock.unlock() if verb == "unlock" else lock.lock())

    try:
        answer = asyncio.run(_with_lock(lock_id, action))
    except _DISCHARGE_SYMPTOMS as err:
        guidance = discharged_guidance if verb == "unlock" else cannot_lock_guidance
        raise CommandError(guidance(str(err))) from err
    except LockError as err:
        raise CommandError(failure_message(err)) from err
    result = answer.result
    state = state_name(result.state)
    said = (_("{lock_id}: {state} ({travel_ms} ms)") if result.moved
            else _("{lock_id}: already {state} — no move needed")).format(
        lock_id=lock_id, state=state, travel_ms=result.travel_ms)
    text, data = _said(answer, [said], {"lock_id": lock_id, **named("state", result.state, LockState),
                                        "moved": result.moved, "travel_ms": result.travel_ms})
    emit(args, text, data)


def do_unlock(args) -> None:
    _move(args, "unlock")


def do_lock(args) -> None:
    _move(args, "lock")


def do_battery(args) -> None:
    lock_id = lock_id_arg(args.lock)
    answer = _run(_with_lock(lock_id, lambda lock: lock.battery(), source="battery"))
    reading = answer.result
    percent = _("unknown") if reading.percent is None else f"{reading.percent} %"
    days = (_("not yet known") if reading.days_left is None
            else ngettext("about {n} day", "about {n} days", reading.days_left).format(n=reading.days_left))
    swapped = _("never registered") if reading.last_swap is None else iso(reading.last_swap)[:10]
    line = _("{lock_id}: battery {battery}; {idle_mv} mV idle, {loaded_mv} mV under load, about "
             "{percent} left ({used_mah} mAh used since the last swap, {swapped}); {days} left at "
             "the recent rate").format(
        lock_id=lock_id, battery=BATTERY_TEXT[reading.state], idle_mv=reading.idle_mv,
        loaded_mv=reading.loaded_mv, percent=percent, used_mah=reading.used_mah, swapped=swapped,
        days=days)
    text, data = _said(answer, [line],
                       {"lock_id": lock_id, **named("state", reading.state, BatteryState),
                        "idle_mv": reading.idle_mv, "loaded_mv": reading.loaded_mv,
                        "percent": reading.percent, "last_swap": iso(reading.last_swap),
                        "used_mah": reading.used_mah, "days_left": reading.days_left})
    emit(args, text, data)


def _field_sync(args, lock_id: str, field: FieldSession) -> None:
    """`hemlas sync` on a logged-in device: the log's new pages into the outbox, then sent."""
    answer = _run(_with_lock(lock_id, field.queue_log, sync=False, field=field))
    queued, sent = answer.result, field.last_sent
    waiting = None if sent is None else sent.waiting
    line = _("{lock_id}: {events} new event(s) read into the outbox; {sent} upload(s) sent to the "
             "service, {waiting} waiting").format(lock_id=lock_id, events=queued.events,
                                                  sent=0 if sent is None else sent.sent,
                                                  waiting="?" if waiting is None else waiting)
    if queued.restarted:
        line += _("; its log had started again (a new log epoch)")
    text, data = _said(answer, [line], {"lock_id": lock_id, "events": queued.events,
                                        "pages": queued.pages, "restarted": queued.restarted,
                                        "sent": None if sent is None else sent.sent,
                                        "waiting": waiting})
    emit(args, text, data)


def do_sync(args) -> None:
    lock_id = lock_id_arg(args.lock)
    field = _field_session()
    if field is not None:
        return _field_sync(args, lock_id, field)

    async def action(lock):
        from ..fleet.store import FleetStore
        from ..sync import sync_log

        with FleetStore() as store:
            return await sync_log(lock, store)

    try:
        answer = _run(_with_lock(lock_id, action, sync=False))  # the action is the sync
    except FleetError as err:
        raise CommandError(str(err)) from err
    result = answer.result
    data = asdict(result)
    data["lock_id"] = data.pop("lock_id", lock_id)
    line = _("{lock_id}: {stored} new event(s) synced, {duplicates} already in the store, {lost} "
             "gone from the lock before a sync reached them").format(
        lock_id=lock_id, stored=result.stored, duplicates=result.duplicates, lost=result.lost)
    if result.restarted:
        line += _("; its log had started again (a new log epoch)")
    text, data = _said(answer, [line], data)
    emit(args, text, data)


def _event_json(record) -> dict:
    """An event as JSON: its name beside its code, its fields by name (codes named, times ISO)."""
    fields: dict = {}
    for name, value in event_fields(record.type, record.fields).items():
        if name in EVENT_FIELD_CODES:
            fields.update(named(name, value, EVENT_FIELD_CODES[name]))
        elif name.endswith("_time"):
            fields[name] = iso(value)
        else:
            fields[name] = value
    return {"seq": record.seq, "time": iso(record.time), **named("type", record.type, _EventNames),
            "fields": fields}


def _event_text(record) -> str:
    parts = []
    for name, value in event_fields(record.type, record.fields).items():
        if name in EVENT_FIELD_CODES:
            value = named(name, value, EVENT_FIELD_CODES[name])[name]
        elif name.endswith("_time"):
            value = iso(value)
        parts.append(f"{name}={value}")
    return f"#{record.seq:<5} {iso(record.time)}  {event_name(record.type):16} {' '.join(parts)}"


def do_log(args) -> None:
    lock_id = lock_id_arg(args.lock)
    answer = _run(_with_lock(lock_id, lambda lock: lock.read_log(args.since)))
    records = answer.result
    text, data = _said(answer, ["\n".join(_event_text(r) for r in records) or _("no events")],
                       {"lock_id": lock_id, "events": [_event_json(r) for r in records]})
    emit(args, text, data)
