"""Customers, their NFC tags, and the locks' lifecycle: `hemlas customers ...`, `hemlas locks ...`.

Every lifecycle command records who (--by) and when (--at, local ISO time; default now, never
in the future); the store refuses a step out of the routine's order with a message saying
which rule and what to do (docs/lifecycle.md).
"""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import asdict

from ..codes import BatteryState
from ..fleet.models import LifecycleRecord
from ..fleet.store import FleetStore
from .keys import parse_time
from .output import CommandError, emit

_HISTORY_FIELDS = ["record_id", "lock_id", "action", "at", "customer_number", "address",
                   "person", "provider", "note", "recorded_at"]


def when(t: int | None) -> str:
    """A unix time as local "YYYY-MM-DD HH:MM", or "-"."""
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def battery_name(state: int | None) -> str:
    return "-" if state is None else BatteryState(state).name


def write_csv(path: str, fields: list[str], rows: list[dict]) -> None:
    """Write rows as CSV, owner-only: listings name customers, who are home-care clients."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8", newline="") as f:
            f.write(out.getvalue())
    except OSError as err:
        raise CommandError(f"cannot write {path}: {err.strerror or err}") from err


def emit_listing(args, human: str, rows: list[dict], fields: list[str],
             csv_rows: list[dict] | None = None) -> None:
    """A listing: the terminal text (or --json), and with --csv FILE the rows as CSV too."""
    if getattr(args, "csv", None):
        write_csv(args.csv, fields, rows if csv_rows is None else csv_rows)
        human += f"\nwritten: {args.csv}"
    emit(args, human, rows)


def _at(args) -> int | None:
    return None if args.at is None else parse_time(args.at, 0)


# ---- customers -------------------------------------------------------------------------------

def do_customers_add(args) -> None:
    with FleetStore() as store:
        record = store.add_customer(args.number, args.name, args.address, provider=args.provider)
    emit(args, f"customer {record.customer_number} added: {record.name}"
               + (f", {record.address}" if record.address else "")
               + (f"; provider {record.provider}" if record.provider else ""), asdict(record))


def do_customers_set_provider(args) -> None:
    with FleetStore() as store:
        record = store.set_customer_provider(args.number, args.provider or None)
    emit(args, f"customer {record.customer_number}: provider "
               + (record.provider or "none (a lock cannot be mounted until one is set)"),
         asdict(record))


def do_customers_list(args) -> None:
    with FleetStore() as store:
        customers, locks = store.customers(), store.locks()
        tags = {t.customer_number: t.tag for t in store.nfc_tags(active_only=True)}
    held: dict[str, list[str]] = {}
    for lock in locks:
        if lock.customer_number is not None:
            held.setdefault(lock.customer_number, []).append(lock.lock_id)
    rows = [{"customer_number": c.customer_number, "name": c.name, "address": c.address,
             "provider": c.provider, "locks": held.get(c.customer_number, []),
             "nfc_tag": tags.get(c.customer_number)} for c in customers]
    lines = [f"{r['customer_number']:>12}  {r['name'][:24]:24} {(r['address'] or '-')[:28]:28} "
             f"{(r['provider'] or 'no provider')[:20]:20} "
             f"{', '.join(r['locks']) or 'no lock'}"
             + (f"  NFC tag {r['nfc_tag']} active" if r["nfc_tag"] else "") for r in rows]
    emit_listing(args, "\n".join(lines) or "no customers", rows,
             ["customer_number", "name", "address", "provider", "locks", "nfc_tag"],
             [{**r, "locks": " ".join(r["locks"])} for r in rows])  # one cell in CSV


def do_nfc_register(args) -> None:
    with FleetStore() as store:
        tag = store.register_nfc_tag(args.number, args.tag, args.person, _at(args))
    emit(args, f"NFC tag {tag.tag} registered as active for customer {tag.customer_number} "
               f"({when(tag.registered_at)}, by {tag.registered_by})", asdict(tag))


def do_nfc_deactivate(args) -> None:
    with FleetStore() as store:
        tag = store.deactivate_nfc_tag(args.number, args.person, _at(args))
    emit(args, f"NFC tag {tag.tag} of customer {tag.customer_number} deactivated by "
               f"{tag.deactivated_by} at {when(tag.deactivated_at)}: the tag may now be taken "
               f"down, and a lock mounted", asdict(tag))


def do_nfc_list(args) -> None:
    with FleetStore() as store:
        tags = store.nfc_tags(args.number)
    rows = [{**asdict(t), "active": t.active} for t in tags]
    lines = [f"{t.customer_number:>12}  {t.tag:16} registered {when(t.registered_at)} by "
             f"{t.registered_by}; "
             + ("ACTIVE" if t.active else f"deactivated {when(t.deactivated_at)} by "
                                          f"{t.deactivated_by}") for t in tags]
    emit_listing(args, "\n".join(lines) or "no NFC tags", rows,
             ["nfc_tag_id", "customer_number", "tag", "active", "registered_at", "registered_by",
              "deactivated_at", "deactivated_by"])


# ---- locks -----------------------------------------------------------------------------------

def do_locks_mount(args) -> None:
    with FleetStore() as store:
        record = store.mount_lock(args.lock, args.customer, args.address, args.person, _at(args),
                                  note=args.note)
        name = store.customer(record.customer_number).name
    emit(args, f"lock {record.lock_id} mounted for customer {record.customer_number} ({name}) at "
               f"{record.address}, {when(record.at)}, by {record.person}; provider "
               f"{record.provider} may register one hour \"Uppstart smarta lås\"", asdict(record))


def do_locks_move(args) -> None:
    with FleetStore() as store:
        record = store.move_lock(args.lock, args.address, args.person, _at(args), note=args.note)
    emit(args, f"lock {record.lock_id} moved with customer {record.customer_number} to "
               f"{record.address}, {when(record.at)}, by {record.person}", asdict(record))


def do_locks_key_out(args) -> None:
    with FleetStore() as store:
        record = store.sign_out_key(args.lock, args.person, _at(args), note=args.note)
    emit(args, f"customer {record.customer_number}'s key signed out by {record.person} at "
               f"{when(record.at)} to dismantle lock {record.lock_id}; next: hemlas locks "
               f"dismantle {record.lock_id} --by \"{record.person}\"", asdict(record))


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
         {**asdict(record), "revoked_key_ids": revoked})


def do_locks_key_return(args) -> None:
    with FleetStore() as store:
        record = store.return_key(args.lock, args.person, _at(args), note=args.note)
        pending = [k.key_id for k in store.pending_revocations(record.lock_id)]
    # A mount waits for the revocations (the old carers' keys) to be on the lock.
    waiting = (f" once its {len(pending)} revoked key(s) are on the lock: hemlas keys push "
               f"{record.lock_id}" if pending else "")
    emit(args, f"customer {record.customer_number}'s key returned by {record.person} at "
               f"{when(record.at)}; lock {record.lock_id} is free stock for a new "
               f"customer{waiting}", {**asdict(record), "pending_revocations": pending})


def do_locks_history(args) -> None:
    with FleetStore() as store:
        records = store.lock_history(args.lock)
    rows = [asdict(r) for r in records]
    lines = [f"history of lock {args.lock}: {len(records)} record(s)"] if records else [
        f"lock {args.lock} has no lifecycle records: never mounted"]
    lines += [_history_line(r) for r in records]
    emit_listing(args, "\n".join(lines), rows, _HISTORY_FIELDS)


def _history_line(r: LifecycleRecord) -> str:
    return (f"  {when(r.at):16}  {r.action:14} customer {r.customer_number:>8}  "
            f"{(r.address or '-')[:28]:28}  by {r.person}"
            + (f"  [{r.provider}]" if r.provider else "") + (f"  note: {r.note}" if r.note else ""))


def do_locks_list(args) -> None:
    with FleetStore() as store:
        locks, readings = store.locks(), store.last_battery_readings()
        names = {c.customer_number: c.name for c in store.customers()}
    rows = []
    for lock in locks:
        reading = readings.get(lock.lock_id)
        rows.append({"lock": lock.lock_id, "board": lock.board,
                     "firmware_version": lock.firmware_version,
                     "customer_number": lock.customer_number,
                     "customer_name": names.get(lock.customer_number or ""),
                     "battery": battery_name(reading.state) if reading else None,
                     "loaded_mv": reading.loaded_mv if reading else None,
                     "battery_at": reading.at if reading else None})
    lines = [f"{r['lock']:12} {r['board']:14} "
             f"{(r['customer_number'] or '-') + (' ' + r['customer_name'] if r['customer_name'] else ''):32.32} "
             f"{r['battery'] or 'no reading':10} {when(r['battery_at'])}" for r in rows]
    emit_listing(args, "\n".join(lines) or "no locks", rows, list(rows[0]) if rows else ["lock"])


# ---- argument parsers ------------------------------------------------------------------------

def _common(cmd, csv_export: bool = False) -> None:
    cmd.add_argument("--json", action="store_true", help="machine-readable output")
    if csv_export:
        cmd.add_argument("--csv", metavar="FILE", help="also write the listing as CSV")


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
    listing = sub.add_parser("list", help="locks: board, customer, last battery state")
    listing.set_defaults(handler=do_locks_list)
    for cmd in (history, listing):
        _common(cmd, csv_export=True)


__all__ = ["add_customer_arguments", "add_lock_arguments", "battery_name", "emit_listing", "when",
           "write_csv"]
