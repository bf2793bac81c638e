"""How a guided battery swap ends, and what it asks and tells the person (swap_flow.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ..codes import STATUS_TEXT
from ..errors import BatteryCriticalError
from ..i18n import _
from ..fleet.models import CustomerRecord, LockRecord, SwapCycleRecord, SwapRecord
from ..results import BatteryReading
from .output import CommandError, discharged_guidance
from .swap_door import Door


class SwapInterrupted(CommandError):
    """The flow broke off after the swap was begun; the store keeps it pending."""

    def __init__(self, swap: SwapRecord, cause: str):
        super().__init__(_(
            "battery swap {swap_id} for lock {lock_id} broke off ({cause}); it stays pending at "
            "stage {stage} with {cycles} verification cycles recorded. Resume it with: hemlas "
            "battery-swap --resume {swap_id} (or run hemlas battery-swap --lock {lock_id} again)")
            .format(swap_id=swap.swap_id, lock_id=swap.lock_id, cause=cause, stage=repr(swap.stage),
                    cycles=len(swap.cycles)))
        self.swap = swap


@dataclass(frozen=True)
class SwapOutcome:
    """How a flow ended.

    verdict: "passed", "failed" (verification went wrong), "refused" (the new battery reads
    depleted), "declined" (the person answered no) or "discharged" (the lock is silent or
    CRITICAL: nothing swapped, the routine's guidance in ``message``).
    """

    verdict: str
    lock_id: str
    customer: CustomerRecord | None
    message: str
    swap: SwapRecord | None = None  # the store's record with its cycles; None: none begun
    reading: BatteryReading | None = None  # the check before the swap, if one was made
    door: Door = Door()  # the door when found and at the end (swap_door.py)


class SwapHooks:
    """What the flow asks of the person and tells them. The defaults ask nothing (the caller
    has confirmed, and the battery is in); the CLI's prompt, tests act on a virtual board."""

    def confirm(self, lock: LockRecord, customer: CustomerRecord | None,
                reading: BatteryReading) -> bool:
        """Register a swap for this lock? (The routine's confirmation question.)"""
        return True

    def swap_battery(self, swap: SwapRecord) -> None:
        """Return once the new battery is in (raise to break off: the swap stays pending)."""

    def stage(self, swap: SwapRecord) -> None:
        """The swap reached ``swap.stage`` ("confirmed", "registered") in the store."""

    def cycle(self, cycle: SwapCycleRecord, done: int, total: int) -> None:
        """A verification cycle was recorded; ``done`` of about ``total`` so far."""

    def note(self, text: str) -> None:
        """A line for the person: what the flow is doing."""


def status_text(status: int) -> str:
    return STATUS_TEXT.get(status, _("status {status}").format(status=status))


def with_door(message: str, door: Door, lock_id: str) -> str:
    """The outcome's message with the door's sentence (the door is as found, or how it is)."""
    said = door.text(lock_id)
    return _("{message}; {door}").format(message=message, door=said) if said else message


def discharged(lock_id: str, customer: CustomerRecord | None, reading: BatteryReading | None,
               error: Exception | None, pending: SwapRecord | None) -> SwapOutcome:
    """The lock is silent or CRITICAL: nothing is swapped; the routine's guidance."""
    if reading is not None:
        why = _("lock {lock_id}: its battery reads CRITICAL ({loaded_mv} mV under load)").format(
            lock_id=lock_id, loaded_mv=reading.loaded_mv)
    elif isinstance(error, BatteryCriticalError):
        why = str(error)
    else:
        why = _("it does not answer ({error})").format(error=error)
    kept = "\n" + (_("Battery swap {swap_id} stays pending: nothing was registered.")
                   .format(swap_id=pending.swap_id) if pending else _("Nothing was registered."))
    message = discharged_guidance(why, _("Do not swap this battery")) + kept
    return SwapOutcome("discharged", lock_id, customer, message, pending, reading)
