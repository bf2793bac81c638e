"""Shared output helpers for the CLI: human text by default, JSON with --json."""

from __future__ import annotations

import json

from ..codes import BatteryState, LockState
from ..errors import HemlasError
from ..settings import service_desk


class CommandError(HemlasError):
    """A command could not do what was asked; printed as `hemlas: message`, exit code 1.

    answered: the command already printed its whole answer (with --json, its one document),
    so only the exit code and the stderr line remain to be given."""

    def __init__(self, message: str, answered: bool = False):
        super().__init__(message)
        self.answered = answered


def emit(args, human: str, data) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, default=str))
    else:
        print(human)


def state_name(state: int) -> str:
    return LockState(state).name.lower()


BATTERY_TEXT = {
    BatteryState.OK: "OK",
    BatteryState.LOW: "LOW: swap the battery",
    BatteryState.CRITICAL: "CRITICAL: fully discharged. Do not swap it; call the service desk",
}


def discharged_guidance(reason: str, what: str = "The lock could not be unlocked") -> str:
    """What the routine tells staff when a lock cannot be unlocked from the app (or, with
    another `what`, when a lock's battery may be fully discharged before a swap)."""
    return f"""{what}: {reason}.
The battery may be fully discharged.
  * Do NOT swap the battery yourself: a fully discharged battery can build up gas pressure.
  * Check with the button self-test: press the lock unit's push button.
      - the green LED lights, and goes out within 10 seconds;
      - within 20 seconds of the press the red LED blinks briefly once or twice.
    If the red LED blinks (once or twice), the battery is not fully discharged and may be
    swapped as usual. If it does not blink at all, leave the battery in place.
  * Contact {service_desk()}.
  * Use the physical key for this visit and register it manually, with a note saying why."""
