"""The console of `hemlas sim`: what a technician types goes to a virtual lock's serial console
(the firmware's commands, firmware/console.py) or to its board (hands: the button, the
battery, the bolt, the power, the door: knock, kick, open, close).

Answers are printed readably ("key: value", codes with their names, times in ISO); with
`hemlas sim --json` each answer is the firmware's JSON line as it came, with the lock's number
(``n``) and ``lock_id``, for programs. With several locks a line may start with the lock's
number; an unnumbered line goes to the current lock (lock 1, until a number alone is typed),
and every answer starts with the lock it came from: "→ lock 2 (HL-…)".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from ..codes import STATUS_TEXT, BatteryState, EventType, LockState, Status
from ..errors import HemlasError
from ..i18n import N_, _
from . import formats

# The firmware's serial console commands (firmware/console.py), one line each.
FIRMWARE_COMMANDS = {
    "status": ("status", N_("the bolt, battery, next log number, board, firmware, clock")),
    "lock": ("lock", N_("run the bolt to locked")),
    "unlock": ("unlock", N_("run the bolt to unlocked")),
    "battery": ("battery", N_("measure the battery (idle and under load) and its state")),
    "selftest": ("selftest", N_("the button self-test's battery check, from the console")),
    "log": ("log [FROM [N]]", N_("the event log from record FROM, up to 16 records an answer")),
    "mem": ("mem", N_("the firmware's heap: allocated and free bytes")),
    "swap": ("swap", N_("register a new battery (the bench's swap registration)")),
    "power": ("power [stay|auto]", N_("stay awake for bench work, or follow the power policy")),
    "trace": ("trace [FROM]", N_("the hardware trace (pins, motor) from event FROM")),
    "provision": ("provision LOCK_ID SECRET_HEX", N_("bench only, as hemlas flash does it: the "
                  "fleet store's secret no longer matches")),
    "reprovision": ("reprovision LOCK_ID SECRET_HEX", N_("the same, for a provisioned lock")),
}

_STATES = ("fresh", "low", "discharged")


def _press(vb, rest):
    return {"pressed_at": vb.press_button()}


def _battery_charge(vb, rest):
    if rest[0] not in _STATES:
        raise ValueError(f"battery {'|'.join(_STATES)}")
    return {"soc": vb.set_battery(rest[0])}


def _jam(vb, rest):
    at = float(rest[0]) if rest else 0.5
    vb.jam(at)
    return {"jammed_at": at}


def _unjam(vb, rest):
    vb.clear_jam()
    return {"jammed_at": None}


def _bolt(vb, rest):
    vb.set_bolt(float(rest[0]))
    return {"bolt": vb.bolt_position}


def _cut(vb, rest):
    vb.power_cut()
    return {"power": False}


def _on(vb, rest):
    return vb.power_on()


def _replace(vb, rest):
    state = rest[0] if rest else "fresh"
    vb.swap_battery(state)
    return {"replaced": state, "ready": vb.wait_ready()}


def _leds(vb, rest):
    return {"leds": vb.led_timeline()}


def _knock(vb, rest):
    raps = int(rest[0]) if rest else 3
    mg = float(rest[1]) if len(rest) > 1 else 600.0
    return {"knocked_at": vb.knock(raps, mg), "raps": raps, "mg": mg}


def _kick(vb, rest):
    mg = float(rest[0]) if rest else 4000.0
    return {"kicked_at": vb.kick(mg), "mg": mg}


def _open(vb, rest):
    return {"opened_at": vb.open_door(), "door_open": vb.door_open}


def _close(vb, rest):
    return {"shut_at": vb.close_door()}  # the door is closed from its impact on the frame


# Hands on the board: name -> (usage, what it does, action). "battery" with an argument is the
# board's (the cell's charge); without one it is the firmware's measurement.
BOARD_ACTIONS: dict[str, tuple[str, str, Callable]] = {
    "press": ("press", N_("press the lock unit's push button (starts the self-test)"), _press),
    "battery": ("battery fresh|low|discharged", N_("set the cell's charge"), _battery_charge),
    "replace": ("replace fresh|low|discharged", N_("a battery swap: power off, another cell in, "
                "power on"), _replace),
    "jam": ("jam [AT]", N_("jam the bolt at AT of its travel (0..1, default 0.5)"), _jam),
    "unjam": ("unjam", N_("clear the jam"), _unjam),
    "bolt": ("bolt POSITION", N_("move the bolt by hand (0 unlocked .. 1 locked)"), _bolt),
    "cut": ("cut", N_("cut the power"), _cut),
    "on": ("on", N_("power on again"), _on),
    "leds": ("leds", N_("the LED changes so far (seconds, LED, on/off)"), _leds),
    "knock": ("knock [RAPS [MG]]", N_("knock on the door (3 raps, 600 mg at the knock sensor)"), _knock),
    "kick": ("kick [MG]", N_("a hard blow on the door (4000 mg): forced entry"), _kick),
    "open": ("open", N_("swing the door open (45 degrees in 1.5 s)"), _open),
    "close": ("close", N_("swing the door shut (1 s, then the impact on the frame)"), _close),
}


def help_text(locks: int) -> str:
    width = max(len(u) for u, _ in FIRMWARE_COMMANDS.values()) + 2
    lines = [_("Firmware (serial console) commands:")]
    lines += [f"  {usage:{width}}{_(text)}" for usage, text in FIRMWARE_COMMANDS.values()]
    lines.append(_("Hands on the board:"))
    lines += [f"  {usage:{width}}{_(text)}" for usage, text, _action in BOARD_ACTIONS.values()]
    lines.append(_("Console:"))
    lines.append(f"  {'help':{width}}" + _("this list"))
    lines.append(f"  {'quit':{width}}" + _("stop the locks and end"))
    if locks > 1:
        lines.append(_("With {locks} locks: start a line with the lock's number (\"2 status\"); a "
                       "number alone (\"2\") makes that lock the one unnumbered lines go to (lock "
                       "1 at the start). Every answer says which lock it came from.")
                     .format(locks=locks))
    return "\n".join(lines)


def act(vb, words: list[str]) -> dict:
    """Do one typed line on one lock: a board action, or a firmware console command."""
    op, rest = words[0], words[1:]
    if op in BOARD_ACTIONS and (op != "battery" or rest):
        return BOARD_ACTIONS[op][2](vb, rest)
    return vb.command(" ".join(words))


def run(boards, lines: Iterable[str], raw: bool = False, out: Callable[[str], None] = print) -> None:
    """The console loop, until "quit" or the end of input."""
    current = 0
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return
        if words[0] == "help":
            out(json.dumps({"help": _help_doc()}) if raw else help_text(len(boards)))
            continue
        index = current
        if words[0].isdigit():
            n = int(words[0])
            if not 1 <= n <= len(boards):
                _error(out, raw, _("no lock {n}: the locks are numbered 1 to {count}")
                       .format(n=n, count=len(boards)))
                continue
            index, words = n - 1, words[1:]
            if not words:
                current = index
                _say(out, raw, {"current": n, "lock_id": boards[index].lock_id},
                     _("unnumbered lines now go to lock {n} ({lock_id})")
                     .format(n=n, lock_id=boards[index].lock_id))
                continue
        vb = boards[index]
        try:
            answer = act(vb, words)
        except (HemlasError, ValueError, IndexError) as err:
            message = _("an argument is missing") if isinstance(err, IndexError) else str(err)
            answer = {"cmd": words[0], "error": message}
            if _usage(words[0]):
                answer["usage"] = _usage(words[0])
        label = (_("→ lock {n} ({lock_id})").format(n=index + 1, lock_id=vb.lock_id)
                 if len(boards) > 1 else "")
        if raw:
            out(json.dumps({**answer, "n": index + 1, "lock_id": answer.get("lock_id", vb.lock_id)}))
        else:
            out("\n".join(x for x in (label, readable(words[0], answer)) if x))


def _help_doc() -> dict:
    return {"firmware": {k: {"usage": u, "help": _(t)} for k, (u, t) in FIRMWARE_COMMANDS.items()},
            "board": {k: {"usage": u, "help": _(t)} for k, (u, t, _a) in BOARD_ACTIONS.items()}}


def _usage(op: str) -> str | None:
    if op in BOARD_ACTIONS:
        return BOARD_ACTIONS[op][0]
    return FIRMWARE_COMMANDS[op][0] if op in FIRMWARE_COMMANDS else None


def _error(out, raw: bool, message: str) -> None:
    _say(out, raw, {"error": message}, _("error: {message}").format(message=message))


def _say(out, raw: bool, doc: dict, human: str) -> None:
    out(json.dumps(doc) if raw else human)


def readable(op: str, answer: dict) -> str:
    """An answer as a technician reads it: its command, then "key: value" lines."""
    cmd = answer.get("cmd") or op
    if "error" in answer:
        # "unknown command" is the firmware's own word (firmware/console.py): matched, not shown.
        if answer["error"] == "unknown command":
            said = _("{cmd}: error: {error} (help lists the commands)").format(
                cmd=cmd, error=_("unknown command"))
        else:
            said = _("{cmd}: error: {error}").format(cmd=cmd, error=answer["error"])
        if answer.get("usage"):
            said = _("{said}; usage: {usage}").format(said=said, usage=answer["usage"])
        return said
    lines = [f"{cmd}:"]
    for key, value in answer.items():
        if key == "cmd":
            continue
        if key == "records" and isinstance(value, list):
            lines.append(_("  records: {n}").format(n=len(value)))
            lines += [f"    {_record(r)}" for r in value]
        elif key == "leds" and isinstance(value, list):
            lines.append(_("  leds: {n} change(s)").format(n=len(value)))
            lines += [f"    {t:6.2f} s  {led:5} " + (_("ON") if on else _("off"))
                      for t, led, on in value]
        else:
            lines.append(f"  {key}: {_value(key, value)}")
    return "\n".join(lines)


_NAMED = {"state": LockState, "battery": BatteryState}
_TIMES = ("clock", "last_swap")


def _value(key: str, value) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return "-"
    if key in _NAMED and isinstance(value, int):
        return f"{formats.named(key, value, _NAMED[key])[key]} ({value})"
    if key == "result" and isinstance(value, int):
        try:
            return f"{Status(value).name.lower()} ({value}): {STATUS_TEXT[Status(value)]}"
        except (ValueError, KeyError):
            return str(value)
    if key in _TIMES and isinstance(value, int):
        return formats.iso(value) if value else _("never")
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(k, v)}" for k, v in value.items())
    return str(value)


def _record(r) -> str:
    seq, at, kind, fields = r
    try:
        name = EventType(kind).name.lower()
    except ValueError:
        name = _("event {kind}").format(kind=kind)
    return f"#{seq:<4} {formats.iso(at)}  {name:16} {fields}"
