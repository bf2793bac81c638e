"""Shared output helpers for the CLI: human text by default, JSON with --json."""

from __future__ import annotations

import json

from ..codes import STATUS_TEXT, BatteryState, LockState, Status
from ..errors import HemlasError, KeysRefusedError, LockJammedError
from ..i18n import N_, Texts, _, ngettext
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


# The bolt's states as a person reads them (--json says LockState's names as they are).
_STATE_TEXT = Texts({
    LockState.UNKNOWN: N_("unknown"), LockState.LOCKED: N_("locked"),
    LockState.UNLOCKED: N_("unlocked"), LockState.JAMMED: N_("jammed"),
    LockState.LOCKING: N_("locking"), LockState.UNLOCKING: N_("unlocking"),
})


def state_name(state: int) -> str:
    """A bolt state in the user's language (its LockState name if the table lacks it)."""
    return _STATE_TEXT.get(LockState(state), LockState(state).name.lower())


BATTERY_TEXT = Texts({
    BatteryState.OK: N_("OK"),
    BatteryState.LOW: N_("LOW: swap the battery"),
    BatteryState.CRITICAL: N_("CRITICAL: fully discharged. Do not swap it; call the service desk"),
})

# The routine's steps, each written once; the guidance below is built from them.
def _do_not_swap() -> str:
    return _("  * Do NOT swap the battery yourself: a fully discharged battery can build up "
             "gas pressure.")


def _self_test() -> str:
    return _("""  * Check with the button self-test: press the lock unit's push button.
      - the green LED lights, and goes out within 10 seconds;
      - within 20 seconds of the press the red LED blinks briefly once or twice.
    If the red LED blinks (once or twice), the battery is not fully discharged and may be
    swapped as usual. If it does not blink at all, leave the battery in place.""")


def _manual_visit() -> str:
    return _("register the visit manually (hemlas visits register-manual CUSTOMER --at TIME "
             "--by NAME --note WHY), with a note saying why")


def _contact() -> str:
    return _("  * Contact {service_desk}.").format(service_desk=service_desk())


def discharged_guidance(reason: str, what: str | None = None) -> str:
    """What the routine tells staff when a lock cannot be unlocked from the app (or, with
    another `what`, when a lock's battery may be fully discharged before a swap)."""
    what = _("The lock could not be unlocked") if what is None else what
    return "\n".join((_("{what}: {reason}.").format(what=what, reason=reason),
                      _("The battery may be fully discharged."), _do_not_swap(), _self_test(),
                      _contact(), _("  * Use the physical key for this visit and {manual_visit}.")
                      .format(manual_visit=_manual_visit())))


def cannot_lock_guidance(reason: str) -> str:
    """What a carer does when the lock cannot lock the door (the battery may be fully
    discharged): the routine's steps, and the customer's door is never left unlocked."""
    return "\n".join((
        _("The lock could not be locked: {reason}.").format(reason=reason),
        _("The battery may be fully discharged."), _do_not_swap(), _self_test(), _contact(),
        _("  * Do NOT leave the customer's door unlocked and unattended: lock it with the physical\n"
          "    key (or stay with the customer until the door is locked)."),
        _("  * Then {manual_visit}.").format(manual_visit=_manual_visit())))


def battery_warning(state: int | None) -> str | None:
    """What a command that read the battery adds to its answer: None when it is OK."""
    if state == BatteryState.LOW:
        return _("battery LOW: swap the battery soon (the routine: hemlas battery-swap LOCK), "
                 "then register the swap")
    if state == BatteryState.CRITICAL:
        return "\n".join((_("battery CRITICAL: the lock reads its battery as fully discharged."),
                          _do_not_swap(), _self_test(), _contact()))
    return None


def _jammed_next() -> str:
    return _("check that nothing blocks the bolt (the door pushed fully shut, nothing in the "
             "strike plate) and try once more; if it jams again, use the physical key, "
             "{manual_visit}, and report the lock fault").format(manual_visit=_manual_visit())


_REFUSED_KEY_NEXT = Texts({
    Status.KEY_REVOKED: N_("it was revoked: delete it and ask your coordinator for a new key"),
    Status.BAD_TAG: N_("the lock does not know it: the lock was probably re-provisioned, which "
                       "supersedes every older key; ask your coordinator for a new key"),
    Status.KEY_NOT_YET_VALID: N_("by the lock's clock it is not valid yet: the lock's clock may be "
                                 "behind (after a power cut); a technician's connection sets it"),
    Status.KEY_EXPIRED: N_("by the lock's clock it has expired: ask your coordinator for a new key"),
    Status.KEY_WRONG_LOCK: N_("it was issued for another lock"),
})


def failure_message(err: Exception) -> str:
    """A lock error as the one line `hemlas:` prints, with the next step where the error is
    one a carer can act on."""
    if isinstance(err, KeysRefusedError):
        said = "; ".join(_("key {key_id}: {text}").format(
            key_id=key_id, text=_REFUSED_KEY_NEXT.get(status, STATUS_TEXT.get(status, status)))
            for key_id, status in err.refusals)
        # A HELLO refusal comes before any session, so nothing proves the lock said it: said so.
        return ngettext("lock {lock_id} refused your key, in unverified answers (the lock's, or a "
                        "fake's in radio range) ({said}); until you have a key that works, use "
                        "the physical key and {manual_visit}",
                        "lock {lock_id} refused every key tried, in unverified answers (the "
                        "lock's, or a fake's in radio range) ({said}); until you have a key that "
                        "works, use the physical key and {manual_visit}", len(err.refusals)
                        ).format(lock_id=err.lock_id, said=said, manual_visit=_manual_visit())
    if isinstance(err, LockJammedError):
        return _("{error}: {next_step}").format(error=err, next_step=_jammed_next())
    return str(err)
