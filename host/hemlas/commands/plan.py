"""`hemlas plan ...` (planned visits and the keys that follow them) and `hemlas alarm ...`
(alarm access, trygghetslarm), from the store's own machine: the same domain functions as
the API (fleet/planned_visits.py, plan_keys.py, alarm_access.py), each change in the audit
log as done by the local user. docs/planning.md describes the file and the rules.
"""

from __future__ import annotations

import os
from dataclasses import asdict

from ..fleet import alarm_access, plan_csv, plan_keys, plan_listing, planned_visits
from ..fleet.accounts import get_account
from ..fleet.roles import local_caller
from ..fleet.store import FleetStore
from ..i18n import N_, Texts, _, ngettext, pgettext
from ..keyfile import KeyFile, StaffKey
from .formats import CSV_DELIMITERS, csv_delimiter, iso, iso_times, table, when, write_private
from .output import CommandError, emit

TEXT = Texts({
    "imported": N_("{source}: {rows} rows: {added} visits added, {moved} moved, {cancelled} "
                   "cancelled, {unchanged} already imported"),
    "unreadable": N_("cannot read {path}: {reason}"),
    "not_a_time": N_("{option}: {value!r} is not a time (write e.g. 2026-03-29T08:30, Swedish "
                     "time)"),
    "cancelled": N_("visit {visit_id} cancelled; {keys}"),
    "already": N_("visit {visit_id} was cancelled already: nothing changed"),
    "moved": N_("visit {visit_id} moved to {start} - {end}; {keys}"),
    "reissued": N_("visit {visit_id}: new keys at the carer's next fetch (blocked: {keys})"),
    "no_keys": N_("no key had been issued for it"),
    "keys_saved": N_("saved to {path}"),
    "blocked": N_("visit {visit_id}: key #{key_id} for {lock_id} was revoked outside the plan "
                  "(a lost phone?): hemlas plan reissue {visit_id} gives a new one"),
    "alarm": N_("alarm access {visit_id}: {n} key(s) for customer {number}'s door until {until}, "
                "logged as alarm access; saved to {path}"),
    "alarm_again": N_("alarm access {visit_id} was requested already: its key(s) until {until} "
                      "again; saved to {path}"),
    "written": N_("written: {path}"),
})


def _revoked(ids: list[int]) -> str:
    if not ids:
        return TEXT["no_keys"]
    return ngettext("key {ids} revoked: it reaches the lock at its next admin connection "
                    "(hemlas keys push LOCK)", "keys {ids} revoked: they reach the locks at "
                    "their next admin connection (hemlas keys push LOCK)",
                    len(ids)).format(ids=", ".join(f"#{i}" for i in ids))


def _time(option: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return plan_csv.parse_local_time(value.strip())
    except plan_csv.LocalTimeError:
        raise CommandError(TEXT["not_a_time"].format(option=option, value=value)) from None


def _read(path: str) -> bytes:
    """The file, refused before it is read whole when it is over the bound."""
    try:
        if os.path.getsize(path) > plan_csv.MAX_PLAN_BYTES:
            raise plan_csv.PlanFileTooLargeError()
        with open(path, "rb") as f:
            data = f.read(plan_csv.MAX_PLAN_BYTES + 1)
    except OSError as err:
        raise CommandError(TEXT["unreadable"].format(path=path, reason=err.strerror or err)) from err
    return data


def _visit_json(record) -> dict:
    return iso_times(asdict(record), "planned_start", "planned_end", "created_at", "changed_at")


def _write_csv(args, content: str, human: str) -> str:
    if not getattr(args, "csv", None):
        return human
    write_private(args.csv, content)
    return human + "\n" + TEXT["written"].format(path=args.csv)


def do_plan_import(args) -> None:
    data = _read(args.file)
    source = os.path.basename(args.file)
    with FleetStore() as store, store.unit_of_work() as uow:
        result = planned_visits.import_plan(uow, local_caller(), data, provider=args.provider,
                                            source=source)
    human = TEXT["imported"].format(source=source, **asdict(result))
    if result.revoked_key_ids:
        human += "; " + _revoked(list(result.revoked_key_ids))
    emit(args, human, asdict(result))


def do_plan_list(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        records = plan_listing.visits(uow, local_caller(), provider=args.provider,
                                        customer=args.customer, carer=args.carer,
                                        since=_time("--from", args.since),
                                        until=_time("--to", args.until))
        content = plan_listing.as_csv(records, csv_delimiter(args))
    human = table([_("visit"), _("customer"), _("carer"), _("start"), _("end"), _("kind"),
                   _("status"), _("keys")],
                  [[r.visit_id, r.customer_number, r.carer_login, when(r.planned_start),
                    when(r.planned_end), r.kind, r.status, " ".join(map(str, r.key_ids))]
                   for r in records], empty=_("no planned visits"))
    emit(args, _write_csv(args, content, human), [_visit_json(r) for r in records])


def do_plan_cancel(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        record, revoked, already = planned_visits.cancel_visit(uow, local_caller(), args.visit)
    human = (TEXT["already"] if already else TEXT["cancelled"]).format(
        visit_id=record.visit_id, keys=_revoked(revoked))
    emit(args, human, {**_visit_json(record), "revoked_key_ids": revoked, "already": already})


def do_plan_move(args) -> None:
    start, end = _time("--start", args.start), _time("--end", args.end)
    with FleetStore() as store, store.unit_of_work() as uow:
        record, revoked = planned_visits.move_visit(uow, local_caller(), args.visit, start, end)
    emit(args, TEXT["moved"].format(visit_id=record.visit_id, start=when(start), end=when(end),
                                    keys=_revoked(revoked)),
         {**_visit_json(record), "revoked_key_ids": revoked})


def do_plan_reissue(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        ended = planned_visits.reissue(uow, local_caller(), args.visit)
    emit(args, TEXT["reissued"].format(visit_id=args.visit, keys=", ".join(f"#{i}" for i in ended) or "-"),
         {"visit_id": args.visit, "replaced_key_ids": ended})


def do_plan_keys(args) -> None:
    """The carer's keys by the plan, into this machine's key file (a phone fetches them from
    the service instead)."""
    with FleetStore() as store, store.unit_of_work() as uow:
        account = get_account(uow, args.carer)
        found = plan_keys.keys_for_carer(uow, account, horizon=int(args.horizon_hours * 3600),
                                         caller=local_caller())
    keyfile = KeyFile(args.key_file)
    for answer in found.keys:
        keyfile.add(StaffKey.from_issued(answer.issued))
    lines = [table([_("visit"), _("customer"), pgettext("column", "lock"), _("key"), _("valid from"),
                    _("valid until"), _("alarm")],
                   [[a.visit_id, a.customer_number, a.issued.record.lock_id, a.issued.record.key_id,
                     when(a.issued.record.not_before), when(a.issued.record.not_after),
                     _("yes") if a.alarm else ""] for a in found.keys],
                   empty=_("no planned visit in the horizon"))]
    lines += [TEXT["blocked"].format(**asdict(b)) for b in found.blocked]
    if found.keys:
        lines.append(TEXT["keys_saved"].format(path=keyfile.path))
    emit(args, "\n".join(lines), {
        "keys": [{"visit_id": a.visit_id, "customer_number": a.customer_number, "alarm": a.alarm,
                  "key_id": a.issued.record.key_id, "lock_id": a.issued.record.lock_id,
                  "not_before": iso(a.issued.record.not_before),
                  "not_after": iso(a.issued.record.not_after)} for a in found.keys],
        "blocked": [asdict(b) for b in found.blocked], "key_file": str(keyfile.path)})


def do_alarm_request(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        access = alarm_access.request_alarm_key(uow, local_caller(), args.customer, args.reason,
                                                carer_login=args.carer, minutes=args.minutes)
    keyfile = KeyFile(args.key_file)
    for issued in access.keys:
        keyfile.add(StaffKey.from_issued(issued))
    visit = access.visit
    human = (TEXT["alarm_again"] if access.again else TEXT["alarm"]).format(
        visit_id=visit.visit_id, n=len(access.keys), number=visit.customer_number,
        until=when(visit.planned_end), path=keyfile.path)
    emit(args, human, {**_visit_json(visit), "again": access.again, "key_file": str(keyfile.path)})


def do_alarm_list(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        records = alarm_access.alarm_accesses(uow, local_caller(), provider=args.provider,
                                              since=_time("--from", args.since),
                                              until=_time("--to", args.until))
        content = alarm_access.report_csv(uow, records, csv_delimiter(args))
    human = table([_("access"), _("provider"), _("from"), _("until"), _("carer"), _("customer"),
                   _("reason"), _("keys")],
                  [[r.visit_id, r.provider, when(r.planned_start), when(r.planned_end),
                    r.carer_login, r.customer_number, r.reason, " ".join(map(str, r.key_ids))]
                   for r in records], empty=_("no alarm accesses"))
    emit(args, _write_csv(args, content, human), [_visit_json(r) for r in records])


def _listing_args(cmd) -> None:
    cmd.add_argument("--provider", help=_("only this provider's"))
    cmd.add_argument("--from", dest="since", help=_("from this time (ISO, Swedish time)"))
    cmd.add_argument("--to", dest="until", help=_("before this time (ISO, Swedish time)"))
    cmd.add_argument("--csv", metavar="FILE", help=_("also write the listing as CSV (UTF-8, "
                                                     "opens in Excel; formulas written as text)"))
    cmd.add_argument("--csv-delimiter", choices=sorted(CSV_DELIMITERS), default="comma",
                     help=_("the CSV field separator: semicolon for a spreadsheet set to Swedish"))


def add_plan_arguments(sub) -> None:
    imp = sub.add_parser("import", help=_("import planned visits from the planning system's CSV "
                                          "(docs/planning.md): all rows or none"))
    imp.add_argument("file")
    imp.add_argument("--provider", required=True, help=_("whose plan it is"))
    imp.set_defaults(handler=do_plan_import)
    listing = sub.add_parser("list", help=_("planned visits and alarm accesses, with their keys"))
    _listing_args(listing)
    listing.add_argument("--customer", help=_("only this customer's"))
    listing.add_argument("--carer", help=_("only this carer's (login)"))
    listing.set_defaults(handler=do_plan_list)
    cancel = sub.add_parser("cancel", help=_("cancel a planned visit: its keys are revoked"))
    cancel.add_argument("visit")
    cancel.set_defaults(handler=do_plan_cancel)
    move = sub.add_parser("move", help=_("move a planned visit: its keys are revoked, new ones "
                                         "follow at the carer's next fetch"))
    move.add_argument("visit")
    move.add_argument("--start", required=True, help=_("the new start (ISO, Swedish time)"))
    move.add_argument("--end", required=True, help=_("the new end (ISO, Swedish time)"))
    move.set_defaults(handler=do_plan_move)
    reissue = sub.add_parser("reissue", help=_("new keys for a visit whose key was revoked "
                                               "outside the plan (a lost phone)"))
    reissue.add_argument("visit")
    reissue.set_defaults(handler=do_plan_reissue)
    keys = sub.add_parser("keys", help=_("a carer's keys for their planned visits, into the key "
                                         "file here"))
    keys.add_argument("--carer", required=True, help=_("the carer's login"))
    keys.add_argument("--horizon-hours", type=float, default=plan_keys.DEFAULT_HORIZON_S / 3600,
                      help=_("visits starting within this many hours (default 24, at most 48)"))
    keys.add_argument("--key-file", help=_("where the keys go (default: the user's key file)"))
    keys.set_defaults(handler=do_plan_keys)
    for cmd in (imp, listing, cancel, move, reissue, keys):
        cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))


def add_alarm_arguments(sub) -> None:
    request = sub.add_parser("request", help=_("a short-lived key to a customer's door for a "
                                               "carer answering a safety alarm; logged"))
    request.add_argument("customer")
    request.add_argument("--carer", required=True, help=_("the carer's login"))
    request.add_argument("--reason", required=True, help=_("why: the alarm and its time"))
    request.add_argument("--minutes", type=int, default=alarm_access.DEFAULT_MINUTES,
                         help=_("how long the key lasts (5 to 60, default 30)"))
    request.add_argument("--key-file", help=_("where the key goes (default: the user's key file)"))
    request.set_defaults(handler=do_alarm_request)
    listing = sub.add_parser("list", help=_("the alarm accesses, for the coordinators"))
    _listing_args(listing)
    listing.set_defaults(handler=do_alarm_list)
    for cmd in (request, listing):
        cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))
