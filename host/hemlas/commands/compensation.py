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
from ..i18n import N_, _
from . import formats
from .output import CommandError, emit

_HOUR_FIELDS = ["hour_id", "provider", "customer_number", "lock_id", "day", "registered_by",
                "registered_at", "source", "source_ref", "status", "corrects", "corrected_by",
                "corrected_at", "correction_reason", "replacement_id"]
_HEADERS = (N_("hour"), N_("date"), N_("customer"), N_("lock_id"), N_("registered by"),
            N_("source"), N_("status"))


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
        return _("WITHDRAWN by {by}: {reason}").format(by=h.correction.by,
                                                      reason=h.correction.reason)
    if h.status == "corrected":
        return _("CORRECTED by {by} (now #{replacement}): {reason}").format(
            by=h.correction.by, replacement=h.correction.replacement_id, reason=h.correction.reason)
    return _("corrects #{hour_id}").format(hour_id=h.corrects) if h.corrects else _("current")


def do_register(args) -> None:
    with FleetStore() as store:
        hour = store.register_hours(args.provider, args.customer, args.date, args.person,
                                    lock_id=args.lock)
        month = hour.day.isoformat()[:7]  # "YYYY-MM" (strftime's %Y need not pad the year)
        same = [h for h in store.registered_hours(hour.provider, month)
                if h.customer_number == hour.customer_number]
    said = _("hour #{hour_id} \"Uppstart smarta lås\" registered for provider {provider}, "
             "customer {number}, {day}")
    if len(same) > 1:
        said = _("hour #{hour_id} \"Uppstart smarta lås\" registered for provider {provider}, "
                 "customer {number}, {day} (customer {number} now has {n} hours in {month}: one "
                 "per lock mounted)")
    emit(args, said.format(hour_id=hour.hour_id, provider=hour.provider,
                           number=hour.customer_number, day=hour.day, n=len(same), month=month),
         _hour_json(hour))


def do_import(args) -> None:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise CommandError(_("cannot read {path}: {reason}").format(
            path=path, reason=getattr(err, 'strerror', None) or err)) from err
    with FleetStore() as store:
        result = store.import_hours_csv(args.provider, text, args.person, source=path.name)
    emit(args, _("{file}: {lines} line(s) read, {added} hour(s) added, {already} already "
                 "registered").format(file=path.name, lines=result.lines,
                                      added=len(result.added), already=result.already_present),
         {"file": str(path), "lines": result.lines, "added": [_hour_json(h) for h in result.added],
          "already_present": result.already_present})


def do_list(args) -> None:
    with FleetStore() as store:
        hours = store.registered_hours(args.provider, args.month, include_all=args.all)
    current = sum(h.status == "current" for h in hours)
    if args.month:
        head = _("hours \"Uppstart smarta lås\" registered by {provider} in {month}: {n}")
    else:
        head = _("hours \"Uppstart smarta lås\" registered by {provider}: {n}")
    head = head.format(provider=args.provider, month=args.month, n=current)
    if args.all:
        head = _("{head} ({n} withdrawn or corrected, listed too)").format(
            head=head, n=len(hours) - current)
    rows = [_hour_json(h) for h in hours]
    body = formats.table([_(h) for h in _HEADERS], ([f"#{h.hour_id}", h.day, h.customer_number, h.lock_id,
                                     h.registered_by, h.source + (f" {h.source_ref}" if h.source_ref else ""),
                                     _status(h)] for h in hours))
    human = head + ("\n" + body if body else "")
    if args.csv:
        formats.write_csv(args.csv, _HOUR_FIELDS, rows, formats.csv_delimiter(args))
        human += "\n" + _("written: {path}").format(path=args.csv)
    emit(args, human, rows)


def do_withdraw(args) -> None:
    with FleetStore() as store:
        hour = store.withdraw_hour(args.hour_id, args.person, args.reason or "")
    emit(args, _("hour #{hour_id} (customer {number}, {day}) withdrawn by {by}: {reason}; it no "
                 "longer counts in the report").format(
        hour_id=hour.hour_id, number=hour.customer_number, day=hour.day, by=hour.correction.by,
        reason=hour.correction.reason),
         _hour_json(hour))


def do_correct(args) -> None:
    changes = {name: value for name, value in (("customer_number", args.customer),
                                               ("day", args.date), ("lock_id", args.lock))
               if value is not None}
    with FleetStore() as store:
        hour = store.correct_hour(args.hour_id, args.person, args.reason or "", **changes)
    said = (_("hour #{old} corrected by {by}: hour #{hour_id} (customer {number}, {day}, lock "
              "{lock_id}) replaces it") if hour.lock_id else
            _("hour #{old} corrected by {by}: hour #{hour_id} (customer {number}, {day}) replaces "
              "it"))
    emit(args, said.format(old=args.hour_id, by=args.person.strip(), hour_id=hour.hour_id,
                           number=hour.customer_number, day=hour.day, lock_id=hour.lock_id),
         _hour_json(hour))


def _hour_id(text: str) -> int:
    try:
        return int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(_("an hour is named by its number (e.g. 12 or #12), not "
                                           "{value!r}: hemlas compensation list --provider P "
                                           "--all lists them").format(value=text)) from None


def add_arguments(sub) -> None:
    """The `compensation` subcommands, for the CLI's parser."""
    register = sub.add_parser("register", help=_("enter one hour \"Uppstart smarta lås\" the "
                                                 "provider registered"))
    register.add_argument("--provider", required=True, help=_("the provider, as customers name it"))
    register.add_argument("--customer", required=True, help=_("the customer number"))
    register.add_argument("--date", required=True, help=_("the date it is registered for "
                                                          "(YYYY-MM-DD)"))
    register.add_argument("--lock", help=_("the lock it pays for, if the registration names one"))
    register.add_argument("--by", dest="person", required=True, metavar="PERSON",
                          help=_("who enters it"))
    register.set_defaults(handler=do_register)
    imp = sub.add_parser("import", help=_("import the provider's registered hours from CSV "
                                          "(columns customer, date[, lock, hours, provider]); "
                                          "all or nothing, again adds nothing"))
    imp.add_argument("file", help=_("the CSV file"))
    imp.add_argument("--provider", required=True, help=_("the provider, as customers name it"))
    imp.add_argument("--by", dest="person", required=True, metavar="PERSON",
                     help=_("who imports it"))
    imp.set_defaults(handler=do_import)
    listing = sub.add_parser("list", help=_("a provider's registered hours"))
    listing.add_argument("--provider", required=True, help=_("the provider, as customers name it"))
    listing.add_argument("--month", help=_("only this month (YYYY-MM)"))
    listing.add_argument("--all", action="store_true",
                         help=_("also the hours withdrawn or corrected, marked"))
    formats.add_csv_arguments(listing)
    listing.set_defaults(handler=do_list)
    withdraw = sub.add_parser("withdraw", help=_("withdraw an hour registered in error (kept, "
                                                 "marked, no longer counted)"))
    correct = sub.add_parser("correct", help=_("correct an hour: a new hour replaces it (the "
                                               "wrong one is kept, marked)"))
    for cmd in (withdraw, correct):
        cmd.add_argument("hour_id", type=_hour_id, metavar="HOUR_ID",
                         help=_("the hour's number (hemlas compensation list)"))
        cmd.add_argument("--by", dest="person", required=True, metavar="NAME",
                         help=_("who withdraws or corrects it"))
        cmd.add_argument("--reason", required=True, help=_("why (kept with the correction)"))
    correct.add_argument("--customer", help=_("the right customer number"))
    correct.add_argument("--date", help=_("the right date (YYYY-MM-DD)"))
    correct.add_argument("--lock", help=_("the right lock (\"\" for none)"))
    withdraw.set_defaults(handler=do_withdraw)
    correct.set_defaults(handler=do_correct)
    for cmd in (register, imp, listing, withdraw, correct):
        cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))


__all__ = ["add_arguments"]
