"""`hemlas login URL`, `hemlas logout`, `hemlas keys fetch`: this device and the fleet service.

The password is asked for (getpass), or read as one line from standard input with
--password-stdin: never an argument, never printed, never in a log. A refusal is the
service's own problem details, in the user's language (field/service.py).
"""

from __future__ import annotations

import getpass
import socket
import sys

from ..field.outbox import Outbox
from ..field.sending import KEY_HOURS, refresh_keys, send
from ..field.service import (Enrolment, ServiceClient, ServiceError, ServiceUnreachableError,
                             enrolment, forget_enrolment, normalise_url, save_enrolment)
from ..i18n import N_, Texts, _
from ..keyfile import KeyFile
from .output import CommandError, emit

TEXT = Texts({
    "user": N_("account name: "),
    "password": N_("password for {login}: "),
    "no_stdin": N_("--password-stdin: standard input held no password line"),
    "already": N_("already logged in to {url} as {login} (device {device}): hemlas logout first"),
    "logged_in": N_("logged in to {url} as {name} ({login}) on device {device}; {keys} key(s) "
                    "fetched for the next {hours} hours"),
    "keys_later": N_("logged in to {url} as {name} ({login}) on device {device}; keys not fetched "
                     "yet ({error}): hemlas keys fetch"),
    "not_in": N_("not logged in: nothing to log out of"),
    "waiting": N_("{n} upload(s) in the outbox are not sent yet ({why}): send them first (hemlas "
                  "outbox send), or give --force to log out anyway (they stay in the outbox)"),
    "logged_out": N_("logged out of {url}; this device's token is revoked and its {keys} fetched "
                     "key(s) are gone from this device"),
    "not_revoked": N_("logged out here, but the service did not answer ({error}): its token "
                      "still works there; ask your lock administrator to revoke device {token_id} "
                      "(hemlas devices revoke {token_id})"),
    "fetched": N_("{n} key(s) for the next {hours} hours; {added} new, {forgotten} no longer "
                  "handed out and removed from this device"),
    "login_first": N_("not logged in to the fleet service: hemlas login URL"),
})


def _password(args, login: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip("\r\n"):
            raise CommandError(TEXT["no_stdin"])
        return line.rstrip("\r\n")
    return getpass.getpass(TEXT["password"].format(login=login))


def do_login(args) -> None:
    url = normalise_url(args.url)
    current = enrolment()
    if current is not None:
        raise CommandError(TEXT["already"].format(url=current.url, login=current.login,
                                                  device=current.device))
    login = args.user
    if login is None:
        if args.password_stdin:
            raise CommandError(_("--password-stdin needs --user NAME"))
        print(TEXT["user"], end="", file=sys.stderr, flush=True)
        login = sys.stdin.readline().strip()
    if not login:
        raise CommandError(_("no account name given; nothing was done"))
    device = args.device or socket.gethostname() or "hemlas"
    password = _password(args, login)
    with ServiceClient(url) as service:
        answer = service.login(login, password, device)
    del password
    account = answer["account"]
    found = Enrolment(url, answer["token"], account["login"], account["display_name"], device,
                      answer.get("device_token_id"), account.get("provider"))
    save_enrolment(found)
    data = {"url": url, "login": found.login, "display_name": found.display_name,
            "device": device, "device_token_id": found.token_id, "provider": found.provider}
    try:
        with Outbox() as outbox, ServiceClient.enrolled(found) as service:
            fetched = refresh_keys(outbox, service)
            sent = send(outbox, service)
    except ServiceError as err:
        emit(args, TEXT["keys_later"].format(url=url, name=found.display_name, login=found.login,
                                             device=device, error=err), {**data, "keys": None})
        return
    emit(args, TEXT["logged_in"].format(url=url, name=found.display_name, login=found.login,
                                        device=device, keys=len(fetched.added) + len(fetched.kept),
                                        hours=KEY_HOURS),
         {**data, "keys": fetched.added + fetched.kept, "sent": sent.sent, "waiting": sent.waiting})


def do_logout(args) -> None:
    found = enrolment()
    if found is None:
        raise CommandError(TEXT["not_in"])
    with Outbox() as outbox:
        waiting = outbox.uploads()
        if waiting and not args.force:
            why = _("the service did not take them")
            try:
                with ServiceClient.enrolled(found) as service:
                    result = send(outbox, service, include_refused=True)
                waiting = outbox.uploads()
                if result.stopped is not None:
                    why = str(result.stopped)
                elif waiting and waiting[0].last_error:  # refused: the service's own words
                    why = waiting[0].last_error
            except ServiceError as err:
                why = str(err)
            if waiting:
                raise CommandError(TEXT["waiting"].format(n=len(waiting), why=why))
        error = None
        try:
            with ServiceClient.enrolled(found) as service:
                service.logout()
        except ServiceUnreachableError as err:
            error = err
        except ServiceError:
            pass  # refused: the token had ended already (revoked, expired): nothing to end
        # The keys fetched for this account go with it: a logged-out device opens no door.
        fetched = outbox.fetched_keys()
        keyfile = KeyFile()
        for key_id in fetched:
            keyfile.remove(key_id)
        outbox.forget()
    forget_enrolment()
    data = {"url": found.url, "revoked": error is None, "keys_removed": sorted(fetched),
            "device_token_id": found.token_id}
    if error is not None:
        print("hemlas: " + TEXT["not_revoked"].format(error=error, token_id=found.token_id),
              file=sys.stderr)
    emit(args, TEXT["logged_out"].format(url=found.url, keys=len(fetched)), data)


def do_keys_fetch(args) -> None:
    found = enrolment()
    if found is None:
        raise CommandError(TEXT["login_first"])
    with Outbox() as outbox, ServiceClient.enrolled(found) as service:
        fetched = refresh_keys(outbox, service, hours=args.hours)
    total = len(fetched.added) + len(fetched.kept)
    emit(args, TEXT["fetched"].format(n=total, hours=args.hours, added=len(fetched.added),
                                      forgotten=len(fetched.forgotten)),
         {"keys": fetched.added + fetched.kept, "added": fetched.added,
          "forgotten": fetched.forgotten, "hours": args.hours})


def add_login_arguments(cmd) -> None:
    cmd.add_argument("url", help=_("the fleet service's address, e.g. https://lås.kommun.se"))
    cmd.add_argument("--user", metavar="NAME", help=_("the account name (default: asked for)"))
    cmd.add_argument("--device", metavar="NAME",
                     help=_("this device's name, as the lock administrator sees it (default: "
                            "the computer's name)"))
    cmd.add_argument("--password-stdin", action="store_true",
                     help=_("read the password as one line from standard input"))


def add_logout_arguments(cmd) -> None:
    cmd.add_argument("--force", action="store_true",
                     help=_("log out even if uploads wait in the outbox (they stay there)"))


def add_fetch_arguments(cmd) -> None:
    cmd.add_argument("--hours", type=int, default=KEY_HOURS, choices=range(0, 49), metavar="N",
                     help=_("also the keys that begin within N hours, 0 to 48 (default {hours})")
                     .format(hours=KEY_HOURS))
