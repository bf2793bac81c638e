"""The `hemlas` command line: one table of commands, one error type, one exit path."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .boards import board_names, load_board
from .commands import compensation, flash, fleet, hil, keys, lock, report, sim, swap, visits
from .commands.formats import table
from .commands.output import emit
from .errors import HemlasError


def do_boards(args) -> None:
    rows = []
    for name in board_names():
        board = load_board(name)
        rows.append({"board": name, "model": board["model"],
                     "battery_chemistry": board["battery"]["chemistry"],
                     "end_of_travel": "limit switches" if board["pins"]["limit_locked"] is not None
                     else "stall sensing"})
    emit(args, table(["board", "model", "battery", "end of travel"],
                     [[r["board"], r["model"], r["battery_chemistry"], r["end_of_travel"]]
                      for r in rows]), rows)


def _lock_arg(cmd) -> None:
    cmd.add_argument("lock", help="the lock's id, as it advertises it (e.g. HL-1A2B3C)")


def _sim_args(cmd) -> None:
    cmd.add_argument("--board", default="virtual", choices=board_names(),
                     help="the board file the virtual lock follows: pins, battery, motor "
                          "(default: virtual; hemlas boards lists them)")
    cmd.add_argument("--flash", metavar="DIR",
                     help="keep the lock's flash (its files, identity and event log) in DIR, "
                          "across runs (default: a temporary directory, gone at the end)")
    cmd.add_argument("--battery", choices=["fresh", "low", "discharged"],
                     help="the battery's charge at the start (default: the board's fresh cell)")


def _sim_only_args(cmd) -> None:
    _sim_args(cmd)
    cmd.add_argument("--locks", type=int, default=1, choices=range(1, 17), metavar="N",
                     help="how many virtual locks to run, 1 to 16 (default 1); console lines "
                          "then start with the lock's number")
    cmd.add_argument("--radio-socket", metavar="PATH",
                     help="where the virtual radio listens; clients find it through "
                          "HEMLAS_RADIO=virtual:PATH (default: a temporary path, printed)")


_DEMO_HELP = ("a virtual lock: unlock, battery reading, the button self-test; --json prints "
              "JSON lines, one object per step (its \"step\": start, provision, scan, key, "
              "status, lock, unlock, battery, selftest, event_log, discharged_unlock)")


_JSON_HELP = {
    "demo": "JSON lines: one JSON object per step, printed as the step happens",
    "sim": "console answers as the firmware's JSON lines, each with the lock's number (n) and "
           "lock_id; help as one JSON object",
}


# name: (handler, help, arguments)
COMMANDS = {
    "boards": (do_boards, "list the board files", None),
    "demo": (sim.do_demo, _DEMO_HELP, _sim_args),
    "sim": (sim.do_sim, "run virtual locks on a virtual radio, with an interactive console "
            "(type help in it; --json: answers as the firmware's JSON lines)", _sim_only_args),
    "scan": (lock.do_scan, "list the locks in radio range",
             lambda cmd: cmd.add_argument("--timeout", type=float, default=5.0)),
    "status": (lock.do_status, "a lock's bolt and battery state", _lock_arg),
    "unlock": (lock.do_unlock, "unlock a lock", _lock_arg),
    "lock": (lock.do_lock, "lock a lock", _lock_arg),
    "battery": (lock.do_battery, "a lock's battery: idle and loaded voltage, state", _lock_arg),
    "log": (lock.do_log, "a lock's event log",
            lambda cmd: (_lock_arg(cmd), cmd.add_argument("--since", type=int, default=0,
                                                          help="first sequence number"))),
    "sync": (lock.do_sync, "sync a lock's event log (the visit record) into the fleet store", _lock_arg),
    "visits": (visits.do_visits, "a customer's visits (from the locks' logs, and manual ones); "
               "`visits register-manual CUSTOMER` when the lock failed", visits.add_arguments),
    "flash": (flash.do_flash, "flash the firmware onto a unit over its serial port, and provision it",
              flash.add_arguments),
    "hil": (hil.do_hil, "run the bench suite (hil_tests/) against a unit or a virtual board", hil.add_arguments),
    "battery-swap": (swap.do_battery_swap, "the routine's battery swap: check, confirm, register, "
                     "verify with locks and unlocks", swap.add_arguments),
}


# name: (help, function adding the subcommands)
GROUPS = {
    "keys": ("issue, list and revoke staff keys", keys.add_arguments),
    "customers": ("add and list customers, their provider and NFC tags",
                  fleet.add_customer_arguments),
    "locks": ("mount, move and dismantle locks (key custody, history); list locks with their "
              "battery state", fleet.add_lock_arguments),
    "compensation": ("the \"Uppstart smarta lås\" hours providers registered",
                     compensation.add_arguments),
    "report": ("reports over the fleet: batteries, compensation", report.add_arguments),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hemlas", description="hemlås smart-lock tooling")
    parser.add_argument("--version", action="version", version=f"hemlas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (handler, help_text, add_arguments) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--json", action="store_true",
                         help=_JSON_HELP.get(name, "machine-readable output"))
        cmd.set_defaults(handler=handler)
        if add_arguments:
            add_arguments(cmd)
    for name, (help_text, add_subcommands) in GROUPS.items():
        group = sub.add_parser(name, help=help_text)
        add_subcommands(group.add_subparsers(dest="action", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.handler(args)
    except HemlasError as err:
        if getattr(args, "json", False) and not getattr(err, "answered", False):
            print(json.dumps({"error": str(err)}))
        print(f"hemlas: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
