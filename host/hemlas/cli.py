"""The `hemlas` command line: one table of commands, one error type, one exit path."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .boards import board_names, load_board
from .commands import compensation, flash, fleet, hil, keys, lock, report, sim, swap, visits
from .commands.output import emit
from .errors import HemlasError


def do_boards(args) -> None:
    rows = []
    for name in board_names():
        board = load_board(name)
        rows.append({"board": name, "model": board["model"], "battery": board["battery"]["chemistry"],
                     "end_of_travel": "limit switches" if board["pins"]["limit_locked"] is not None
                     else "stall sensing"})
    emit(args, "\n".join(f"{r['board']:16} {r['model']}  [{r['battery']}, {r['end_of_travel']}]"
                         for r in rows), rows)


def _lock_arg(cmd) -> None:
    cmd.add_argument("lock", help="the lock's id, as it advertises it (e.g. HL-1A2B3C)")


def _sim_args(cmd) -> None:
    cmd.add_argument("--board", default="virtual", choices=board_names())
    cmd.add_argument("--flash", help="flash directory to keep (default: a temporary one)")
    cmd.add_argument("--battery", choices=["fresh", "low", "discharged"])


# name: (handler, help, arguments)
COMMANDS = {
    "boards": (do_boards, "list the board files", None),
    "demo": (sim.do_demo, "a virtual lock: unlock, battery reading, the button self-test", _sim_args),
    "sim": (sim.do_sim, "run virtual locks on a virtual radio, with an interactive console",
            lambda cmd: (_sim_args(cmd),
                         cmd.add_argument("--locks", type=int, default=1, choices=range(1, 17), metavar="N"),
                         cmd.add_argument("--radio-socket", help="where the radio listens (default: a temp path)"))),
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
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
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
