"""`hemlas visits CUSTOMER --from ... --to ...` and `hemlas visits register-manual CUSTOMER ...`.

Visits come from the locks' own logs, synced at every connection (docs/visits.md); manual
visits, registered when a lock failed, are marked as such in every listing.
"""

from __future__ import annotations

import time
from datetime import datetime

from ..fleet.store import FleetStore
from ..fleet.visits import MANUAL, Visit
from .fleet import emit_listing
from .keys import parse_time
from .output import CommandError, emit

_DAY = 86400
_CSV_COLUMNS = ["customer_number", "person", "in", "out", "source", "lock_id", "key_id", "note"]


def add_arguments(cmd) -> None:
    cmd.add_argument("words", nargs="+", metavar="CUSTOMER | register-manual CUSTOMER",
                     help="list a customer's visits, or register one by hand (the lock failed)")
    cmd.add_argument("--from", dest="start", help="list from this time (ISO; default: 7 days ago)")
    cmd.add_argument("--to", dest="end", help="list up to this time (ISO; default: now)")
    cmd.add_argument("--csv", metavar="FILE", help="also write the listing as CSV")
    cmd.add_argument("--at", help="register-manual: when the visit began (ISO time)")
    cmd.add_argument("--out", dest="out_at", help="register-manual: when it ended (ISO time)")
    cmd.add_argument("--note", help="register-manual: why the visit is registered by hand (required)")
    cmd.add_argument("--by", dest="person", help="register-manual: who made the visit")


def do_visits(args) -> None:
    if args.words[0] == "register-manual":
        _register_manual(args)
    elif len(args.words) == 1:
        _list(args)
    else:
        raise CommandError("usage: hemlas visits CUSTOMER [--from T] [--to T] | "
                           "hemlas visits register-manual CUSTOMER --at T --by PERSON --note \"...\"")


def _list(args) -> None:
    if args.at or args.note or args.person or args.out_at:
        raise CommandError("--at, --out, --note and --by are for `hemlas visits register-manual`")
    now = int(time.time())
    end = parse_time(args.end, now + 1)  # up to and including this second
    start = parse_time(args.start, end - 7 * _DAY)
    if start >= end:
        raise CommandError("--from must be before --to")
    with FleetStore() as store:
        visits = store.visits(args.words[0], start, end)
    rows = [_row(v) for v in visits]
    lines = [f"visits of customer {args.words[0]}, {_when(start)} to {_when(end)}: {len(rows)}"]
    for v, row in zip(visits, rows):
        where = f"MANUAL, note: {v.note}" if v.source == MANUAL else f"lock {v.lock_id}, key #{v.key_id}"
        lines.append(f"  {_when(v.in_at) if v.in_at else '?':16}  {_when(v.out_at):16}  {v.person[:24]:24}  {where}")
    emit_listing(args, "\n".join(lines), rows, _CSV_COLUMNS)  # CSV owner-only: it names customers


def _register_manual(args) -> None:
    if args.start or args.end or args.csv:
        raise CommandError("--from, --to and --csv are for listing visits: hemlas visits CUSTOMER ...")
    if len(args.words) != 2:
        raise CommandError("usage: hemlas visits register-manual CUSTOMER --at T --by PERSON --note \"...\"")
    if not args.at or not args.person:
        raise CommandError("a manual visit needs --at (when) and --by (who), and a --note saying why")
    at = parse_time(args.at, 0)
    out_at = parse_time(args.out_at, 0) if args.out_at else None
    with FleetStore() as store:
        visit = store.register_manual_visit(args.words[1], args.person, at, args.note or "", out_at)
    emit(args, f"manual visit #{visit.visit_id} registered for customer {visit.customer_number}: "
               f"{visit.person}, {_when(visit.in_at)}; note: {visit.note}", _row(visit))


def _row(v: Visit) -> dict:
    return {"customer_number": v.customer_number, "person": v.person, "in": _iso(v.in_at),
            "out": _iso(v.out_at), "source": v.source, "lock_id": v.lock_id, "key_id": v.key_id,
            "note": v.note}


def _iso(t: int | None) -> str | None:
    """Local time with its UTC offset: unambiguous across the autumn clock change."""
    return None if t is None else datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def _when(t: int | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


__all__ = ["add_arguments", "do_visits"]
