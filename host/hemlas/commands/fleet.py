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
from ..i18n import N_, Texts, _, pgettext
from . import formats
from .formats import emit_listing, iso_times, named, table, when
from .keys import parse_time
from .output import emit

_HISTORY_FIELDS = ["record_id", "lock_id", "action", "at", "customer_number", "address",
                   "person", "provider", "note", "recorded_at"]
_LOCK_FIELDS = ["lock_id", "status", "customer_number", "customer_name", "address",
                "status_since", "board", "firmware_version", "provisioned_at", "battery",
                "battery_code", "loaded_mv", "battery_at"]


# The coded words as a person reads them (--json and --csv keep the words themselves).
_BATTERY = Texts({BatteryState.OK: N_("OK"), BatteryState.LOW: N_("LOW"),
                  BatteryState.CRITICAL: N_("CRITICAL")})
_STATUS = Texts({"stock": N_("stock"), "mounted": N_("mounted"),
                 "key_out": N_("key out (to dismantle)"), "dismantled": N_("dismantled")})
# The history's actions: in English the stored word itself (what --json says too).
_ACTION = Texts({"mount": N_("mount"), "move": N_("move"), "key_signed_out": N_("key_signed_out"),
                 "dismantle": N_("dismantle"), "key_returned": N_("key_returned"),
                 "unassign": N_("unassign")})


def battery_name(state: int | None) -> str:
    """A battery state for a person (its BatteryState name where the table lacks it)."""
    return "-" if state is None else _BATTERY.get(BatteryState(state), BatteryState(state).name)


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
    said = _("customer {number} added: {name}").format(number=record.customer_number,
                                                       name=record.name)
    if record.address:
        said = _("{said}, {address}").format(said=said, address=record.address)
    if record.provider:
        said = _("{said}; provider {provider}").format(said=said, provider=record.provider)
    emit(args, said, _record_json(record))


def do_customers_set_provider(args) -> None:
    with FleetStore() as store:
        record = store.set_customer_provider(args.number, args.provider or None)
    emit(args, (_("customer {number}: provider {provider}") if record.provider else
                _("customer {number}: provider none (a lock cannot be mounted until one is set)"))
         .format(number=record.customer_number, provider=record.provider), _record_json(record))


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
    human = table([_("customer"), _("name"), _("address"), _("provider"), _("locks"),
                   _("active NFC tag")],
                  [[r["customer_number"], r["name"], r["address"], r["provider"] or _("no provider"),
                    ", ".join(r["lock_ids"]) or _("no lock"), r["nfc_tag"]] for r in rows],
                  empty=_("no customers"))
    emit_listing(args, human, rows,
                 ["customer_number", "name", "address", "provider", "lock_ids", "nfc_tag",
                  "created_at"],
                 [{**r, "lock_ids": " ".join(r["lock_ids"])} for r in rows])  # one cell in CSV


def do_nfc_register(args) -> None:
    with FleetStore() as store:
        tag = store.register_nfc_tag(args.number, args.tag, args.person, _at(args))
    emit(args, _("NFC tag {tag} registered as active for customer {number} ({at}, by {by})")
         .format(tag=tag.tag, number=tag.customer_number, at=when(tag.registered_at),
                 by=tag.registered_by), _record_json(tag))


def do_nfc_deactivate(args) -> None:
    with FleetStore() as store:
        tag = store.deactivate_nfc_tag(args.number, args.person, _at(args))
    emit(args, _("NFC tag {tag} of customer {number} deactivated by {by} at {at}: the tag may "
                 "now be taken down, and a lock mounted").format(
        tag=tag.tag, number=tag.customer_number, by=tag.deactivated_by,
        at=when(tag.deactivated_at)), _record_json(tag))


def do_nfc_list(args) -> None:
    with FleetStore() as store:
        tags = store.nfc_tags(args.number)
    rows = [{**_record_json(t), "active": t.active} for t in tags]
    human = table([_("customer"), _("tag"), _("status"), _("registered"), _("registered by"),
                   _("deactivated"), _("deactivated by")],
                  [[t.customer_number, t.tag, _("ACTIVE") if t.active else _("deactivated"),
                    when(t.registered_at), t.registered_by,
                    None if t.active else when(t.deactivated_at), t.deactivated_by]
                   for t in tags], empty=_("no NFC tags"))
    emit_listing(args, human, rows,
                 ["nfc_tag_id", "customer_number", "tag", "active", "registered_at",
                  "registered_by", "deactivated_at", "deactivated_by"])


# ---- locks -----------------------------------------------------------------------------------

def do_locks_mount(args) -> None:
    with FleetStore() as store:
        record = store.mount_lock(args.lock, args.customer, args.address, args.person, _at(args),
                                  note=args.note)
        name = store.customer(record.customer_number).name
    emit(args, _("lock {lock_id} mounted for customer {number} ({name}) at {address}, {at}, by "
                 "{person}; provider {provider} may register one hour \"Uppstart smarta lås\"")
         .format(lock_id=record.lock_id, number=record.customer_number, name=name,
                 address=record.address, at=when(record.at), person=record.person,
                 provider=record.provider), _record_json(record))


def do_locks_move(args) -> None:
    with FleetStore() as store:
        record = store.move_lock(args.lock, args.address, args.person, _at(args), note=args.note)
    emit(args, _("lock {lock_id} moved with customer {number} to {address}, {at}, by {person}")
         .format(lock_id=record.lock_id, number=record.customer_number, address=record.address,
                 at=when(record.at), person=record.person), _record_json(record))


def do_locks_key_out(args) -> None:
    with FleetStore() as store:
        record = store.sign_out_key(args.lock, args.person, _at(args), note=args.note)
    emit(args, _("customer {number}'s key signed out by {person} at {at} to dismantle lock "
                 "{lock_id}; next: hemlas locks dismantle {lock_id} --by \"{person}\"")
         .format(number=record.customer_number, person=record.person, at=when(record.at),
                 lock_id=record.lock_id), _record_json(record))


def do_locks_dismantle(args) -> None:
    with FleetStore() as store:
        done = store.dismantle_lock(args.lock, args.person, _at(args), note=args.note)
    record, revoked = done.record, list(done.revoked_key_ids)
    if revoked:
        said = _("lock {lock_id} dismantled at customer {number} ({address}), {at}, by {person}; "
                 "{n} key(s) revoked (they reach the lock at its next admin connection: hemlas "
                 "keys push {lock_id}); next: return the key: hemlas locks key-return {lock_id} "
                 "--by \"{person}\"")
    else:
        said = _("lock {lock_id} dismantled at customer {number} ({address}), {at}, by {person}; "
                 "{n} key(s) revoked; next: return the key: hemlas locks key-return {lock_id} "
                 "--by \"{person}\"")
    emit(args, said.format(lock_id=record.lock_id, number=record.customer_number,
                           address=record.address, at=when(record.at), person=record.person,
                           n=len(revoked)),
         {**_record_json(record), "revoked_key_ids": revoked})


def do_locks_key_return(args) -> None:
    with FleetStore() as store:
        record = store.return_key(args.lock, args.person, _at(args), note=args.note)
        pending = [k.key_id for k in store.pending_revocations(record.lock_id)]
    # A mount waits for the revocations (the old carers' keys) to be on the lock.
    if pending:
        said = _("customer {number}'s key returned by {person} at {at}; lock {lock_id} is free "
                 "stock for a new customer once its {n} revoked key(s) are on the lock: hemlas "
                 "keys push {lock_id}")
    else:
        said = _("customer {number}'s key returned by {person} at {at}; lock {lock_id} is free "
                 "stock for a new customer")
    emit(args, said.format(number=record.customer_number, person=record.person,
                           at=when(record.at), lock_id=record.lock_id, n=len(pending)),
         {**_record_json(record), "pending_revocations": pending})


def do_locks_history(args) -> None:
    with FleetStore() as store:
        records = store.lock_history(args.lock)
    rows = [_record_json(r) for r in records]
    if records:
        human = (_("history of lock {lock_id}: {n} record(s)").format(lock_id=args.lock,
                                                                      n=len(records))
                 + "\n" + table([_("when"), _("action"), _("customer"), _("address"), _("by"),
                                 _("provider"), _("note")], [_history_cells(r) for r in records]))
    else:
        human = _("lock {lock_id} has no lifecycle records: never mounted").format(lock_id=args.lock)
    emit_listing(args, human, rows, _HISTORY_FIELDS)


def _history_cells(r: LifecycleRecord) -> list:
    return [when(r.at), _ACTION.get(r.action, r.action), r.customer_number, r.address, r.person, r.provider, r.note]


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
    human = table([pgettext("column", "lock"), _("status"), _("customer"), _("address"), _("board"), _("battery")],
                  [[r["lock_id"], _status_text(statuses[r["lock_id"]]),
                    " ".join(x for x in (r["customer_number"], r["customer_name"]) if x) or None,
                    r["address"], r["board"], _battery_cell(readings.get(r["lock_id"]))]
                   for r in rows],
                  empty=_("no locks"))
    emit_listing(args, human, rows, _LOCK_FIELDS)


def _status_text(status: LockStatus) -> str:
    if status.status == "dismantled":
        return _("dismantled at customer {number}, key not returned").format(
            number=status.customer_number)
    return _STATUS.get(status.status, status.status)


def _battery_cell(reading) -> str:
    if reading is None:
        return _("no reading")
    return _("{battery} ({loaded_mv} mV, {at})").format(
        battery=battery_name(reading.state), loaded_mv=reading.loaded_mv, at=when(reading.at))


# ---- argument parsers ------------------------------------------------------------------------

def _common(cmd, csv_export: bool = False) -> None:
    cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))
    if csv_export:
        formats.add_csv_arguments(cmd)


def _who_when(cmd, who: str) -> None:
    """--by (who: its help, translated) and --at."""
    cmd.add_argument("--by", dest="person", required=True, metavar="PERSON", help=who)
    cmd.add_argument("--at", help=_("when it happened (ISO local time, e.g. 2026-11-25T07:00; "
                                    "default now; not in the future)"))


def add_customer_arguments(sub) -> None:
    """The `customers` subcommands, for the CLI's parser."""
    number = _("the customer number (digits)")
    add = sub.add_parser("add", help=_("add a customer by the municipality's customer number"))
    add.add_argument("number", help=number)
    add.add_argument("--name", required=True, help=_("the customer's name"))
    add.add_argument("--address", help=_("the customer's address"))
    add.add_argument("--provider", help=_("the home-care provider serving the customer"))
    add.set_defaults(handler=do_customers_add)
    provider = sub.add_parser("set-provider", help=_("change the provider serving a customer "
                                                     "(past mounts keep theirs)"))
    provider.add_argument("number", help=number)
    provider.add_argument("provider", help=_("the provider's name (\"\" for none)"))
    provider.set_defaults(handler=do_customers_set_provider)
    listing = sub.add_parser("list", help=_("customers: provider, locks, active NFC tag"))
    listing.set_defaults(handler=do_customers_list)
    register = sub.add_parser("nfc-register", help=_("record an NFC tag that is up at a "
                                                     "customer's (refused for a customer with a "
                                                     "lock)"))
    register.add_argument("number", help=number)
    register.add_argument("--tag", required=True, help=_("the tag's id"))
    _who_when(register, _("who registered it"))
    register.set_defaults(handler=do_nfc_register)
    deactivate = sub.add_parser("nfc-deactivate", help=_("deactivate a customer's NFC tag, before "
                                                         "a lock is mounted; then take it down"))
    deactivate.add_argument("number", help=number)
    _who_when(deactivate, _("the coordinator who deactivated it"))
    deactivate.set_defaults(handler=do_nfc_deactivate)
    tags = sub.add_parser("nfc-list", help=_("NFC tags, active and deactivated (who and when)"))
    tags.add_argument("number", nargs="?", help=_("one customer's tags only"))
    tags.set_defaults(handler=do_nfc_list)
    for cmd in (add, provider, register, deactivate):
        _common(cmd)
    for cmd in (listing, tags):
        _common(cmd, csv_export=True)


def add_lock_arguments(sub) -> None:
    """The `locks` subcommands, for the CLI's parser."""
    lock = _("the lock's id, as it advertises it (e.g. HL-1A2B3C)")
    fitter = _("the lock fitter")
    mount = sub.add_parser("mount", help=_("mount a free lock for a customer (needs the "
                                           "customer's provider and no active NFC tag)"))
    mount.add_argument("lock", help=lock)
    mount.add_argument("customer", help=_("the customer number"))
    mount.add_argument("--address", help=_("where (default: the customer's address)"))
    _who_when(mount, _("who mounted it"))
    mount.set_defaults(handler=do_locks_mount)
    move = sub.add_parser("move", help=_("the customer moves within the municipality: the lock "
                                         "goes along to the new address"))
    move.add_argument("lock", help=lock)
    move.add_argument("--address", required=True, help=_("the new address"))
    _who_when(move, _("who moved it"))
    move.set_defaults(handler=do_locks_move)
    key_out = sub.add_parser("key-out", help=_("the lock fitter signs the customer's key out "
                                               "from the provider, to dismantle the lock"))
    key_out.add_argument("lock", help=lock)
    _who_when(key_out, fitter)
    key_out.set_defaults(handler=do_locks_key_out)
    dismantle = sub.add_parser("dismantle", help=_("home care ended: dismantle the lock (its "
                                                   "keys are revoked; its history stays)"))
    dismantle.add_argument("lock", help=lock)
    _who_when(dismantle, fitter)
    dismantle.set_defaults(handler=do_locks_dismantle)
    key_return = sub.add_parser("key-return", help=_("the fitter returns the customer's key to "
                                                     "the provider; the lock is free stock"))
    key_return.add_argument("lock", help=lock)
    _who_when(key_return, fitter)
    key_return.set_defaults(handler=do_locks_key_return)
    steps = (mount, move, key_out, dismantle, key_return)
    for cmd in steps:
        cmd.add_argument("--note", help=_("free text kept with the record"))
        _common(cmd)
    history = sub.add_parser("history", help=_("a lock's lifecycle records: who, when, what"))
    history.add_argument("lock", help=lock)
    history.set_defaults(handler=do_locks_history)
    listing = sub.add_parser("list", help=_("locks: status (stock, mounted, key out, "
                                            "dismantled), customer, board, last battery state"))
    listing.set_defaults(handler=do_locks_list)
    for cmd in (history, listing):
        _common(cmd, csv_export=True)


__all__ = ["add_customer_arguments", "add_lock_arguments", "battery_name", "emit_listing", "when"]
