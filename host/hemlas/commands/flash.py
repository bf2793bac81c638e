"""`hemlas flash`: put the firmware on a unit over its serial port and provision it."""

from __future__ import annotations

import argparse
import sys

from ..boards import board_names
from ..fleet.store import FleetStore
from ..flashing import FlashError, flash
from .output import CommandError, emit

_BAR = 30


def add_arguments(cmd) -> None:
    cmd.add_argument("--port", required=True, help="the unit's serial port (e.g. /dev/ttyUSB0, or what `hemlas sim` prints)")
    cmd.add_argument("--board", required=True, choices=board_names())
    cmd.add_argument("--lock-id", help="the id to give a new unit (default: a random HL-XXXXXX)")
    cmd.add_argument("--reprovision", action="store_true",
                     help="give a provisioned unit a new secret (every key issued for it stops working)")
    cmd.add_argument("--board-change", action="store_true",
                     help="the unit's hardware changed: flash a board file other than the one the fleet store records")
    cmd.add_argument("--yes", action="store_true",
                     help="re-provision a lock mounted at a customer without asking")
    cmd.add_argument("--ble", action=argparse.BooleanOptionalAction, default=None,
                     help="confirm the unit advertises over BLE (default: where a radio is available; "
                          "--no-ble: over serial only)")


def _progress(name: str, done: int, total: int) -> None:
    filled = _BAR * done // total if total else _BAR
    sys.stderr.write(f"\r  [{'#' * filled}{'.' * (_BAR - filled)}] {100 * done // max(total, 1):3d} %  {name:16}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _confirm(args):
    """--yes, a question at the terminal, or (no terminal to ask at) a refusal that says --yes."""
    if args.yes:
        return lambda _question: True
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        try:
            return input(f"{question}. Re-provision it? [y/N] ").strip().lower() in ("y", "yes", "j", "ja")
        except EOFError:
            return False

    return ask


def _say_waiting(message: str) -> None:
    print(f"hemlas: {message}", file=sys.stderr, flush=True)


def do_flash(args) -> None:
    with FleetStore(create=True) as store:
        try:
            report = flash(args.port, args.board, store, lock_id=args.lock_id, reprovision=args.reprovision,
                           progress=None if args.json else _progress, ble=args.ble,
                           board_change=args.board_change, confirm=_confirm(args), waiting=_say_waiting)
        except FlashError as err:
            raise CommandError(str(err)) from err
    what = {"new": "provisioned as a new lock", "kept": "kept its identity and secret",
            "reprovisioned": "given a new secret: every key issued for it before no longer works"}
    seen = report.confirmed
    heard = (f"advertising as {seen['address']} (RSSI {seen['rssi']} dBm)" if seen["by"] == "ble"
             else f"confirmed over serial only: {seen['why']}")
    emit(args, f"{report.lock_id}: {len(report.files)} files ({report.bytes} bytes) flashed and verified on "
               f"{args.port} in {report.seconds:.1f} s; {what[report.provisioning]}; firmware "
               f"{report.firmware_version} on {report.micropython}, up and {heard}",
         {"lock_id": report.lock_id, "board": report.board, "firmware": report.firmware_version,
          "micropython": report.micropython, "provisioning": report.provisioning, "files": report.files,
          "bytes": report.bytes, "seconds": round(report.seconds, 2), "confirmed": seen})
