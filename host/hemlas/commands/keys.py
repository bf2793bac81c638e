"""Staff keys: issue, list, revoke (and push revocations to the lock)."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

from ..client import LockClient, wire_role_name
from ..errors import HemlasError, LockError
from ..firmware import wire
from ..fleet.store import FleetStore
from ..i18n import N_, Texts, _
from ..keyfile import KeyFile, StaffKey
from .formats import iso, table, when
from .output import CommandError, emit

ROLES = {"staff": wire.ROLE_STAFF, "technician": wire.ROLE_TECHNICIAN, "admin": wire.ROLE_ADMIN}
# A key's state as a person reads it (KeyRecord.state's words; --json keeps them).
_KEY_STATE = Texts({"superseded": N_("superseded"), "revoked": N_("revoked"),
                    "expired": N_("expired"), "not yet valid": N_("not yet valid"),
                    "valid": N_("valid")})


def parse_time(text: str | None, default: int) -> int:
    """ISO 8601 ("2026-11-25T08:00", local time unless it says otherwise), or "now"."""
    if text is None:
        return default
    if text == "now":
        return int(time.time())
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError as err:
        raise CommandError(_("not a time: {value!r} (use e.g. 2026-11-25T08:00)")
                           .format(value=text)) from err


def do_keys_issue(args) -> None:
    now = int(time.time())
    not_before = parse_time(args.valid_from, now)
    not_after = parse_time(args.until, not_before + 8 * 3600)
    if not_after <= now:
        raise CommandError(_("--until is in the past: that key would never open anything"))
    with FleetStore() as store:
        try:
            concern = store.key_issue_concern(args.lock)
            # A dismantled lock's keys were revoked on purpose: a new one is refused unless
            # asked for. A lock in stock is normal at the bench (and in `hemlas sim`): said.
            if concern is not None and concern.status == "dismantled" and not args.force:
                raise CommandError(_("{concern}; no key issued (give --force to issue one "
                                     "anyway, e.g. for bench work)").format(concern=concern.message))
            issued = store.issue_key(args.lock, args.person, ROLES[args.role], not_before, not_after)
        except HemlasError as err:
            if isinstance(err, CommandError):
                raise
            raise CommandError(str(err)) from err
    keyfile = KeyFile(args.key_file)
    keyfile.add(StaffKey.from_issued(issued))
    record = issued.record
    warning = None if concern is None else _("{concern}; issued as asked").format(
        concern=concern.message)
    if warning:
        print(_("hemlas: warning: {warning}").format(warning=warning), file=sys.stderr)
    emit(args, _("key {key_id} for {person} ({role}) on {lock_id}, valid {start} to {end}; saved "
                 "to {path}").format(key_id=record.key_id, person=record.person, role=args.role,
                                     lock_id=record.lock_id, start=when(record.not_before),
                                     end=when(record.not_after), path=keyfile.path),
         {"key_id": record.key_id, "lock_id": record.lock_id, "person": record.person, "role": args.role,
          "not_before": iso(record.not_before), "not_after": iso(record.not_after),
          "key_file": str(keyfile.path), "lock_status": None if concern is None else concern.status,
          "warning": warning})


def do_keys_list(args) -> None:
    now = int(time.time())
    with FleetStore() as store:
        try:
            records = store.keys(args.lock)
        except HemlasError as err:
            raise CommandError(str(err)) from err
    rows = [{"key_id": r.key_id, "lock_id": r.lock_id, "person": r.person, "role": wire_role_name(r.role),
             "not_before": iso(r.not_before), "not_after": iso(r.not_after), "state": r.state(now),
             "superseded": r.superseded, "revoked_at": iso(r.revoked_at),
             "pushed": r.revocation_pushed_at is not None,
             "revocation_pushed_at": iso(r.revocation_pushed_at)} for r in records]

    def state(r) -> str:
        if r.revoked_at is not None and not r.superseded and r.revocation_pushed_at is None:
            return _("{state} (not yet on the lock)").format(state=_KEY_STATE.get(r.state(now)))
        return _KEY_STATE.get(r.state(now))

    human = table((_("KEY"), _("LOCK"), _("PERSON"), _("ROLE"), _("VALID FROM"), _("VALID UNTIL"),
                   _("STATE")),
                  [(r.key_id, r.lock_id, r.person, wire_role_name(r.role), when(r.not_before),
                    when(r.not_after), state(r)) for r in records], empty=_("no keys"))
    emit(args, human, rows)


def push_revocations(store: FleetStore, lock_id: str) -> list[int]:
    """Push every pending revocation for the lock with a short-lived host admin key."""
    pending = store.pending_revocations(lock_id)
    if not pending:
        return []
    admin = StaffKey.from_issued(store.admin_key(lock_id))

    async def push():
        async with LockClient(lock_id, key=admin) as lock:
            for record in pending:
                await lock.revoke(record.key_id, record.not_after)
                store.mark_revocation_pushed(record.key_id)

    try:
        asyncio.run(push())
    except LockError as err:
        raise CommandError(_("revocation recorded, but not yet on the lock: {error}")
                           .format(error=err)) from err
    return [record.key_id for record in pending]


def do_keys_revoke(args) -> None:
    with FleetStore() as store:
        try:
            record, already = store.revoke_key_again(args.key)
        except HemlasError as err:
            raise CommandError(str(err)) from err
        KeyFile(args.key_file).remove(args.key)
        pushed = push_revocations(store, record.lock_id) if args.now else []
        if args.key in pushed:
            record = store.key(args.key)
    on_lock = record.revocation_pushed_at is not None
    if already:
        where = (_("on the lock since {at}").format(at=when(record.revocation_pushed_at))
                 if on_lock else _("not yet on the lock: hemlas keys push {lock_id}")
                 .format(lock_id=record.lock_id))
        said = _("key {key_id} was already revoked ({at}); {where}").format(
            key_id=args.key, at=when(record.revoked_at), where=where)
    else:
        where = (_("on the lock now") if on_lock
                 else _("pushed at the next admin connection (--now to push)"))
        said = _("key {key_id} revoked; {where}").format(key_id=args.key, where=where)
    emit(args, said, {"key_id": args.key, "lock_id": record.lock_id, "already_revoked": already,
                      "revoked_at": iso(record.revoked_at), "pushed": on_lock,
                      "revocation_pushed_at": iso(record.revocation_pushed_at)})


def do_keys_push(args) -> None:
    with FleetStore() as store:
        pushed = push_revocations(store, args.lock)
    emit(args, _("{n} revocation(s) pushed to {lock_id}").format(n=len(pushed), lock_id=args.lock),
         {"lock_id": args.lock, "pushed": pushed})


def add_arguments(sub) -> None:
    """The `keys` subcommands, for the CLI's parser."""
    issue = sub.add_parser("issue", help=_("issue a key for one person, one lock, a time window"))
    issue.add_argument("lock", help=_("the lock's id, as it advertises it (e.g. HL-1A2B3C)"))
    issue.add_argument("--person", required=True, help=_("who the key is for"))
    issue.add_argument("--role", choices=ROLES, default="staff",
                       help=_("the key's role on the lock (default: staff)"))
    issue.add_argument("--from", dest="valid_from", help=_("start (ISO time; default now)"))
    issue.add_argument("--until", help=_("end (ISO time; default 8 hours after the start)"))
    issue.add_argument("--key-file", help=_("where the key goes (default: the user's key file)"))
    issue.add_argument("--force", action="store_true",
                       help=_("issue even for a dismantled lock (its keys were revoked on "
                              "purpose)"))
    issue.set_defaults(handler=do_keys_issue)
    listing = sub.add_parser("list", help=_("issued keys (never the key material)"))
    listing.add_argument("--lock", help=_("only this lock's keys"))
    listing.set_defaults(handler=do_keys_list)
    revoke = sub.add_parser("revoke", help=_("revoke a key"))
    revoke.add_argument("key", type=int, help=_("the key's number (hemlas keys list)"))
    revoke.add_argument("--now", action="store_true", help=_("push it to the lock right away"))
    revoke.add_argument("--key-file", help=_("the key file to remove it from (default: the "
                                             "user's key file)"))
    revoke.set_defaults(handler=do_keys_revoke)
    push = sub.add_parser("push", help=_("push pending revocations to a lock"))
    push.add_argument("lock", help=_("the lock's id, as it advertises it (e.g. HL-1A2B3C)"))
    push.set_defaults(handler=do_keys_push)
    fetch = sub.add_parser("fetch", help=_("fetch this device's keys from the fleet service "
                                           "(after hemlas login), for the hours ahead"))
    from .login import add_fetch_arguments  # the field client's side (no fleet store in it)

    add_fetch_arguments(fetch)
    fetch.set_defaults(handler="login:do_keys_fetch")
    for cmd in (issue, listing, revoke, push, fetch):
        cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))
