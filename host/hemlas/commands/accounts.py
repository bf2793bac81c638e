"""`hemlas accounts ...`, `hemlas devices ...`, `hemlas providers ...`: the fleet service's
accounts from the store's own machine, through the same domain functions as the API
(fleet/accounts.py, fleet/sessions.py), each change in the audit log as done by the local user.

A password is never an argument (a command line is visible to every user of the machine):
it is asked for twice, or read as one line from standard input with --password-stdin.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import asdict

from ..fleet import accounts, sessions
from ..fleet.models import ACCOUNT_ROLES
from ..fleet.roles import ROLE_TEXT, local_caller
from ..fleet.store import FleetStore
from .formats import emit_listing, iso_times, table, when
from ..i18n import N_, Texts, _, ngettext
from .output import CommandError, emit

# The texts this module prints, together for the message catalogue.
TEXT = Texts({
    "prompt": N_("password for {login}: "),
    "again": N_("the same password again: "),
    "mismatch": N_("the two passwords differ: nothing was changed"),
    "no_stdin": N_("--password-stdin: standard input held no password line"),
    "added": N_("account {login} added: {name}, {role}"),
    "password": N_("account {login}: password changed; its sessions and devices are logged out"),
    "disabled": N_("account {login} disabled: it cannot log in; its sessions and devices ended; "
                "{keys}"),
    "already": N_("account {login} was disabled already ({at}): nothing changed"),
    "revoked": N_("device {device!r} of {login} blocked: its token revoked; {keys}"),
    "revoked_again": N_("device {device!r} of {login} was blocked already ({at}); {keys}"),
    "no_keys": N_("no valid staff key was issued to them"),
    "provider": N_("provider {name} added"),
})


def _keys_text(ids: list[int]) -> str:
    if not ids:
        return TEXT["no_keys"]
    return ngettext("{n} staff key revoked ({ids}): it reaches the lock at its next admin "
                    "connection (hemlas keys push LOCK)",
                    "{n} staff keys revoked ({ids}): they reach the locks at their next admin "
                    "connection (hemlas keys push LOCK)", len(ids)).format(
        n=len(ids), ids=", ".join(f"#{i}" for i in ids))


def _password(args, login: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CommandError(TEXT["no_stdin"])
        return line.rstrip("\r\n")
    first = getpass.getpass(TEXT["prompt"].format(login=login))
    if getpass.getpass(TEXT["again"]) != first:
        raise CommandError(TEXT["mismatch"])
    return first


def _account_json(record) -> dict:
    return iso_times(asdict(record), "created_at", "disabled_at")


def do_accounts_add(args) -> None:
    password = _password(args, args.login)
    with FleetStore(create=True) as store, store.unit_of_work() as uow:
        record = accounts.add_account(uow, local_caller(), args.login, args.name, args.role,
                                      password, args.provider)
    role = ROLE_TEXT[record.role] + (f", {record.provider}" if record.provider else "")
    emit(args, TEXT["added"].format(login=record.login, name=record.display_name, role=role),
         _account_json(record))


def do_accounts_list(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        records = accounts.accounts(uow, args.provider)
    rows = [_account_json(r) for r in records]
    human = table([_("login"), _("name"), _("role"), _("provider"), _("created"), _("disabled")],
                  [[r.login, r.display_name, r.role, r.provider, when(r.created_at),
                    when(r.disabled_at) if r.disabled_at else None] for r in records],
                  empty=_("no accounts"))
    emit_listing(args, human, rows, ["account_id", "login", "display_name", "role", "provider",
                                     "created_at", "disabled_at"])


def do_accounts_password(args) -> None:
    password = _password(args, args.login)
    with FleetStore() as store, store.unit_of_work() as uow:
        record = accounts.set_password(uow, local_caller(), args.login, password)
    emit(args, TEXT["password"].format(login=record.login), _account_json(record))


def do_accounts_disable(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        before = accounts.get_account(uow, args.login).disabled_at
        record, keys = accounts.disable_account(uow, local_caller(), args.login)
    if before is not None:
        human = TEXT["already"].format(login=record.login, at=when(before))
    else:
        human = TEXT["disabled"].format(login=record.login, keys=_keys_text(keys))
    emit(args, human, {**_account_json(record), "revoked_key_ids": keys})


def do_devices_list(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        account_id = accounts.get_account(uow, args.login).account_id if args.login else None
        found = sessions.devices(uow, account_id)
    rows = [{**iso_times(asdict(t), "created_at", "expires_at", "last_used_at", "revoked_at"),
             "login": login} for t, login in found]
    human = table([_("id"), _("device"), _("account"), _("enrolled"), _("last used"), _("state")],
                  [[t.token_id, t.device_name, login, when(t.created_at),
                    when(t.last_used_at) if t.last_used_at else None,
                    _("revoked") if t.revoked_at else _("active")] for t, login in found],
                  empty=_("no devices"))
    emit_listing(args, human, rows, ["token_id", "device_name", "login", "created_at",
                                     "expires_at", "last_used_at", "address", "revoked_at"])


def do_devices_revoke(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        record, keys, already = sessions.revoke_device(uow, local_caller(), args.device)
        login = uow.get(sessions.Account, record.account_id).login
    text = TEXT["revoked_again" if already else "revoked"].format(
        device=record.device_name, login=login, at=when(record.revoked_at), keys=_keys_text(keys))
    emit(args, text, {**iso_times(asdict(record), "revoked_at"), "revoked_key_ids": keys})


def do_providers_add(args) -> None:
    with FleetStore(create=True) as store, store.unit_of_work() as uow:
        record = accounts.add_provider(uow, local_caller(), args.name)
    emit(args, TEXT["provider"].format(name=record.name), iso_times(asdict(record), "created_at"))


def do_providers_list(args) -> None:
    with FleetStore() as store, store.unit_of_work() as uow:
        records = accounts.providers(uow)
    rows = [iso_times(asdict(r), "created_at") for r in records]
    emit_listing(args, table([_("provider"), _("added")], [[r.name, when(r.created_at)] for r in records],
                             empty=_("no providers")), rows, ["provider_id", "name", "created_at"])


def _json(cmd) -> None:
    cmd.add_argument("--json", action="store_true", help=_("machine-readable output"))


def add_account_arguments(sub) -> None:
    add = sub.add_parser("add", help=_("add an account (asks for its password)"))
    add.add_argument("login", help=_("the login name: a-z, 0-9, '.', '_', '-'"))
    add.add_argument("--name", required=True,
                     help=_("the person's name, as staff keys are issued to it (unique)"))
    add.add_argument("--role", required=True, choices=ACCOUNT_ROLES)
    add.add_argument("--provider", help=_("the provider, for a coordinator or carer"))
    add.set_defaults(handler=do_accounts_add)
    listing = sub.add_parser("list", help=_("the accounts (never a password)"))
    listing.add_argument("--provider")
    listing.set_defaults(handler=do_accounts_list)
    disable = sub.add_parser("disable", help=_("disable an account: its logins, devices and the "
                                             "staff keys issued to its name end"))
    disable.add_argument("login")
    disable.set_defaults(handler=do_accounts_disable)
    password = sub.add_parser("password", help=_("set a new password (its sessions end)"))
    password.add_argument("login")
    password.set_defaults(handler=do_accounts_password)
    for cmd in (add, password):
        cmd.add_argument("--password-stdin", action="store_true",
                         help=_("read the password as one line from standard input"))
    for cmd in (add, listing, disable, password):
        _json(cmd)


def add_device_arguments(sub) -> None:
    listing = sub.add_parser("list", help=_("field devices enrolled (hemlas login), by account"))
    listing.add_argument("--login", help=_("only this account's"))
    listing.set_defaults(handler=do_devices_list)
    revoke = sub.add_parser("revoke", help=_("block a lost device: its token and its carer's "
                                           "staff keys are revoked"))
    revoke.add_argument("device", type=int, help=_("the device's id (hemlas devices list)"))
    revoke.set_defaults(handler=do_devices_revoke)
    for cmd in (listing, revoke):
        _json(cmd)


def add_provider_arguments(sub) -> None:
    add = sub.add_parser("add", help=_("add a provider (hemtjänstanordnare), as customers name it"))
    add.add_argument("name")
    add.set_defaults(handler=do_providers_add)
    listing = sub.add_parser("list", help=_("the providers"))
    listing.set_defaults(handler=do_providers_list)
    for cmd in (add, listing):
        _json(cmd)
