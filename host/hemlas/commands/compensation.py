"""Registered "Uppstart smarta lås" hours: `hemlas compensation register|import|list|correct|
withdraw`.

The hours are the provider's own registrations, entered here to be checked against the locks
mounted (`hemlas report compensation`, in report.py; docs/lifecycle.md). A wrong hour is
withdrawn or corrected by a correction record (who, when, why), never deleted.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from ..fleet.hours import HourEntry
from ..fleet.store import FleetStore
from . import formats
from .output import CommandError, emit

_HOUR_FIELDS = ["hour_id", "provider", "customer_number", "lock_id", "day", "registered_by",
                "registered_at", "source", "source_ref", "status", "corrects", "corrected_by",
                "corrected_at", "correction_reason", "replacement_id"]
_HEADERS = ("hour", "date", "customer", "lock_id", "registered by", "source", "status")


def _hour_json(h) -> dict:
    """An hour for --json and CSV: ISO times, the correction's who, when and why beside it."""
    row = asdict(h)
    correction = row.pop("correction", None) or {}
    row["registered_at"] = formats.iso(h.registered_at)
    row.update({"corrected_by": correction.get("by"), "corrected_at": formats.iso(correction.get("recorded_at")),
                "correction_reason": correction.get("reason"),
                "replacement_id": correction.get("replacement_id")})
    return row


def _status(h: HourEntry) -> str:
    if h.status == "withdrawn":
        return f"WITHDRAWN by {h.correction.by}: {h.correction.reason}"
    if h.status == "corrected":
        return f"CORRECTED by {h.correction.by} (now #{h.correction.replacement_id}): {h.correction.reason}"
    return f"corrects #{h.corrects}" if h.corrects else "current"


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
         _hour_json(hour))


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
         {"file": str(path), "lines": result.lines, "added": [_hour_json(h) for h in result.added],
          "already_present": result.already_present})


def do_list(args) -> None:
    with FleetStore() as store:
        hours = store.registered_hours(args.provider, args.month, include_all=args.all)
    current = sum(h.status == "current" for h in hours)
    head = f"hours \"Uppstart smarta lås\" registered by {args.provider}" + (
        f" in {args.month}" if args.month else "") + f": {current}" + (
        f" ({len(hours) - current} withdrawn or corrected, listed too)" if args.all else "")
    rows = [_hour_json(h) for h in hours]
    body = formats.table(_HEADERS, ([f"#{h.hour_id}", h.day, h.customer_number, h.lock_id,
                                     h.registered_by, h.source + (f" {h.source_ref}" if h.source_ref else ""),
                                     _status(h)] for h in hours))
    human = head + ("\n" + body if body else "")
    if args.csv:
        formats.write_csv(args.csv, _HOUR_FIELDS, rows, formats.csv_delimiter(args))
        human += f"\nwritten: {args.csv}"
    emit(args, human, rows)


def do_withdraw(args) -> None:
    with FleetStore() as store:
        hour = store.withdraw_hour(args.hour_id, args.person, args.reason or "")
    emit(args, f"hour #{hour.hour_id} (customer {hour.customer_number}, {hour.day}) withdrawn by "
               f"{hour.correction.by}: {hour.correction.reason}; it no longer counts in the report",
         _hour_json(hour))


def do_correct(args) -> None:
    changes = {name: value for name, value in (("customer_number", args.customer),
                                               ("day", args.date), ("lock_id", args.lock))
               if value is not None}
    with FleetStore() as store:
        hour = store.correct_hour(args.hour_id, args.person, args.reason or "", **changes)
    emit(args, f"hour #{args.hour_id} corrected by {args.person.strip()}: hour #{hour.hour_id} "
               f"(customer {hour.customer_number}, {hour.day}"
               f"{', lock ' + hour.lock_id if hour.lock_id else ''}) replaces it", _hour_json(hour))


def _hour_id(text: str) -> int:
    try:
        return int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"an hour is named by its number (e.g. 12 or #12), not "
                                         f"{text!r}: hemlas compensation list --provider P --all "
                                         "lists them") from None


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
    listing.add_argument("--all", action="store_true",
                         help="also the hours withdrawn or corrected, marked")
    formats.add_csv_arguments(listing)
    listing.set_defaults(handler=do_list)
    withdraw = sub.add_parser("withdraw", help="withdraw an hour registered in error (kept, "
                                               "marked, no longer counted)")
    correct = sub.add_parser("correct", help="correct an hour: a new hour replaces it (the "
                                             "wrong one is kept, marked)")
    for cmd in (withdraw, correct):
        cmd.add_argument("hour_id", type=_hour_id, metavar="HOUR_ID")
        cmd.add_argument("--by", dest="person", required=True, metavar="NAME",
                         help="who withdraws or corrects it")
        cmd.add_argument("--reason", required=True, help="why (kept with the correction)")
    correct.add_argument("--customer", help="the right customer number")
    correct.add_argument("--date", help="the right date (YYYY-MM-DD)")
    correct.add_argument("--lock", help="the right lock (\"\" for none)")
    withdraw.set_defaults(handler=do_withdraw)
    correct.set_defaults(handler=do_correct)
    for cmd in (register, imp, listing, withdraw, correct):
        cmd.add_argument("--json", action="store_true", help="machine-readable output")


__all__ = ["add_arguments"]
