"""The `hemlas` command line: one table of commands, one error type, one exit path.

A command costs only what it uses: the tables name handlers and argument definitions as
"module:function" in hemlas.commands, imported when the command line names that command
(its arguments are added to its parser then, its handler loaded before it runs). Listing the
commands (hemlas --help) needs only their names and help texts, here, so `hemlas status` never
loads the virtual board, the flashing tools or the reports (tests/test_cli_imports.py;
benchmarks/cli_latency.py measures the process end to end)."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
from collections.abc import Callable

from . import __version__
from .boards import board_names, load_board
from .commands.formats import table
from .commands.output import emit
from .errors import HemlasError
from .i18n import N_, _, reset_language, set_language

_COMMANDS_PACKAGE = "hemlas.commands"


def _load(target: str | Callable) -> Callable:
    """A function named "module:function" (a module of hemlas.commands), imported now; a
    function given as itself is returned as it is."""
    if callable(target):
        return target
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(f"{_COMMANDS_PACKAGE}.{module}"), function)


class _CommandParser(argparse.ArgumentParser):
    """A command's parser that adds its arguments when it is first used: to parse its command
    line, or for its usage or help. Only the command being run pays for importing the module
    that defines them."""

    def __init__(self, *args, add_arguments: str | Callable | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_arguments = add_arguments

    def _complete(self) -> None:
        add, self._add_arguments = self._add_arguments, None
        if add is not None:
            _load(add)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


_END_OF_TRAVEL = {"limit switches": N_("limit switches"), "stall sensing": N_("stall sensing")}


def do_boards(args) -> None:
    rows = []
    for name in board_names():
        board = load_board(name)
        rows.append({"board": name, "model": board["model"],
                     "battery_chemistry": board["battery"]["chemistry"],
                     "end_of_travel": "limit switches" if board["pins"]["limit_locked"] is not None
                     else "stall sensing"})
    # --json keeps its values; the table says them in the user's language.
    emit(args, table([_("board"), _("model"), _("battery"), _("end of travel")],
                     [[r["board"], r["model"], r["battery_chemistry"],
                       _(_END_OF_TRAVEL[r["end_of_travel"]])] for r in rows]), rows)


def _lock_arg(cmd) -> None:
    cmd.add_argument("lock", help=_("the lock's id, as it advertises it (e.g. HL-1A2B3C)"))


def _sim_args(cmd) -> None:
    cmd.add_argument("--board", default="virtual", choices=board_names(),
                     help=_("the board file the virtual lock follows: pins, battery, motor "
                            "(default: virtual; hemlas boards lists them)"))
    cmd.add_argument("--flash", metavar="DIR",
                     help=_("keep the lock's flash (its files, identity and event log) in DIR, "
                            "across runs (default: a temporary directory, gone at the end)"))
    cmd.add_argument("--battery", choices=["fresh", "low", "discharged"],
                     help=_("the battery's charge at the start (default: the board's fresh cell)"))


def _sim_only_args(cmd) -> None:
    _sim_args(cmd)
    cmd.add_argument("--locks", type=int, default=1, choices=range(1, 17), metavar="N",
                     help=_("how many virtual locks to run, 1 to 16 (default 1); console lines "
                            "then start with the lock's number"))
    cmd.add_argument("--radio-socket", metavar="PATH",
                     help=_("where the virtual radio listens; clients find it through "
                            "HEMLAS_RADIO=virtual:PATH (default: a temporary path, printed)"))


_DEMO_HELP = N_("a virtual lock: unlock, battery reading, the button self-test; --json prints "
              "JSON lines, one object per step (its \"step\": start, provision, scan, key, "
              "status, lock, unlock, battery, selftest, event_log, discharged_unlock)")


_JSON_HELP = {
    "demo": N_("JSON lines: one JSON object per step, printed as the step happens"),
    "sim": N_("console answers as the firmware's JSON lines, each with the lock's number (n) and "
              "lock_id; help as one JSON object"),
}


# name: (handler, help, arguments); "module:function" is hemlas.commands.module's, loaded when used.
# Help texts are marked here (N_) and translated when the parser is built: the language is
# known by then (main() reads --lang first).
COMMANDS = {
    "boards": (do_boards, N_("list the board files"), None),
    "demo": ("sim:do_demo", _DEMO_HELP, _sim_args),
    "sim": ("sim:do_sim", N_("run virtual locks on a virtual radio, with an interactive console "
                             "(type help in it; --json: answers as the firmware's JSON lines)"),
            _sim_only_args),
    "scan": ("lock:do_scan", N_("list the locks in radio range"),
             lambda cmd: cmd.add_argument("--timeout", type=float, default=5.0,
                                          help=_("how long to listen, in seconds (default 5)"))),
    "status": ("lock:do_status", N_("a lock's bolt and battery state"), _lock_arg),
    "unlock": ("lock:do_unlock", N_("unlock a lock"), _lock_arg),
    "lock": ("lock:do_lock", N_("lock a lock"), _lock_arg),
    "battery": ("lock:do_battery", N_("a lock's battery: idle and loaded voltage, state"), _lock_arg),
    "log": ("lock:do_log", N_("a lock's event log"),
            lambda cmd: (_lock_arg(cmd), cmd.add_argument("--since", type=int, default=0,
                                                          help=_("first sequence number")))),
    "sync": ("lock:do_sync", N_("sync a lock's event log (the visit record) into the fleet store"),
             _lock_arg),
    "visits": ("visits:do_visits", N_("a customer's visits (from the locks' logs, and manual ones); "
                                      "`visits register-manual CUSTOMER` when the lock failed"),
               "visits:add_arguments"),
    "flash": ("flash:do_flash", N_("flash the firmware onto a unit over its serial port, and "
                                   "provision it"), "flash:add_arguments"),
    "hil": ("hil:do_hil", N_("run the bench suite (hil_tests/) against a unit or a virtual board"),
            "hil:add_arguments"),
    "serve": ("serve:do_serve", N_("run the fleet service (API under /api/v1) over the fleet store"),
              "serve:add_arguments"),
    "login": ("login:do_login", N_("enrol this device with the fleet service: field commands then "
                                   "fetch keys from it and send it what they learn"),
              "login:add_login_arguments"),
    "logout": ("login:do_logout", N_("end this device's login to the fleet service (its token is "
                                     "revoked, its fetched keys removed)"), "login:add_logout_arguments"),
    "outbox": ("outbox:do_outbox", N_("what waits to be sent to the fleet service; `outbox send` "
                                      "sends it"), "outbox:add_arguments"),
    "battery-swap": ("swap:do_battery_swap", N_("the routine's battery swap: check, confirm, "
                                                "register, verify with locks and unlocks"),
                     "swap:add_arguments"),
}


# name: (help, "module:function" adding the subcommands)
GROUPS = {
    "keys": (N_("issue, list and revoke staff keys"), "keys:add_arguments"),
    "customers": (N_("add and list customers, their provider and NFC tags"),
                  "fleet:add_customer_arguments"),
    "locks": (N_("mount, move and dismantle locks (key custody, history); list locks with their "
                 "battery state"), "fleet:add_lock_arguments"),
    "compensation": (N_("the \"Uppstart smarta lås\" hours providers registered"),
                     "compensation:add_arguments"),
    "report": (N_("reports over the fleet: batteries, compensation"), "report:add_arguments"),
    "accounts": (N_("the fleet service's accounts: add, list, disable, password"),
                 "accounts:add_account_arguments"),
    "devices": (N_("field devices logged in to the service: list, revoke (a lost phone)"),
                "accounts:add_device_arguments"),
    "providers": (N_("the providers (hemtjänstanordnare) the service knows: add, list"),
                  "accounts:add_provider_arguments"),
    "plan": (N_("planned visits from the planning system, and the keys that follow them"),
             "plan:add_plan_arguments"),
    "alarm": (N_("alarm access (trygghetslarm): a short-lived key on request, logged"),
              "plan:add_alarm_arguments"),
    "privacy": (N_("data protection: retention runs, a customer's export (access request), "
                   "erasure at the end of care"), "privacy:add_arguments"),
}

# argparse's own texts (Python 3.11's msgids, argparse.py), so a Swedish help or usage error
# is Swedish throughout: argparse looks them up through its module's `_`, pointed at ours.
ARGPARSE_TEXTS = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"), N_("expected one argument"),
    N_("invalid %(type)s value: %(value)r"), N_("ambiguous option: %(option)s could match %(matches)s"),
)


def _add_subcommands(add_subcommands: str | Callable) -> Callable:
    return lambda group: _load(add_subcommands)(group.add_subparsers(dest="action", required=True))


def _parser() -> argparse.ArgumentParser:
    argparse._ = _  # type: ignore[attr-defined]  # see ARGPARSE_TEXTS
    parser = argparse.ArgumentParser(prog="hemlas", description=_("hemlås smart-lock tooling"))
    parser.add_argument("--version", action="version", version=f"hemlas {__version__}",
                        help=_("show the version and exit"))
    parser.add_argument("--lang", metavar="sv|en",
                        help=_("the language of what hemlas says: sv (default) or en; "
                               "also HEMLAS_LANG"))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)
    for name, (handler, help_text, add_arguments) in COMMANDS.items():
        cmd = sub.add_parser(name, help=_(help_text), description=_(help_text),
                             add_arguments=add_arguments)
        cmd.add_argument("--json", action="store_true",
                         help=_(_JSON_HELP.get(name, N_("machine-readable output"))))
        cmd.set_defaults(handler=handler)
    for name, (help_text, add_subcommands) in GROUPS.items():
        sub.add_parser(name, help=_(help_text), add_arguments=_add_subcommands(add_subcommands))
    return parser


def _language_option(argv: list[str]) -> str | None:
    """--lang's value, read before the parser is built (its help texts are in that language):
    among the options before the command, as argparse takes it."""
    for i, arg in enumerate(argv):
        if arg == "--lang":
            return argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if not arg.startswith("-"):
            return None  # the command: what follows is its own
    return None


def command_handler(args: argparse.Namespace) -> Callable:
    """The parsed command's handler, its module imported now (a group's subcommands set
    theirs as functions, their module already imported to define them)."""
    return _load(args.handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = _language_option(argv)
    token = set_language(chosen) if chosen is not None else None
    try:
        return _run(argv)
    finally:
        if token is not None:  # tests call main() in-process: the next call starts afresh
            reset_language(token)


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    handler = command_handler(args)
    try:
        handler(args)
    except HemlasError as err:
        if getattr(args, "json", False) and not getattr(err, "answered", False):
            print(json.dumps({"error": str(err)}))
        print(f"hemlas: {err}", file=sys.stderr)
        return 1
    return 0


def console_main() -> None:
    """The `hemlas` console script: main(), then exit without a last collection of everything
    the command loaded (gc.freeze): 0.3-0.4 s of a field command's wall time on a laptop
    (benchmarks/cli_latency.py). Not in main(), which tests call in-process."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console_main()
