"""The door after a battery swap: left as the carer found it, or said plainly how it is.

The verification cycles alternate locks and unlocks from the bolt's state; a resumed flow or
a move whose answer was lost can leave the door the other way. The carer must not walk away
from a door that is unlocked when it was locked (docs/battery-swap.md, "The door").
"""

from __future__ import annotations

from ..i18n import _

from dataclasses import dataclass

from ..client import LockClient
from ..codes import LockState
from ..errors import AuthError, LockStatusError, ProtocolError
from ..fleet.models import SwapRecord
from .output import state_name

_RESTORABLE = (LockState.LOCKED, LockState.UNLOCKED)


def door_found(swap: SwapRecord, state_now: LockState) -> LockState | None:
    """The bolt's state when the carer came, as far as the record shows it.

    Before the first verification cycle the flow has not moved the bolt (the battery swap
    does not move it), so the state read now is the one found. After, the first cycle tells
    it only one way: the flow unlocks first only a bolt it found locked. A first lock leaves
    it unknown (unlocked, or jammed or in between): None.
    """
    if not swap.cycles:
        return state_now
    return LockState.LOCKED if swap.cycles[0].action == "unlock" else None


async def restore(client: LockClient, found: LockState | None,
                  state: LockState) -> tuple[LockState, str | None]:
    """Move the bolt back to ``found`` (locked or unlocked) if it is not there: one move with
    the flow's key, logged by the lock as the person's. Returns the state now and, if the move
    failed, why."""
    if found not in _RESTORABLE or state == found:
        return state, None
    try:
        move = await (client.lock() if found == LockState.LOCKED else client.unlock())
    except LockStatusError as err:  # jammed, CRITICAL, busy: the lock answered
        if isinstance(err, (AuthError, ProtocolError)):
            raise
        try:
            return (await client.status()).state, str(err)
        except LockStatusError:
            return LockState.UNKNOWN, str(err)
    return move.state, None


@dataclass(frozen=True)
class Door:
    """The door's state when found (None: not known) and now (None: not read)."""

    found: LockState | None = None
    now: LockState | None = None
    failure: str | None = None  # why bringing it back failed

    @property
    def as_found(self) -> bool:
        return self.now is not None and self.now == self.found

    def text(self, lock_id: str) -> str:
        """One sentence for the person; empty when the door's state is not known."""
        if self.now is None:
            return ""
        def name(state) -> str:  # in capitals, as the outcome has always said it
            return state_name(state).upper()

        now = name(self.now)
        if self.as_found:
            return _("the door is {state}, as it was found").format(state=now)
        said = _("the door is now {state}").format(state=now)
        if self.failure:
            said += _(" (bringing it back to {state} failed: {failure})").format(
                state=name(self.found), failure=self.failure)
        elif self.found is not None:
            said += _(" (it was {state} when the swap began)").format(state=name(self.found))
        if self.now == LockState.JAMMED:
            said += _("; lock the door with the physical key and report the lock fault")
        elif self.now != LockState.LOCKED and self.found != LockState.UNLOCKED:
            said += _("; lock it if it should be locked: hemlas lock {lock_id}").format(lock_id=lock_id)
        return said


async def bolt_state(client: LockClient) -> LockState:
    """The bolt's state as the lock reports it; UNKNOWN if it will not say."""
    try:
        return (await client.status()).state
    except LockStatusError:
        return LockState.UNKNOWN
