"""Registered "Uppstart smarta lås" hours: `hemlas compensation register|import|list`.

The hours are the provider's own registrations, entered here to be checked against the locks
mounted (`hemlas report compensation`, in report.py; docs/lifecycle.md).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..fleet.models import HourRecord
from ..fleet.store import FleetStore
from .fleet import emit_listing
from .output import CommandError, emit

_HOUR_FIELDS = ["hour_id", "provider", "customer_number", "lock_id", "day", "registered_by",
                "registered_at", "source", "source_ref"]


def _hour_line(h: HourRecord) -> str:
    return (f"  #{h.hour_id:<5} {h.day}  customer {h.customer_number:>8}  "
            f"{'lock ' + h.lock_id if h.lock_id else '':16}  by {h.registered_by} "
            f"({h.source}{': ' + h.source_ref if h.source_ref else ''})")


def do_register(args) -> None:
    with FleetStore() as store:
        hour = store.register_hours(args.provider, args.customer, args.date, args.person,
                                    lock_id=args.lock)
        month = hour.day.isoformat()[:7]  # "YYYY-MM" (strftime's %Y need not pad the year)
        same = [h for h in store.registered_hours(hour.provider, month)
                if h.customer_number == hour.customer_number]
    note = (f" (customer {hour.customer_number} now has {len(same)} hours in {month}: one per "
            f"lock mounted)" if len(same) > 1 else "")
    emit(args, f"hour #{hour.hour_id} \"Uppstart smarta lås\" registered for provider "
               f"{hour.provider}, customer {hour.customer_number}, {hour.day}{note}",
         asdict(hour))


def do_import(args) -> None:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise CommandError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from err
    with FleetStore() as store:
        result = store.import_hours_csv(args.provider, text, args.person, source=path.name)
    emit(args, f"{path.name}: {result.lines} line(s) read, {len(result.added)} hour(s) added, "
               f"{result.already_present} already registered",
         {"file": str(path), "lines": result.lines, "added": [asdict(h) for h in result.added],
          "already_present": result.already_present})


def do_list(args) -> None:
    with FleetStore() as store:
        hours = store.registered_hours(args.provider, args.month)
    head = f"hours \"Uppstart smarta lås\" registered by {args.provider}" + (
        f" in {args.month}" if args.month else "") + f": {len(hours)}"
    emit_listing(args, "\n".join([head] + [_hour_line(h) for h in hours]),
             [asdict(h) for h in hours], _HOUR_FIELDS)


def add_arguments(sub) -> None:
    """The `compensation` subcommands, for the CLI's parser."""
    register = sub.add_parser("register", help="enter one hour \"Uppstart smarta lås\" the "
                                               "provider registered")
    register.add_argument("--provider", required=True)
    register.add_argument("--customer", required=True, help="the customer number")
    register.add_argument("--date", required=True, help="the date it is registered for "
                                                        "(YYYY-MM-DD)")
    register.add_argument("--lock", help="the lock it pays for, if the registration names one")
    register.add_argument("--by", dest="person", required=True, metavar="PERSON",
                          help="who enters it")
    register.set_defaults(handler=do_register)
    imp = sub.add_parser("import", help="import the provider's registered hours from CSV "
                                        "(columns customer, date[, lock, hours, provider]); "
                                        "all or nothing, again adds nothing")
    imp.add_argument("file")
    imp.add_argument("--provider", required=True)
    imp.add_argument("--by", dest="person", required=True, metavar="PERSON",
                     help="who imports it")
    imp.set_defaults(handler=do_import)
    listing = sub.add_parser("list", help="a provider's registered hours")
    listing.add_argument("--provider", required=True)
    listing.add_argument("--month", help="YYYY-MM")
    listing.add_argument("--csv", metavar="FILE", help="also write the listing as CSV")
    listing.set_defaults(handler=do_list)
    for cmd in (register, imp, listing):
        cmd.add_argument("--json", action="store_true", help="machine-readable output")


__all__ = ["add_arguments"]
