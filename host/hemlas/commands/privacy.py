"""`hemlas privacy retain|export|erase|runs`: data protection from the store's own machine,
through the same domain functions as the API (fleet/retention.py, subject_access.py,
erasure.py), each recorded in the audit log as done by the local user. docs/privacy.md.

`hemlas privacy retain` is what a cron job or systemd timer runs on a store `hemlas serve`
does not serve (the service runs it daily itself); two at once take turns.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from ..fleet import erasure, retention, subject_access
from ..fleet.audit import iso
from ..fleet.roles import local_caller
from ..fleet.store import FleetStore
from ..fleet.subject_access_text import as_text
from ..i18n import N_, Texts, _
from .formats import table
from .output import CommandError, emit

TEXT = Texts({
    "confirm": N_("erase customer {number}'s personal data? This cannot be undone. Type the "
                  "customer number again to confirm: "),
    "not_confirmed": N_("not confirmed: nothing was erased"),
    "erased": N_("customer {number} erased: name, address, NFC tag ids and notes are gone; "
                 "{records} records keep their dates under a pseudonym for the compensation "
                 "basis and the locks' history"),
    "written": N_("the export of customer {number} is in {path} (owner-only: it holds "
                  "personal data)"),
    "unwritable": N_("cannot write {path}: {reason}; nothing was exported"),
})


def do_retain(args) -> None:
    with FleetStore() as store:
        outcome = retention.run(store, local_caller())
    rows = [[kind.name, outcome.removed[kind.name], iso(outcome.cutoffs[kind.name]),
             retention.KIND_TEXT[kind.name]] for kind in retention.KINDS]
    emit(args, table([_("kind"), _("removed"), _("older than"), _("what it is")], rows),
         {"removed": outcome.removed, "cutoffs": {k: iso(v) for k, v in outcome.cutoffs.items()},
          "compensation_open_since": iso(outcome.open_start), "at": iso(outcome.at)})


def do_runs(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        found = retention.runs(uow, local_caller(), args.limit)
    emit(args, table([_("when"), _("by"), _("what")], [[iso(r.at), r.actor, r.target] for r in found],
                     empty=_("no retention run yet")),
         [{"at": iso(r.at), "actor": r.actor, "target": r.target} for r in found])


def do_export(args) -> None:
    with FleetStore() as store:
        document = subject_access.export(store, local_caller(), args.customer)
    body = as_text(document) if args.text else json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.output is None:
        print(body, end="")
        return
    try:  # owner-only from the start: it names a home-care customer
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
    except OSError as err:
        raise CommandError(TEXT["unwritable"].format(path=args.output,
                                                     reason=err.strerror or err)) from err
    print(TEXT["written"].format(number=args.customer, path=args.output))


def do_erase(args) -> None:
    if not args.yes and input(TEXT["confirm"].format(number=args.customer)).strip() != args.customer.strip():
        raise CommandError(TEXT["not_confirmed"])
    with FleetStore() as store, store.unit_of_work() as uow:
        done = erasure.erase(uow, local_caller(), args.customer)
    emit(args, TEXT["erased"].format(number=done.customer_number, records=sum(done.records.values())),
         {**asdict(done), "at": iso(done.at)})


def add_arguments(sub) -> None:
    retain = sub.add_parser("retain", help=_("remove the records older than their retention "
                                             "period (docs/privacy.md); for a daily timer"))
    retain.set_defaults(handler=do_retain)
    runs = sub.add_parser("runs", help=_("what the retention runs removed, newest first"))
    runs.add_argument("--limit", type=int, default=50)
    runs.set_defaults(handler=do_runs)
    export = sub.add_parser("export", help=_("everything stored about a customer (an access "
                                             "request, GDPR art. 15), as JSON"))
    export.add_argument("customer", help=_("the customer number"))
    export.add_argument("--text", action="store_true", help=_("as text a person reads"))
    export.add_argument("--output", metavar="FILE", help=_("write it to FILE (owner-only)"))
    export.set_defaults(handler=do_export)
    erase = sub.add_parser("erase", help=_("erase a customer's personal data at the end of care "
                                           "(what compensation needs stays, pseudonymised)"))
    erase.add_argument("customer", help=_("the customer number"))
    erase.add_argument("--yes", action="store_true", help=_("do not ask to confirm"))
    erase.set_defaults(handler=do_erase)
    for cmd in (retain, runs, erase):
        cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))
