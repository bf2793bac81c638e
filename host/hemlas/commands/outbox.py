"""`hemlas outbox [send]`: what this device's connections learnt that the fleet service has not
got yet, and sending it (refused ones tried again too)."""

from __future__ import annotations

from ..field.outbox import REFUSED, Outbox, default_path
from ..field.session import FieldSession
from ..i18n import N_, Texts, _, pgettext
from .formats import iso, table, when
from .output import CommandError, emit

KIND_TEXT = Texts({"log-page": N_("event log"), "battery-reading": N_("battery reading"),
                   "swap": N_("battery swap")})
STATE_TEXT = Texts({"pending": N_("waiting"), "refused": N_("refused")})


def _rows(outbox: Outbox) -> list[dict]:
    return [{"upload_id": u.upload_id, "lock_id": u.lock_id, "kind": u.kind, "state": u.state,
             "created_at": iso(u.created_at), "attempts": u.attempts, "last_error": u.last_error}
            for u in outbox.uploads()]


def do_outbox(args) -> None:
    if args.action == "send":
        return _send(args)
    if not default_path().exists():  # nothing ever queued here: no file made to say so
        uploads, data = [], []
    else:
        with Outbox() as outbox:
            uploads, data = outbox.uploads(), _rows(outbox)
    rows = [(u.seq, u.upload_id[:8], u.lock_id, _(KIND_TEXT.get(u.kind, u.kind)),
             when(u.created_at), _(STATE_TEXT.get(u.state, u.state)), u.attempts,
             u.last_error or "") for u in uploads]
    human = table((_("#"), _("upload"), pgettext("column", "lock"), _("what"), _("when"), _("state"),
                   _("tries"), _("last answer")), rows, empty=_("the outbox is empty"))
    emit(args, human, data)


def _send(args) -> None:
    field = FieldSession.active()
    if field is None:
        raise CommandError(_("not logged in to the fleet service: hemlas login URL (the outbox "
                             "keeps what waits)"))
    try:
        sent = field.send(include_refused=True)
        rows = _rows(field.outbox)
    finally:
        field.close()
    refused = sum(1 for r in rows if r["state"] == REFUSED)
    line = _("{sent} upload(s) sent; {waiting} waiting, {refused} of them refused").format(
        sent=sent.sent, waiting=sent.waiting, refused=refused)
    data = {"sent": sent.sent, "waiting": sent.waiting, "refused": refused, "uploads": rows,
            "stopped": None if sent.stopped is None else str(sent.stopped)}
    if sent.stopped is not None:
        emit(args, line, data)
        raise CommandError(str(sent.stopped), answered=True)
    emit(args, line, data)


def add_arguments(cmd) -> None:
    cmd.add_argument("action", nargs="?", choices=("show", "send"), default="show",
                     help=_("show (the default): what waits; send: send it now"))
