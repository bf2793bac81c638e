"""Shared output helpers for the CLI: human text by default, JSON with --json."""

from __future__ import annotations

import json

from ..codes import STATUS_TEXT, BatteryState, LockState, Status
from ..errors import HemlasError, KeysRefusedError, LockJammedError
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

# The routine's steps, each written once; the guidance below is built from them.
_DO_NOT_SWAP = ("  * Do NOT swap the battery yourself: a fully discharged battery can build up "
                "gas pressure.")
_SELF_TEST = """  * Check with the button self-test: press the lock unit's push button.
      - the green LED lights, and goes out within 10 seconds;
      - within 20 seconds of the press the red LED blinks briefly once or twice.
    If the red LED blinks (once or twice), the battery is not fully discharged and may be
    swapped as usual. If it does not blink at all, leave the battery in place."""
_MANUAL_VISIT = ("register the visit manually (hemlas visits register-manual CUSTOMER --at TIME "
                 "--by NAME --note WHY), with a note saying why")


def _contact() -> str:
    return f"  * Contact {service_desk()}."


def discharged_guidance(reason: str, what: str = "The lock could not be unlocked") -> str:
    """What the routine tells staff when a lock cannot be unlocked from the app (or, with
    another `what`, when a lock's battery may be fully discharged before a swap)."""
    return "\n".join((f"{what}: {reason}.", "The battery may be fully discharged.", _DO_NOT_SWAP,
                      _SELF_TEST, _contact(),
                      f"  * Use the physical key for this visit and {_MANUAL_VISIT}."))


def cannot_lock_guidance(reason: str) -> str:
    """What a carer does when the lock cannot lock the door (the battery may be fully
    discharged): the routine's steps, and the customer's door is never left unlocked."""
    return "\n".join((
        f"The lock could not be locked: {reason}.", "The battery may be fully discharged.",
        _DO_NOT_SWAP, _SELF_TEST, _contact(),
        "  * Do NOT leave the customer's door unlocked and unattended: lock it with the physical",
        "    key (or stay with the customer until the door is locked).",
        f"  * Then {_MANUAL_VISIT}."))


def battery_warning(state: int | None) -> str | None:
    """What a command that read the battery adds to its answer: None when it is OK."""
    if state == BatteryState.LOW:
        return ("battery LOW: swap the battery soon (the routine: hemlas battery-swap LOCK), "
                "then register the swap")
    if state == BatteryState.CRITICAL:
        return "\n".join(("battery CRITICAL: the lock reads its battery as fully discharged.",
                          _DO_NOT_SWAP, _SELF_TEST, _contact()))
    return None


_JAMMED_NEXT = ("check that nothing blocks the bolt (the door pushed fully shut, nothing in the "
                "strike plate) and try once more; if it jams again, use the physical key, "
                f"{_MANUAL_VISIT}, and report the lock fault")
_REFUSED_KEY_NEXT = {
    Status.KEY_REVOKED: "it was revoked: delete it and ask your coordinator for a new key",
    Status.BAD_TAG: ("the lock does not know it: the lock was probably re-provisioned, which "
                     "supersedes every older key; ask your coordinator for a new key"),
    Status.KEY_NOT_YET_VALID: ("by the lock's clock it is not valid yet: the lock's clock may be "
                               "behind (after a power cut); a technician's connection sets it"),
    Status.KEY_EXPIRED: "by the lock's clock it has expired: ask your coordinator for a new key",
    Status.KEY_WRONG_LOCK: "it was issued for another lock",
}


def failure_message(err: Exception) -> str:
    """A lock error as the one line `hemlas:` prints, with the next step where the error is
    one a carer can act on."""
    if isinstance(err, KeysRefusedError):
        said = "; ".join(f"key {key_id}: {_REFUSED_KEY_NEXT.get(status, STATUS_TEXT.get(status, status))}"
                         for key_id, status in err.refusals)
        # A HELLO refusal comes before any session, so nothing proves the lock said it: said so.
        return (f"lock {err.lock_id} refused {'your key' if len(err.refusals) == 1 else 'every key tried'}, "
                f"in unverified answers (the lock's, or a fake's in radio range) ({said}); until you "
                f"have a key that works, use the physical key and {_MANUAL_VISIT}")
    if isinstance(err, LockJammedError):
        return f"{err}: {_JAMMED_NEXT}"
    return str(err)
