"""`hemlas flash`: put the firmware on a unit over its serial port and provision it."""

from __future__ import annotations

import argparse
import sys

from ..boards import board_names
from ..fleet.store import FleetStore
from ..flashing import FlashError, flash
from ..i18n import N_, Texts, _
from .output import CommandError, emit

_BAR = 30
_PROVISIONING = Texts({
    "new": N_("provisioned as a new lock"), "kept": N_("kept its identity and secret"),
    "reprovisioned": N_("given a new secret: every key issued for it before no longer works")})


def add_arguments(cmd) -> None:
    cmd.add_argument("--port", required=True, help=_("the unit's serial port (e.g. /dev/ttyUSB0, "
                                                     "or what `hemlas sim` prints)"))
    cmd.add_argument("--board", required=True, choices=board_names(),
                     help=_("the unit's board file (hemlas boards lists them)"))
    cmd.add_argument("--lock-id", help=_("the id to give a new unit (default: a random HL-XXXXXX)"))
    cmd.add_argument("--reprovision", action="store_true",
                     help=_("give a provisioned unit a new secret (every key issued for it stops "
                            "working)"))
    cmd.add_argument("--board-change", action="store_true",
                     help=_("the unit's hardware changed: flash a board file other than the one "
                            "the fleet store records"))
    cmd.add_argument("--yes", action="store_true",
                     help=_("re-provision a lock mounted at a customer without asking"))
    cmd.add_argument("--ble", action=argparse.BooleanOptionalAction, default=None,
                     help=_("confirm the unit advertises over BLE (default: where a radio is "
                            "available; --no-ble: over serial only)"))


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
            # Translators: the answers taken are y, yes, j and ja in either language.
            answer = input(_("{question}. Re-provision it? [y/N] ").format(question=question))
            return answer.strip().lower() in ("y", "yes", "j", "ja")
        except EOFError:
            return False

    return ask


def _say_waiting(message: str) -> None:
    print(_("hemlas: {message}").format(message=message), file=sys.stderr, flush=True)


def do_flash(args) -> None:
    with FleetStore(create=True) as store:
        try:
            report = flash(args.port, args.board, store, lock_id=args.lock_id, reprovision=args.reprovision,
                           progress=None if args.json else _progress, ble=args.ble,
                           board_change=args.board_change, confirm=_confirm(args), waiting=_say_waiting)
        except FlashError as err:
            raise CommandError(str(err)) from err
    seen = report.confirmed
    heard = (_("advertising as {address} (RSSI {rssi} dBm)").format(address=seen["address"],
                                                                   rssi=seen["rssi"])
             if seen["by"] == "ble" else
             _("confirmed over serial only: {why}").format(why=seen["why"]))
    emit(args, _("{lock_id}: {files} files ({bytes} bytes) flashed and verified on {port} in "
                 "{seconds} s; {provisioning}; firmware {firmware} on {micropython}, up and "
                 "{heard}").format(lock_id=report.lock_id, files=len(report.files),
                                   bytes=report.bytes, port=args.port,
                                   seconds=f"{report.seconds:.1f}",
                                   provisioning=_PROVISIONING[report.provisioning],
                                   firmware=report.firmware_version,
                                   micropython=report.micropython, heard=heard),
         {"lock_id": report.lock_id, "board": report.board, "firmware": report.firmware_version,
          "micropython": report.micropython, "provisioning": report.provisioning, "files": report.files,
          "bytes": report.bytes, "seconds": round(report.seconds, 2), "confirmed": seen})
