"""`hemlas battery-swap`: the command line around the guided swap (swap_flow.py).

Prompts, a text progress bar and the verdict table for people; one JSON document with --json.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import asdict

from ..codes import BatteryState, LockState, Status
from ..errors import HemlasError
from ..firmware import wire
from ..fleet.person_keys import device_person
from ..fleet.store import FleetStore
from ..fleet.swaps import VERIFY_CYCLES
from ..keyfile import KeyFile
from ..i18n import N_, Texts, _
from .formats import iso, named, table, when
from .output import BATTERY_TEXT, CommandError, emit, state_name
from .swap_flow import ACTION_TEXT, SwapFlow, SwapHooks, SwapInterrupted, SwapOutcome, status_text


def add_arguments(cmd) -> None:
    which = cmd.add_argument_group(_("which lock (neither: choose from a list)"))
    which.add_argument("--customer", metavar="NUMBER", help=_("the customer's number"))
    which.add_argument("--lock", metavar="LOCK", help=_("the lock's id (its customer comes from the store)"))
    cmd.add_argument("--person", metavar="NAME",
                     help=_("who swaps: the flow uses that person's key for the lock, so the lock "
                          "logs the swap and its moves as theirs (default: the person of the "
                          "key this device would use)"))
    cmd.add_argument("--cycles", type=_cycles, default=VERIFY_CYCLES, metavar="N",
                     help=_("locks and unlocks each to verify with (default and minimum {minimum})")
                     .format(minimum=VERIFY_CYCLES))
    cmd.add_argument("--yes", action="store_true",
                     help=_("ask nothing: the swap is confirmed and the new battery is in"))
    cmd.add_argument("--resume", type=int, metavar="SWAP_ID", help=_("continue a broken-off swap"))


def _cycles(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a number: {text}").format(text=repr(text))) from None
    if value < VERIFY_CYCLES:
        raise argparse.ArgumentTypeError(_("the routine asks for at least {minimum}")
                                         .format(minimum=VERIFY_CYCLES))
    return value


def do_battery_swap(args) -> None:
    if args.resume is not None and (args.customer or args.lock):
        raise CommandError(_("--resume takes the swap's own lock: leave out --customer and --lock"))
    hooks = CliHooks(args.yes)
    with FleetStore() as store:
        if args.resume is not None:
            lock_id = store.swap(args.resume).lock_id
        else:
            try:
                lock_id = choose_lock(store, args.customer, args.lock, None if args.yes else _ask)
            except (EOFError, KeyboardInterrupt):
                raise CommandError(_("no lock chosen; nothing was done")) from None
        flow = SwapFlow(store, args.person or default_person(store, lock_id), hooks=hooks,
                        cycles=args.cycles)
        try:
            outcome = flow.resume(args.resume) if args.resume is not None else flow.run(lock_id)
        except HemlasError:
            raise  # SwapInterrupted says how to resume; the rest come before a swap is begun
        except KeyboardInterrupt:  # after begin_swap the flow turns it into SwapInterrupted
            raise CommandError(_("interrupted before a swap was begun; nothing was registered")) from None
        except Exception:  # a crash: say how to pick up what the store recorded
            for swap in store.pending_swaps(lock_id):
                print(_("hemlas: battery swap {swap_id} stays pending; resume it with: "
                        "hemlas battery-swap --resume {swap_id}").format(swap_id=swap.swap_id),
                      file=sys.stderr)
            raise
        finally:
            hooks.end_progress()
    upload_swap(outcome)
    emit(args, render(outcome), outcome_json(outcome))
    if outcome.verdict in ("failed", "refused", "discharged"):
        # The document above is the whole answer: main() adds only the stderr line.
        raise CommandError(outcome.message.splitlines()[0] if outcome.verdict != "discharged"
                           else _("lock {lock_id}: do not swap the battery (see above)")
                           .format(lock_id=outcome.lock_id), answered=True)


def upload_swap(outcome: SwapOutcome) -> None:
    """On a device logged in to the fleet service, the finished swap into the outbox, then
    sent (said in one line if it must wait); nothing in the local mode."""
    from ..field.session import FieldSession

    swap = outcome.swap
    if swap is None or swap.status == "pending":
        return
    try:
        field = FieldSession.active()
    except HemlasError as err:
        print(_("hemlas: the swap is not sent to the fleet service: {error}").format(error=err),
              file=sys.stderr)
        return
    if field is None:
        return
    try:
        field.queue_swap(swap)
        field.send_quietly()
    finally:
        field.close()


def choose_lock(store: FleetStore, customer_number: str | None, lock_id: str | None,
                ask: Callable[[str], str] | None) -> str:
    """The lock to swap: named, the customer's only one, or chosen by ``ask`` (None: ask nothing)."""
    if lock_id is not None:
        lock = store.lock(lock_id)
        if customer_number is not None and lock.customer_number != customer_number.strip():
            raise CommandError(_("lock {lock_id} is not with customer {number}")
                               .format(lock_id=lock_id, number=customer_number))
        return lock.lock_id
    if customer_number is None:
        customers = store.customers()
        if ask is None or not customers:
            raise CommandError(_("name the customer (--customer NUMBER) or the lock (--lock LOCK)")
                               if customers else _("no customers in the fleet store"))
        print("\n".join(f"{c.customer_number:>12}  {c.name}" for c in customers), file=sys.stderr)
        customer_number = ask(_("Customer number: "))
    customer = store.customer(customer_number)
    locks = store.customer_locks(customer.customer_number)
    if not locks:
        raise CommandError(_("customer {number} ({name}) has no lock")
                           .format(number=customer.customer_number, name=customer.name))
    if len(locks) == 1:
        return locks[0].lock_id
    if ask is None:
        raise CommandError(_("customer {number} has {n} locks: choose one with --lock ({locks})")
                           .format(number=customer.customer_number, n=len(locks),
                                   locks=", ".join(lock.lock_id for lock in locks)))
    print("\n".join(f"{n:>3}) {lock.lock_id}" for n, lock in enumerate(locks, 1)), file=sys.stderr)
    answer = ask(_("Lock [1-{n}]: ").format(n=len(locks)))
    if not answer.isdigit() or not 1 <= int(answer) <= len(locks):
        raise CommandError(_("no lock {answer}").format(answer=repr(answer)))
    return locks[int(answer) - 1].lock_id


def default_person(store: FleetStore, lock_id: str) -> str:
    """Whom the key this device would use for the lock was issued to (the fleet store knows;
    the key file does not)."""
    person = device_person(store.keys(lock_id), KeyFile().keys(lock_id), lock_id, int(time.time()))
    if person is None:
        raise CommandError(_("lock {lock_id}: no valid key for it on this device is in the fleet "
                             "store, so who swaps is not known; issue one with: hemlas keys issue "
                             "{lock_id} --person NAME (then run this with --person NAME)")
                           .format(lock_id=lock_id))
    return person


def _ask(prompt: str) -> str:
    """One answer from stdin; the prompt goes to stderr, so stdout holds only the result."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError(prompt)
    return line.strip()


class CliHooks(SwapHooks):
    """The person at the terminal: questions on stderr, a text progress bar."""

    _BAR = 20  # characters

    def __init__(self, yes: bool):
        self.yes = yes
        self._bar_open = False

    def confirm(self, lock, customer, reading) -> bool:
        print(_("{lock_id}: battery {battery}; {loaded_mv} mV under load, {percent} % left").format(
            lock_id=lock.lock_id, battery=BATTERY_TEXT[reading.state], loaded_mv=reading.loaded_mv,
            percent="?" if reading.percent is None else reading.percent), file=sys.stderr)
        if self.yes:
            return True
        at = (_("customer {number} ({name})").format(number=customer.customer_number, name=customer.name)
              if customer else _("no customer"))
        try:
            # Translators: the answers taken are y, yes, j and ja in either language.
            answer = _ask(_("Register battery swap for lock {lock_id} at {at}? [y/N] ")
                          .format(lock_id=lock.lock_id, at=at))
        except EOFError:
            return False
        return answer.lower() in ("y", "yes", "j", "ja")

    def swap_battery(self, swap) -> None:
        if self.yes:
            return
        print(_("Swap the battery now: open the lid, lift out the battery, unplug it, plug in the "
                "new one, put it back, close the lid."), file=sys.stderr)
        _ask(_("Press Enter when the new battery is in. "))

    def note(self, text: str) -> None:
        self.end_progress()
        print(text, file=sys.stderr)

    def cycle(self, cycle, done: int, total: int) -> None:
        result = _("ok") if cycle.result == wire.STATUS_OK else status_text(cycle.result)
        line = (f"{ACTION_TEXT.get(cycle.action, cycle.action):6} {result:6} "
                f"{cycle.travel_ms:>5} ms  {'-' if cycle.loaded_mv is None else cycle.loaded_mv} mV")
        if not sys.stderr.isatty():
            print(_("verifying {done}/{total}: {line}").format(done=done, total=total, line=line),
                  file=sys.stderr)
            return
        filled = self._BAR * min(done, total) // total
        bar = "[" + "#" * filled + "." * (self._BAR - filled) + "]"
        print("\r" + _("verifying {bar} {done}/{total} {line}").format(
            bar=bar, done=done, total=total, line=line) + "  ", end="", file=sys.stderr, flush=True)
        self._bar_open = True

    def end_progress(self) -> None:
        if self._bar_open:
            print(file=sys.stderr)
            self._bar_open = False


def render(outcome: SwapOutcome) -> str:
    """The human answer: the verification table and the verdict, or what went wrong."""
    if outcome.verdict == "discharged":
        return outcome.message
    head = (_("Battery swap for lock {lock_id} at customer {number} ({name})").format(
        lock_id=outcome.lock_id, number=outcome.customer.customer_number, name=outcome.customer.name)
        if outcome.customer else _("Battery swap for lock {lock_id}").format(lock_id=outcome.lock_id))
    if outcome.verdict == "declined":
        return _("{head}: not confirmed; nothing was registered.").format(head=head)
    swap = outcome.swap
    if swap is None:
        return _("{head}: {message}").format(head=head, message=outcome.message)
    lines = [_("{head}: swap {swap_id} by {person}, started {at}").format(
        head=head, swap_id=swap.swap_id, person=swap.person, at=when(swap.started_at))]
    if swap.registered:
        lines.append(_("registered {at}").format(at=when(swap.registered_at))
                     if swap.loaded_mv_at_registration is None
                     else _("registered {at}, {loaded_mv} mV under load").format(
                         at=when(swap.registered_at), loaded_mv=swap.loaded_mv_at_registration))
    rows = [(c.cycle_index, ACTION_TEXT.get(c.action, c.action),
             _("ok") if c.result == wire.STATUS_OK else status_text(c.result),
             _bolt_name(c.state), f"{c.travel_ms} ms" if c.result == wire.STATUS_OK else "-",
             "-" if c.loaded_mv is None else f"{c.loaded_mv} mV") for c in swap.cycles]
    if rows:
        lines.append(table(("#", _("action"), _("result"), _("bolt"), _("time"), _("loaded")), rows))
    lines.append(_("Verdict: {verdict}: {message}").format(
        verdict=_VERDICT_TEXT.get(outcome.verdict, outcome.verdict).upper(), message=outcome.message))
    return "\n".join(lines)


# The verdict as a person reads it (--json keeps "passed", "failed", ...).
_VERDICT_TEXT = Texts({"passed": N_("passed"), "failed": N_("failed"), "refused": N_("refused"),
                       "declined": N_("declined"), "discharged": N_("discharged")})

_SWAP_TIMES = ("started_at", "registered_at", "finished_at", "lock_swap_time_before", "lock_swap_time")


def outcome_json(outcome: SwapOutcome) -> dict:
    """One document in the output vocabulary (formats.py): lock_id, ISO times, states as
    names beside codes."""
    customer = None if outcome.customer is None else {
        "customer_number": outcome.customer.customer_number, "name": outcome.customer.name}
    return {"verdict": outcome.verdict, "message": outcome.message, "lock_id": outcome.lock_id,
            "customer": customer, "check": _reading_json(outcome.reading),
            "swap": _swap_json(outcome.swap),
            "cycles": [] if outcome.swap is None else [_cycle_json(c) for c in outcome.swap.cycles],
            **named("door_found", outcome.door.found, LockState),
            **named("door_now", outcome.door.now, LockState)}


def _reading_json(reading) -> dict | None:
    if reading is None:
        return None
    fields = asdict(reading)
    fields.pop("state")
    return {**named("state", reading.state, BatteryState), **fields, "last_swap": iso(reading.last_swap)}


def _swap_json(swap) -> dict | None:
    if swap is None:
        return None
    fields = asdict(swap)
    fields.pop("cycles")
    # lock_swap_time_before 0 (the lock had registered none) is null, as not read yet is
    return {**fields, **{name: iso(fields[name] or None) for name in _SWAP_TIMES}}


def _cycle_json(cycle) -> dict:
    fields = asdict(cycle)
    for name in ("result", "state"):
        fields.pop(name)
    return {**fields, **named("result", cycle.result, Status),
            **named("state", cycle.state, LockState), "at": iso(cycle.at)}


def _bolt_name(state: int) -> str:
    return state_name(state) if state in LockState._value2member_map_ else str(state)
