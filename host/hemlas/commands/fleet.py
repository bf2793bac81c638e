"""Customers and the locks placed with them: `hemlas customers ...` and `hemlas locks ...`."""

from __future__ import annotations

import time

from ..codes import BatteryState
from ..fleet.store import FleetStore
from .output import emit


def when(t: int | None) -> str:
    """A unix time as local "YYYY-MM-DD HH:MM", or "-"."""
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def battery_name(state: int | None) -> str:
    return "-" if state is None else BatteryState(state).name


def do_customers_add(args) -> None:
    with FleetStore() as store:
        record = store.add_customer(args.number, args.name, args.address)
    emit(args, f"customer {record.customer_number} added: {record.name}"
               + (f", {record.address}" if record.address else ""),
         {"customer_number": record.customer_number, "name": record.name,
          "address": record.address, "created_at": record.created_at})


def do_customers_list(args) -> None:
    with FleetStore() as store:
        customers, locks = store.customers(), store.locks()
    held: dict[str, list[str]] = {}
    for lock in locks:
        if lock.customer_number is not None:
            held.setdefault(lock.customer_number, []).append(lock.lock_id)
    rows = [{"customer_number": c.customer_number, "name": c.name, "address": c.address,
             "locks": held.get(c.customer_number, [])} for c in customers]
    lines = [f"{r['customer_number']:>12}  {r['name'][:28]:28} {(r['address'] or '-')[:32]:32} "
             f"{', '.join(r['locks']) or 'no lock'}" for r in rows]
    emit(args, "\n".join(lines) or "no customers", rows)


def do_locks_assign(args) -> None:
    with FleetStore() as store:
        record = store.assign_lock(args.lock, args.customer)
        customer = store.customer(args.customer)
    emit(args, f"lock {record.lock_id} assigned to customer {customer.customer_number} "
               f"({customer.name})",
         {"lock": record.lock_id, "customer_number": customer.customer_number})


def do_locks_unassign(args) -> None:
    with FleetStore() as store:
        before = store.lock(args.lock).customer_number
        store.unassign_lock(args.lock)
    emit(args, f"lock {args.lock} " + (f"taken from customer {before}" if before
                                       else "had no customer"),
         {"lock": args.lock, "was_customer_number": before})


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
    emit(args, "\n".join(lines) or "no locks", rows)


def _json(cmd) -> None:
    cmd.add_argument("--json", action="store_true", help="machine-readable output")


def add_customer_arguments(sub) -> None:
    """The `customers` subcommands, for the CLI's parser."""
    add = sub.add_parser("add", help="add a customer by the municipality's customer number")
    add.add_argument("number", help="the customer number (digits)")
    add.add_argument("--name", required=True)
    add.add_argument("--address")
    add.set_defaults(handler=do_customers_add)
    listing = sub.add_parser("list", help="customers and their locks")
    listing.set_defaults(handler=do_customers_list)
    for cmd in (add, listing):
        _json(cmd)


def add_lock_arguments(sub) -> None:
    """The `locks` subcommands, for the CLI's parser."""
    assign = sub.add_parser("assign", help="place a lock with a customer")
    assign.add_argument("lock")
    assign.add_argument("customer", help="the customer number")
    assign.set_defaults(handler=do_locks_assign)
    unassign = sub.add_parser("unassign", help="take a lock from its customer")
    unassign.add_argument("lock")
    unassign.set_defaults(handler=do_locks_unassign)
    listing = sub.add_parser("list", help="locks: board, customer, last battery state")
    listing.set_defaults(handler=do_locks_list)
    for cmd in (assign, unassign, listing):
        _json(cmd)
