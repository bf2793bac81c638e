"""Customers, their NFC tags, and the locks' lifecycle: `hemlas customers ...`, `hemlas locks ...`.

Every lifecycle command records who (--by) and when (--at, local ISO time; default now, never
in the future); the store refuses a step out of the routine's order with a message saying
which rule and what to do (docs/lifecycle.md).
"""

from __future__ import annotations

from dataclasses import asdict

from ..codes import BatteryState
from ..fleet.lifecycle import LockStatus
from ..fleet.models import LifecycleRecord
from ..fleet.store import FleetStore
from . import formats
from .formats import emit_listing, iso_times, named, table, when
from .keys import parse_time
from .output import emit

_HISTORY_FIELDS = ["record_id", "lock_id", "action", "at", "customer_number", "address",
                   "person", "provider", "note", "recorded_at"]
_LOCK_FIELDS = ["lock_id", "status", "customer_number", "customer_name", "address",
                "status_since", "board", "firmware_version", "provisioned_at", "battery",
                "battery_code", "loaded_mv", "battery_at"]


def battery_name(state: int | None) -> str:
    return "-" if state is None else BatteryState(state).name


def _record_json(record) -> dict:
    """A store record as JSON: its unix times as ISO 8601."""
    return iso_times(asdict(record), "at", "recorded_at", "created_at", "registered_at",
                     "deactivated_at")


def _at(args) -> int | None:
    return None if args.at is None else parse_time(args.at, 0)


# ---- customers -------------------------------------------------------------------------------

def do_customers_add(args) -> None:
    with FleetStore(create=True) as store:
        record = store.add_customer(args.number, args.name, args.address, provider=args.provider)
    emit(args, f"customer {record.customer_number} added: {record.name}"
               + (f", {record.address}" if record.address else "")
               + (f"; provider {record.provider}" if record.provider else ""), _record_json(record))


def do_customers_set_provider(args) -> None:
    with FleetStore() as store:
        record = store.set_customer_provider(args.number, args.provider or None)
    emit(args, f"customer {record.customer_number}: provider "
               + (record.provider or "none (a lock cannot be mounted until one is set)"),
         _record_json(record))


def do_customers_list(args) -> None:
    with FleetStore() as store:
        customers, locks = store.customers(), store.locks()
        tags = {t.customer_number: t.tag for t in store.nfc_tags(active_only=True)}
    held: dict[str, list[str]] = {}
    for lock in locks:
        if lock.customer_number is not None:
            held.setdefault(lock.customer_number, []).append(lock.lock_id)
    rows = [{"customer_number": c.customer_number, "name": c.name, "address": c.address,
             "provider": c.provider, "lock_ids": held.get(c.customer_number, []),
             "nfc_tag": tags.get(c.customer_number), "created_at": formats.iso(c.created_at)}
            for c in customers]
    human = table(["customer", "name", "address", "provider", "locks", "active NFC tag"],
                  [[r["customer_number"], r["name"], r["address"], r["provider"] or "no provider",
                    ", ".join(r["lock_ids"]) or "no lock", r["nfc_tag"]] for r in rows],
                  empty="no customers")
    emit_listing(args, human, rows,
                 ["customer_number", "name", "address", "provider", "lock_ids", "nfc_tag",
                  "created_at"],
                 [{**r, "lock_ids": " ".join(r["lock_ids"])} for r in rows])  # one cell in CSV


def do_nfc_register(args) -> None:
    with FleetStore() as store:
        tag = store.register_nfc_tag(args.number, args.tag, args.person, _at(args))
    emit(args, f"NFC tag {tag.tag} registered as active for customer {tag.customer_number} "
               f"({when(tag.registered_at)}, by {tag.registered_by})", _record_json(tag))


def do_nfc_deactivate(args) -> None:
    with FleetStore() as store:
        tag = store.deactivate_nfc_tag(args.number, args.person, _at(args))
    emit(args, f"NFC tag {tag.tag} of customer {tag.customer_number} deactivated by "
               f"{tag.deactivated_by} at {when(tag.deactivated_at)}: the tag may now be taken "
               f"down, and a lock mounted", _record_json(tag))


def do_nfc_list(args) -> None:
    with FleetStore() as store:
        tags = store.nfc_tags(args.number)
    rows = [{**_record_json(t), "active": t.active} for t in tags]
    human = table(["customer", "tag", "status", "registered", "registered by", "deactivated",
                   "deactivated by"],
                  [[t.customer_number, t.tag, "ACTIVE" if t.active else "deactivated",
                    when(t.registered_at), t.registered_by,
                    None if t.active else when(t.deactivated_at), t.deactivated_by]
                   for t in tags], empty="no NFC tags")
    emit_listing(args, human, rows,
                 ["nfc_tag_id", "customer_number", "tag", "active", "registered_at",
                  "registered_by", "deactivated_at", "deactivated_by"])


# ---- locks -----------------------------------------------------------------------------------

def do_locks_mount(args) -> None:
    with FleetStore() as store:
        record = store.mount_lock(args.lock, args.customer, args.address, args.person, _at(args),
                                  note=args.note)
        name = store.customer(record.customer_number).name
    emit(args, f"lock {record.lock_id} mounted for customer {record.customer_number} ({name}) at "
               f"{record.address}, {when(record.at)}, by {record.person}; provider "
               f"{record.provider} may register one hour \"Uppstart smarta lås\"", _record_json(record))


def do_locks_move(args) -> None:
    with FleetStore() as store:
        record = store.move_lock(args.lock, args.address, args.person, _at(args), note=args.note)
    emit(args, f"lock {record.lock_id} moved with customer {record.customer_number} to "
               f"{record.address}, {when(record.at)}, by {record.person}", _record_json(record))


def do_locks_key_out(args) -> None:
    with FleetStore() as store:
        record = store.sign_out_key(args.lock, args.person, _at(args), note=args.note)
    emit(args, f"customer {record.customer_number}'s key signed out by {record.person} at "
               f"{when(record.at)} to dismantle lock {record.lock_id}; next: hemlas locks "
               f"dismantle {record.lock_id} --by \"{record.person}\"", _record_json(record))


def do_locks_dismantle(args) -> None:
    with FleetStore() as store:
        done = store.dismantle_lock(args.lock, args.person, _at(args), note=args.note)
    record, revoked = done.record, list(done.revoked_key_ids)
    emit(args, f"lock {record.lock_id} dismantled at customer {record.customer_number} "
               f"({record.address}), {when(record.at)}, by {record.person}; "
               f"{len(revoked)} key(s) revoked"
               + (f" (they reach the lock at its next admin connection: hemlas keys push "
                  f"{record.lock_id})" if revoked else "")
               + f"; next: return the key: hemlas locks key-return {record.lock_id} --by "
                 f"\"{record.person}\"",
         {**_record_json(record), "revoked_key_ids": revoked})


def do_locks_key_return(args) -> None:
    with FleetStore() as store:
        record = store.return_key(args.lock, args.person, _at(args), note=args.note)
        pending = [k.key_id for k in store.pending_revocations(record.lock_id)]
    # A mount waits for the revocations (the old carers' keys) to be on the lock.
    waiting = (f" once its {len(pending)} revoked key(s) are on the lock: hemlas keys push "
               f"{record.lock_id}" if pending else "")
    emit(args, f"customer {record.customer_number}'s key returned by {record.person} at "
               f"{when(record.at)}; lock {record.lock_id} is free stock for a new "
               f"customer{waiting}", {**_record_json(record), "pending_revocations": pending})


def do_locks_history(args) -> None:
    with FleetStore() as store:
        records = store.lock_history(args.lock)
    rows = [_record_json(r) for r in records]
    if records:
        human = (f"history of lock {args.lock}: {len(records)} record(s)\n"
                 + table(["when", "action", "customer", "address", "by", "provider", "note"],
                         [_history_cells(r) for r in records]))
    else:
        human = f"lock {args.lock} has no lifecycle records: never mounted"
    emit_listing(args, human, rows, _HISTORY_FIELDS)


def _history_cells(r: LifecycleRecord) -> list:
    return [when(r.at), r.action, r.customer_number, r.address, r.person, r.provider, r.note]


def do_locks_list(args) -> None:
    with FleetStore() as store:
        locks, readings = store.locks(), store.last_battery_readings()
        statuses = store.lock_statuses()
        names = {c.customer_number: c.name for c in store.customers()}
    rows = []
    for lock in locks:
        reading = readings.get(lock.lock_id)
        status = statuses[lock.lock_id]
        here = lock.customer_number is not None  # mounted or key out: with its customer now
        rows.append({"lock_id": lock.lock_id, "status": status.status,
                     "customer_number": lock.customer_number,
                     "customer_name": names.get(lock.customer_number or ""),
                     "address": status.address if here else None,
                     "status_since": formats.iso(status.since),
                     "board": lock.board, "firmware_version": lock.firmware_version,
                     "provisioned_at": formats.iso(lock.provisioned_at),
                     **named("battery", reading.state if reading else None, BatteryState),
                     "loaded_mv": reading.loaded_mv if reading else None,
                     "battery_at": formats.iso(reading.at) if reading else None})
    human = table(["lock", "status", "customer", "address", "board", "battery"],
                  [[r["lock_id"], _status_text(statuses[r["lock_id"]]),
                    " ".join(x for x in (r["customer_number"], r["customer_name"]) if x) or None,
                    r["address"], r["board"], _battery_cell(readings.get(r["lock_id"]))]
                   for r in rows],
                  empty="no locks")
    emit_listing(args, human, rows, _LOCK_FIELDS)


def _status_text(status: LockStatus) -> str:
    if status.status == "dismantled":
        return f"dismantled at customer {status.customer_number}, key not returned"
    return {"key_out": "key out (to dismantle)"}.get(status.status, status.status)


def _battery_cell(reading) -> str:
    if reading is None:
        return "no reading"
    return f"{battery_name(reading.state)} ({reading.loaded_mv} mV, {when(reading.at)})"


# ---- argument parsers ------------------------------------------------------------------------

def _common(cmd, csv_export: bool = False) -> None:
    cmd.add_argument("--json", action="store_true", help="machine-readable output")
    if csv_export:
        formats.add_csv_arguments(cmd)


def _who_when(cmd, who: str = "who did it") -> None:
    cmd.add_argument("--by", dest="person", required=True, metavar="PERSON", help=who)
    cmd.add_argument("--at", help="when it happened (ISO local time, e.g. 2026-11-25T07:00; "
                                  "default now; not in the future)")


def add_customer_arguments(sub) -> None:
    """The `customers` subcommands, for the CLI's parser."""
    add = sub.add_parser("add", help="add a customer by the municipality's customer number")
    add.add_argument("number", help="the customer number (digits)")
    add.add_argument("--name", required=True)
    add.add_argument("--address")
    add.add_argument("--provider", help="the home-care provider serving the customer")
    add.set_defaults(handler=do_customers_add)
    provider = sub.add_parser("set-provider", help="change the provider serving a customer "
                                                   "(past mounts keep theirs)")
    provider.add_argument("number")
    provider.add_argument("provider", help="the provider's name (\"\" for none)")
    provider.set_defaults(handler=do_customers_set_provider)
    listing = sub.add_parser("list", help="customers: provider, locks, active NFC tag")
    listing.set_defaults(handler=do_customers_list)
    register = sub.add_parser("nfc-register", help="record an NFC tag that is up at a customer's "
                                                   "(refused for a customer with a lock)")
    register.add_argument("number")
    register.add_argument("--tag", required=True, help="the tag's id")
    _who_when(register, "who registered it")
    register.set_defaults(handler=do_nfc_register)
    deactivate = sub.add_parser("nfc-deactivate", help="deactivate a customer's NFC tag, before "
                                                       "a lock is mounted; then take it down")
    deactivate.add_argument("number")
    _who_when(deactivate, "the coordinator who deactivated it")
    deactivate.set_defaults(handler=do_nfc_deactivate)
    tags = sub.add_parser("nfc-list", help="NFC tags, active and deactivated (who and when)")
    tags.add_argument("number", nargs="?", help="one customer's tags only")
    tags.set_defaults(handler=do_nfc_list)
    for cmd in (add, provider, register, deactivate):
        _common(cmd)
    for cmd in (listing, tags):
        _common(cmd, csv_export=True)


def add_lock_arguments(sub) -> None:
    """The `locks` subcommands, for the CLI's parser."""
    mount = sub.add_parser("mount", help="mount a free lock for a customer (needs the customer's "
                                         "provider and no active NFC tag)")
    mount.add_argument("lock")
    mount.add_argument("customer", help="the customer number")
    mount.add_argument("--address", help="where (default: the customer's address)")
    _who_when(mount, "who mounted it")
    mount.set_defaults(handler=do_locks_mount)
    move = sub.add_parser("move", help="the customer moves within the municipality: the lock "
                                       "goes along to the new address")
    move.add_argument("lock")
    move.add_argument("--address", required=True, help="the new address")
    _who_when(move, "who moved it")
    move.set_defaults(handler=do_locks_move)
    key_out = sub.add_parser("key-out", help="the lock fitter signs the customer's key out from "
                                             "the provider, to dismantle the lock")
    key_out.add_argument("lock")
    _who_when(key_out, "the lock fitter")
    key_out.set_defaults(handler=do_locks_key_out)
    dismantle = sub.add_parser("dismantle", help="home care ended: dismantle the lock (its keys "
                                                 "are revoked; its history stays)")
    dismantle.add_argument("lock")
    _who_when(dismantle, "the lock fitter")
    dismantle.set_defaults(handler=do_locks_dismantle)
    key_return = sub.add_parser("key-return", help="the fitter returns the customer's key to the "
                                                   "provider; the lock is free stock")
    key_return.add_argument("lock")
    _who_when(key_return, "the lock fitter")
    key_return.set_defaults(handler=do_locks_key_return)
    steps = (mount, move, key_out, dismantle, key_return)
    for cmd in steps:
        cmd.add_argument("--note", help="free text kept with the record")
        _common(cmd)
    history = sub.add_parser("history", help="a lock's lifecycle records: who, when, what")
    history.add_argument("lock")
    history.set_defaults(handler=do_locks_history)
    listing = sub.add_parser("list", help="locks: status (stock, mounted, key out, "
                                         "dismantled), customer, board, last battery state")
    listing.set_defaults(handler=do_locks_list)
    for cmd in (history, listing):
        _common(cmd, csv_export=True)


__all__ = ["add_customer_arguments", "add_lock_arguments", "battery_name", "emit_listing", "when"]
