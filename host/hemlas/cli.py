"""The `hemlas` command line: one table of commands, one error type, one exit path."""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import __version__
from .boards import board_names, load_board
from .errors import HemlasError
from .firmware import wire

LOCK_STATES = {
    wire.LOCK_UNKNOWN: "unknown", wire.LOCK_LOCKED: "locked", wire.LOCK_UNLOCKED: "unlocked",
    wire.LOCK_JAMMED: "jammed", wire.LOCK_LOCKING: "locking", wire.LOCK_UNLOCKING: "unlocking",
}
BATTERY_STATES = {wire.BATTERY_OK: "OK", wire.BATTERY_LOW: "LOW (swap the battery)",
                  wire.BATTERY_CRITICAL: "CRITICAL (fully discharged: do not swap, call the service desk)"}
EVENT_NAMES = {value: name[6:].lower() for name, value in vars(wire).items() if name.startswith("EVENT_")}
RESULTS = {wire.STATUS_OK: "done", wire.STATUS_BUSY: "busy", wire.STATUS_JAMMED: "jammed",
           wire.STATUS_BATTERY_CRITICAL: "refused: battery critical", wire.STATUS_BAD_REQUEST: "bad request"}


class CommandError(HemlasError):
    """A command could not do what was asked; printed as `hemlas: message`, exit code 1."""


def _emit(args, human: str, data) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data))
    else:
        print(human)


# ---- boards -------------------------------------------------------------------------------

def do_boards(args) -> None:
    rows = []
    for name in board_names():
        board = load_board(name)
        rows.append({"board": name, "model": board["model"], "battery": board["battery"]["chemistry"],
                     "end_of_travel": "limit switches" if board["pins"]["limit_locked"] is not None
                     else "stall sensing"})
    _emit(args, "\n".join(f"{r['board']:16} {r['model']}  [{r['battery']}, {r['end_of_travel']}]"
                          for r in rows), rows)


# ---- the virtual board --------------------------------------------------------------------

def _start_virtual_board(args, **kwargs):
    from .sim import VirtualBoard

    vb = VirtualBoard(args.board, flash_dir=args.flash, **kwargs)
    if args.battery:
        vb.set_battery(args.battery)
    ready = vb.start()
    return vb, ready


def _describe_selftest(blinks: int) -> str:
    if blinks == 1:
        return "red blinked once: battery OK; it is not fully discharged and may be swapped as usual"
    if blinks == 2:
        return "red blinked twice: battery LOW; swap it"
    return ("no red blink: the battery is fully discharged. Do NOT swap it; "
            "contact the municipality's service desk")


def _watch_selftest(vb, press: float, out=print) -> list:
    """Print the LED changes as they happen, until the sequence has ended."""
    seen = 0
    deadline = press + 21.0  # the routine's 20 s window, and a little more
    quiet_since = None
    while time.monotonic() < deadline:
        timeline = vb.led_timeline(press)
        for t, led, on in timeline[seen:]:
            out(f"  {t:6.2f} s  {led:5} {'ON ' if on else 'off'}")
        if len(timeline) > seen:
            quiet_since = time.monotonic()
        seen = len(timeline)
        green_done = any(led == "green" and not on for _, led, on in timeline)
        if green_done and quiet_since and time.monotonic() - quiet_since > 2.0:
            break  # two quiet seconds after green went out and any blinks: the answer is in
        time.sleep(0.02)
    return vb.led_timeline(press)


def do_demo(args) -> None:
    vb, ready = _start_virtual_board(args)
    try:
        board = vb.board
        print(f"hemlås {__version__}: virtual lock on board {board['name']!r} ({board['model']})")
        print(f"  firmware: MicroPython unix port, {vb.heap_kb} KiB heap; flash: {vb.flash_dir}")
        print(f"  booted in {ready['ready']} ms; bolt read from the sensors: {LOCK_STATES[ready['state']]}")
        if ready["state"] != wire.LOCK_LOCKED:
            answer = vb.command("lock")
            print(f"lock    -> {RESULTS[answer['result']]}, {LOCK_STATES[answer['state']]}"
                  f" in {answer['travel_ms']} ms")
        answer = vb.command("unlock")
        print(f"unlock  -> {RESULTS[answer['result']]}, {LOCK_STATES[answer['state']]}"
              f" in {answer['travel_ms']} ms")
        battery = vb.command("battery")
        print(f"battery -> {battery['idle_mv']} mV idle, {battery['loaded_mv']} mV under load: "
              f"{BATTERY_STATES[battery['battery']]}")
        print("self-test: pressing the lock's button (green on, off within 10 s, "
              "red blinks within 20 s)")
        press = vb.press_button()
        timeline = _watch_selftest(vb, press)
        blinks = sum(1 for _, led, on in timeline if led == "red" and on)
        print(f"  {_describe_selftest(blinks)}")
        records = vb.command("log 0")["records"]
        print(f"event log: {len(records)} records")
        for seq, when, event_type, fields in records:
            stamp = time.strftime("%H:%M:%S", time.localtime(when))
            print(f"  #{seq:<3} {stamp} {EVENT_NAMES.get(event_type, event_type):16} {fields}")
    finally:
        vb.close()


_SIM_HELP = """virtual lock console. Firmware commands: status, lock, unlock, battery, selftest,
log [FROM [N]], mem. Hands on the board: press, battery fresh|low|discharged, jam [AT], unjam,
bolt POSITION, cut (power off), power (power on), leds, quit."""


def do_sim(args) -> None:
    vb, ready = _start_virtual_board(args, echo=lambda line: print(f"[fw] {line}"))
    print(json.dumps({"board": vb.board_name, "flash": str(vb.flash_dir), **ready}))
    print(_SIM_HELP)
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            try:
                print(json.dumps(_sim_hands(vb, words)))
            except (HemlasError, ValueError) as err:
                print(json.dumps({"error": str(err)}))
    except KeyboardInterrupt:
        pass
    finally:
        vb.close()


def _sim_hands(vb, words):
    op, rest = words[0], words[1:]
    if op == "press":
        return {"pressed_at": vb.press_button()}
    if op == "battery" and rest:
        return {"soc": vb.set_battery(rest[0])}
    if op == "jam":
        vb.jam(float(rest[0]) if rest else 0.5)
        return {"jammed_at": float(rest[0]) if rest else 0.5}
    if op == "unjam":
        vb.clear_jam()
        return {"jammed_at": None}
    if op == "bolt":
        vb.set_bolt(float(rest[0]))
        return {"bolt": vb.bolt_position}
    if op == "cut":
        vb.power_cut()
        return {"power": False}
    if op == "power":
        return vb.power_on()
    if op == "leds":
        return {"leds": vb.led_timeline()}
    return vb.command(" ".join(words))


COMMANDS = {
    "boards": (do_boards, "list the board files"),
    "demo": (do_demo, "a virtual lock: unlock, battery reading, the button self-test"),
    "sim": (do_sim, "run a virtual lock with an interactive console"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hemlas", description="hemlås smart-lock tooling")
    parser.add_argument("--version", action="version", version=f"hemlas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--json", action="store_true", help="machine-readable output")
        if name in ("demo", "sim"):
            cmd.add_argument("--board", default="virtual", choices=board_names())
            cmd.add_argument("--flash", help="flash directory to keep (default: a temporary one)")
            cmd.add_argument("--battery", choices=["fresh", "low", "discharged"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command][0](args)
    except HemlasError as err:
        print(f"hemlas: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
