"""`hemlas visits CUSTOMER --from ... --to ...`, `hemlas visits register-manual CUSTOMER ...`,
`hemlas visits correct VISIT_ID ...` and `hemlas visits withdraw VISIT_ID ...`.

Visits come from the locks' own logs, synced at every connection (docs/visits.md); manual
visits, registered when a lock failed, are marked as such in every listing, and are corrected
or withdrawn only by a correction record (who, when, why).
"""

from __future__ import annotations

import time

from ..fleet.store import FleetStore
from ..fleet.visit_pairing import CORRECTED, WITHDRAWN
from ..fleet.visits import MANUAL, Visit
from ..i18n import N_, Texts, _
from . import formats
from .keys import parse_time
from .output import CommandError, emit

_DAY = 86400
_CSV_COLUMNS = ["customer_number", "person", "in", "out", "at", "kind", "battery_swap", "source",
                "lock_id", "key_id", "visit_id", "corrects", "status", "note", "corrected_by",
                "corrected_at", "correction_reason", "replacement_id"]
_HEADERS = (N_("in"), N_("out"), N_("person"), N_("kind"), N_("record"), N_("note"))
_USAGE = N_("usage: hemlas visits CUSTOMER [--from T] [--to T] [--all] | "
            "hemlas visits register-manual CUSTOMER --at T --by PERSON --note \"...\" | "
            "hemlas visits correct VISIT_ID --by NAME --reason \"...\" [--at T] [--out T] "
            "[--note \"...\"] [--person PERSON] | "
            "hemlas visits withdraw VISIT_ID --by NAME --reason \"...\"")
# A manual visit's state as a person reads it (--json and --csv keep the stored value).
_STATUS = Texts({WITHDRAWN: N_("WITHDRAWN"), CORRECTED: N_("CORRECTED")})


def add_arguments(cmd) -> None:
    cmd.add_argument("words", nargs="+",
                     metavar="CUSTOMER | register-manual CUSTOMER | correct VISIT_ID | withdraw VISIT_ID",
                     help=_("list a customer's visits; register one by hand (the lock failed); "
                            "correct or withdraw a manual visit"))
    cmd.add_argument("--from", dest="start", help=_("list from this time (ISO; default: 7 days ago)"))
    cmd.add_argument("--to", dest="end", help=_("list up to this time (ISO; default: now)"))
    cmd.add_argument("--all", action="store_true",
                     help=_("list also manual visits withdrawn or corrected, marked"))
    formats.add_csv_arguments(cmd)
    cmd.add_argument("--at", help=_("register-manual, correct: when the visit began (ISO time)"))
    cmd.add_argument("--out", dest="out_at",
                     help=_("register-manual, correct: when it ended (ISO time)"))
    cmd.add_argument("--note", help=_("register-manual: why the visit is registered by hand "
                                      "(required); correct: the right note"))
    cmd.add_argument("--by", dest="person", help=_("register-manual: who made the visit; "
                                                   "correct, withdraw: who corrects it"))
    cmd.add_argument("--person", dest="new_person", help=_("correct: who made the visit"))
    cmd.add_argument("--reason", help=_("correct, withdraw: why (kept with the correction)"))


def do_visits(args) -> None:
    action = args.words[0]
    if action == "register-manual":
        _register_manual(args)
    elif action in ("correct", "withdraw"):
        _correct(args, action)
    elif len(args.words) == 1:
        _list(args)
    else:
        raise CommandError(_(_USAGE))


def _list(args) -> None:
    if args.at or args.note or args.person or args.out_at or args.reason or args.new_person:
        raise CommandError(_("--at, --out, --note, --by, --person and --reason are for "
                             "registering or correcting a visit: hemlas visits "
                             "register-manual|correct ..."))
    now = int(time.time())
    end = parse_time(args.end, now + 1)  # up to and including this second
    start = parse_time(args.start, end - 7 * _DAY)
    if start >= end:
        raise CommandError(_("--from must be before --to"))
    with FleetStore() as store:
        visits = store.visits(args.words[0], start, end, include_all=args.all)
    rows = [_row(v) for v in visits]
    human = _("visits of customer {number}, {start} to {end}: {n}").format(
        number=args.words[0], start=formats.when(start), end=formats.when(end),
        n=sum(v.status == 'current' for v in visits))
    body = formats.table([_(h) for h in _HEADERS], ([_in(v), formats.when(v.out_at), v.person, _kind(v), _record(v),
                                     v.note] for v in visits))
    human += "\n" + body if body else ""
    if args.csv:  # owner-only: it names customers
        formats.write_csv(args.csv, _CSV_COLUMNS, rows, formats.csv_delimiter(args))
        human += "\n" + _("written: {path}").format(path=args.csv)
    emit(args, human, rows)


def _register_manual(args) -> None:
    _only_for_listing(args)
    if args.reason or args.new_person:
        raise CommandError(_("--reason and --person are for correcting a visit: register-manual "
                             "takes --by (who made the visit)"))
    if len(args.words) != 2:
        raise CommandError(_("usage: hemlas visits register-manual CUSTOMER --at T --by PERSON "
                             "--note \"...\""))
    if not args.at or not args.person:
        raise CommandError(_("a manual visit needs --at (when) and --by (who), and a --note "
                             "saying why"))
    at = parse_time(args.at, 0)
    out_at = parse_time(args.out_at, 0) if args.out_at else None
    with FleetStore() as store:
        visit = store.register_manual_visit(args.words[1], args.person, at, args.note or "", out_at)
    emit(args, _("manual visit #{visit_id} registered for customer {number}: {person}, {at}; "
                 "note: {note}").format(visit_id=visit.visit_id, number=visit.customer_number,
                                        person=visit.person, at=formats.when(visit.in_at),
                                        note=visit.note), _row(visit))


def _correct(args, action: str) -> None:
    _only_for_listing(args)
    if len(args.words) != 2:
        raise CommandError(_(_USAGE))
    try:
        visit_id = int(args.words[1].lstrip("#"))
    except ValueError:
        raise CommandError(_("a manual visit is named by its number (e.g. 12 or #12), not "
                             "{value!r}: hemlas visits CUSTOMER --all lists them")
                           .format(value=args.words[1])) from None
    if not args.person:
        raise CommandError(_("hemlas visits withdraw needs --by (who withdraws it) and --reason")
                           if action == "withdraw" else
                           _("hemlas visits correct needs --by (who corrects it) and --reason"))
    with FleetStore() as store:
        if action == "withdraw":
            if args.at or args.out_at or args.note or args.new_person:
                raise CommandError(_("a withdrawal takes only --by and --reason: to change the "
                                     "visit's values, hemlas visits correct"))
            visit = store.withdraw_manual_visit(visit_id, args.person, args.reason or "")
            emit(args, _("manual visit #{visit_id} withdrawn by {by}: {reason}; it is kept, "
                         "listed with --all").format(visit_id=visit_id, by=visit.correction.by,
                                                     reason=visit.correction.reason), _row(visit))
            return
        changes = {name: value for name, value in (
            ("at", parse_time(args.at, 0) if args.at else None),
            ("out_at", parse_time(args.out_at, 0) if args.out_at else None),
            ("note", args.note), ("person", args.new_person)) if value is not None}
        visit = store.correct_manual_visit(visit_id, args.person, args.reason or "", **changes)
    emit(args, _("manual visit #{visit_id} corrected by {by}: manual visit #{replacement} "
                 "replaces it ({person}, {start} to {end}; note: {note})").format(
        visit_id=visit_id, by=args.person.strip(), replacement=visit.visit_id,
        person=visit.person, start=formats.when(visit.in_at), end=formats.when(visit.out_at),
        note=visit.note), _row(visit))


def _only_for_listing(args) -> None:
    if args.start or args.end or args.csv or args.all:
        raise CommandError(_("--from, --to, --all and --csv are for listing visits: hemlas "
                             "visits CUSTOMER ..."))


def _in(v: Visit) -> str:
    """The visit's "in"; if it did not begin with an unlock, "?" and when its first event was."""
    if v.in_at is not None:
        return formats.when(v.in_at)
    return _("? (first event {at})").format(at=formats.when(v.at))


def _kind(v: Visit) -> str:
    if v.source == MANUAL:
        if v.status in _STATUS:
            return _("MANUAL, {status}").format(status=_STATUS[v.status])
        return _("MANUAL")
    return _("BATTERY SWAP") if v.battery_swap else _("visit")


def _record(v: Visit) -> str:
    if v.source != MANUAL:
        return _("lock {lock_id}, key #{key_id}").format(lock_id=v.lock_id, key_id=v.key_id)
    text = (_("manual #{visit_id}, corrects #{corrects}") if v.corrects
            else _("manual #{visit_id}")).format(visit_id=v.visit_id, corrects=v.corrects)
    c = v.correction
    if c is None:
        return text
    if c.action == "withdraw":
        done = _("{record}, withdrawn by {by} {at}: {reason}")
    else:
        done = _("{record}, replaced by #{replacement} by {by} {at}: {reason}")
    return done.format(record=text, replacement=c.replacement_id, by=c.by,
                       at=formats.when(c.recorded_at), reason=c.reason)


def _row(v: Visit) -> dict:
    c = v.correction
    return {"customer_number": v.customer_number, "person": v.person, "in": formats.iso(v.in_at),
            "out": formats.iso(v.out_at), "at": formats.iso(v.at), "kind": v.kind,
            "battery_swap": v.battery_swap, "source": v.source, "lock_id": v.lock_id,
            "key_id": v.key_id, "visit_id": v.visit_id, "corrects": v.corrects, "status": v.status,
            "note": v.note, "corrected_by": c and c.by, "corrected_at": c and formats.iso(c.recorded_at),
            "correction_reason": c and c.reason, "replacement_id": c and c.replacement_id}


__all__ = ["add_arguments", "do_visits"]
