"""The routine's guided battery swap, as a flow the CLI and tests drive (docs/battery-swap.md).

The routine: a fully discharged battery is not swapped (the service desk handles it); otherwise
the person confirms, swaps the battery, registers the swap on the lock, then locks at least five
times and unlocks at least five times. :class:`SwapFlow` runs those steps against a fleet store
and a client factory and records each one in the store as it happens, so a flow broken off at
any point (link lost, Ctrl-C, crash) stays "pending" and resumes where it stopped.

The flow's top level is synchronous and opens one event loop per radio step: the questions to
the person are asked between loops, where Ctrl-C interrupts at once (inside ``asyncio.run`` the
first Ctrl-C only cancels the task, and a prompt blocking the loop would swallow it).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TypeVar

from ..client import SCAN_TIMEOUT_S, LockClient
from ..codes import BatteryState, LockState
from ..errors import (AuthError, BatteryCriticalError, BatteryDepletedError, HemlasError,
                      LockDisconnectedError, LockError, LockNotFoundError, LockStatusError,
                      LockTimeoutError, ProtocolError)
from ..firmware import wire
from ..fleet.models import CustomerRecord, SwapRecord
from ..fleet.person_keys import person_key
from ..fleet.store import FleetStore
from ..fleet.swaps import VERIFY_CYCLES, registration_happened
from ..i18n import N_, Texts, _
from ..keyfile import KeyFile, StaffKey
from ..results import BatteryReading
from .fleet import when
from .lock import store_reading, sync_quietly
from .output import CommandError, state_name
from .swap_door import Door, bolt_state, door_found, restore
from .swap_outcome import (SwapHooks, SwapInterrupted, SwapOutcome, discharged,  # noqa: F401
                           status_text, with_door)  # SwapHooks, SwapInterrupted: the flow's API, re-exported

# The routine's symptoms of a fully discharged battery: the lock does not answer at all.
_SILENT = (LockNotFoundError, LockTimeoutError, LockDisconnectedError)
REBOOT_WAIT_S = 60.0  # the battery was out: the lock boots, then advertises; a minute covers a slow boot
RECONNECT_DELAY_S = 1.0  # between attempts to find the rebooting lock

# A callable giving an unconnected client for a lock: (lock_id, scan_timeout, key) -> async
# context manager yielding a LockClient connected with that key (the swapping person's).
ClientFactory = Callable[[str, float, StaffKey], AbstractAsyncContextManager[LockClient]]
_T = TypeVar("_T")
# A verification cycle's action as a person reads it (the record keeps "lock"/"unlock").
ACTION_TEXT = Texts({"lock": N_("lock"), "unlock": N_("unlock")})


def key_client(lock_id: str, scan_timeout: float, key: StaffKey) -> LockClient:
    """The default factory: a client with the person's own key (docs/security.md: a staff
    key suffices for every step of the swap, the least privilege that does)."""
    return LockClient(lock_id, key=key, scan_timeout=scan_timeout)


class SwapFlow:
    """The guided battery swap for one lock.

    Args:
        store: the fleet store everything is recorded in.
        person: who is at the door: the flow connects only with a key issued to them for
            the lock (person_keys.py), so the lock logs the swap and its moves as theirs.
            A new swap is kept under their name; a resumed swap keeps its own.
        client_factory: gives clients for the lock with a key (default: key_client).
        keyfile: this device's key file (default: the user's).
        hooks: the person's side (questions, the physical swap, progress).
        cycles: locks and unlocks each to verify with, at least VERIFY_CYCLES.
        scan_timeout: how long the check before the swap looks for the lock.
        reboot_wait_s: how long to keep looking for the lock after its battery was out.
    """

    def __init__(self, store: FleetStore, person: str, *,
                 client_factory: ClientFactory = key_client, keyfile: KeyFile | None = None,
                 hooks: SwapHooks | None = None, cycles: int = VERIFY_CYCLES,
                 scan_timeout: float = SCAN_TIMEOUT_S, reboot_wait_s: float = REBOOT_WAIT_S):
        if cycles < VERIFY_CYCLES:
            raise ValueError(_("the routine asks for at least {minimum} cycles, not {cycles}")
                             .format(minimum=VERIFY_CYCLES, cycles=cycles))
        self.store, self.person, self.cycles = store, person, cycles
        self._factory, self.hooks = client_factory, hooks or SwapHooks()
        self._keyfile = keyfile or KeyFile()
        self._scan_timeout, self._reboot_wait_s = scan_timeout, reboot_wait_s
        self._key: StaffKey | None = None

    # ---- the steps, synchronous at the top -------------------------------------------------

    def run(self, lock_id: str) -> SwapOutcome:
        """Swap the lock's battery, or resume its pending swap.

        Raises:
            NoPersonKeyError: the person holds no valid key for the lock on this device.
            SwapInterrupted: broken off after the swap was begun (it stays pending).
            UnknownLockError: no such lock in the store.
        """
        lock = self.store.lock(lock_id)
        pending = self.store.pending_swaps(lock_id)
        if pending:
            return self.resume(pending[0].swap_id)
        self._key = self._person_key(lock_id)
        customer = self._customer(lock.customer_number)
        reading, silent = asyncio.run(self._check(lock_id))
        if reading is None or reading.state == BatteryState.CRITICAL:
            return discharged(lock_id, customer, reading, silent, None)
        if not self.hooks.confirm(lock, customer, reading):
            return SwapOutcome("declined", lock_id, customer, _("nothing was registered"), None,
                               reading)
        swap = self.store.begin_swap(lock_id, self.person)
        self.hooks.stage(swap)
        return self._guarded(swap, lambda: self._swap_and_verify(swap, customer, reading))

    def resume(self, swap_id: int) -> SwapOutcome:
        """Continue a pending swap from its stage: a swap registered on the lock is never
        registered again (the lock's own swap time says whether it was), and the cycles
        continue from those recorded.

        Raises:
            NoPersonKeyError: the person holds no valid key for the lock on this device.
            SwapInterrupted: broken off again. CommandError: the swap has finished.
        """
        swap = self.store.swap(swap_id)
        if swap.status != "pending":
            raise CommandError(_("battery swap {swap_id} has already finished ({status})")
                               .format(swap_id=swap_id, status=swap.status))
        self._key = self._person_key(swap.lock_id)
        customer = self._customer(swap.customer_number)
        self.hooks.note(_("resuming battery swap {swap_id} for lock {lock_id}: stage {stage}, "
                          "started by {person} at {at}, {cycles} cycles recorded").format(
            swap_id=swap.swap_id, lock_id=swap.lock_id, stage=swap.stage, person=swap.person,
            at=when(swap.started_at), cycles=len(swap.cycles)))
        if swap.registered:
            return self._guarded(swap, lambda: asyncio.run(
                self._connected(swap.lock_id, self._reboot_wait_s,
                                lambda client: self._verify(client, swap, customer, None))))
        reading, silent = None, None

        async def check_registered(client: LockClient) -> SwapOutcome | None:
            nonlocal reading
            reading = await client.battery()
            self._record(swap.lock_id, reading)
            if registration_happened(swap.lock_swap_time_before, reading.last_swap):
                self.hooks.note(_("the lock's swap time changed since it was read before the "
                                  "registration: the lock took it before the break; not "
                                  "registering again"))
                registered = self.store.mark_swap_registered(
                    swap.swap_id, reading.loaded_mv, lock_swap_time=reading.last_swap)
                self.hooks.stage(registered)
                return await self._verify(client, registered, customer, reading)
            if swap.lock_swap_time_before is None or reading.state == BatteryState.CRITICAL:
                return None  # the battery may not be in yet (or reads CRITICAL): from the swap
            # Read after the new battery went in, and the registration did not happen: the
            # battery is in; register it now.
            self.hooks.note(_("the lock has not taken the registration: registering it now"))
            return await self._register_and_verify(client, swap, customer, reading)

        def steps() -> SwapOutcome:
            nonlocal silent
            try:
                done = asyncio.run(self._connected(swap.lock_id, self._scan_timeout, check_registered))
            except _SILENT as err:
                if reading is not None:
                    raise  # the lock answered the check: a break, not a symptom
                silent, done = err, None
            if done is not None:
                return done
            if reading is None or reading.state == BatteryState.CRITICAL:
                return discharged(swap.lock_id, customer, reading, silent, swap)
            return self._swap_and_verify(swap, customer, reading)

        return self._guarded(swap, steps)

    def _swap_and_verify(self, swap: SwapRecord, customer: CustomerRecord | None,
                         reading: BatteryReading | None) -> SwapOutcome:
        self.hooks.swap_battery(swap)
        self.hooks.note(_("connecting to {lock_id} (it restarts after a battery swap)")
                        .format(lock_id=swap.lock_id))
        return asyncio.run(self._connected(
            swap.lock_id, self._reboot_wait_s,
            lambda client: self._register_and_verify(client, swap, customer, reading)))

    def _guarded(self, swap: SwapRecord, steps: Callable[[], SwapOutcome]) -> SwapOutcome:
        """Run steps; a break leaves the swap pending and says how to resume."""
        try:
            return steps()
        except (HemlasError, KeyboardInterrupt, EOFError) as err:
            if isinstance(err, SwapInterrupted):
                raise
            cause = _("interrupted") if isinstance(err, KeyboardInterrupt) else (
                _("no answer") if isinstance(err, EOFError) else str(err))
            raise SwapInterrupted(self.store.swap(swap.swap_id), cause) from err

    # ---- radio steps -----------------------------------------------------------------------

    def _client(self, lock_id: str, scan_timeout: float) -> AbstractAsyncContextManager[LockClient]:
        assert self._key is not None, "run() or resume() chooses the person's key first"
        return self._factory(lock_id, scan_timeout, self._key)

    async def _check(self, lock_id: str) -> tuple[BatteryReading | None, LockError | None]:
        """The lock's battery before anything is swapped; (None, error) if it is silent."""
        try:
            async with self._client(lock_id, self._scan_timeout) as client:
                reading = await client.battery()
                await sync_quietly(client, self.store)  # as every connection does (docs/visits.md)
        except _SILENT as err:
            return None, err
        except BatteryCriticalError as err:
            return None, err
        self._record(lock_id, reading)
        return reading, None

    async def _connected(self, lock_id: str, wait_s: float,
                         work: Callable[[LockClient], Awaitable[_T]]) -> _T:
        """Connect (retrying for wait_s while the lock is not found) and run work(client)."""
        deadline = time.monotonic() + wait_s
        while True:
            remaining = deadline - time.monotonic()
            async with AsyncExitStack() as stack:
                try:
                    client = await stack.enter_async_context(
                        self._client(lock_id, max(1.0, min(self._scan_timeout, remaining))))
                except (LockNotFoundError, LockDisconnectedError):
                    if time.monotonic() + RECONNECT_DELAY_S >= deadline:
                        raise
                    await asyncio.sleep(RECONNECT_DELAY_S)
                    continue
                result = await work(client)
                await sync_quietly(client, self.store)
                return result

    async def _register_and_verify(self, client: LockClient, swap: SwapRecord,
                                   customer: CustomerRecord | None,
                                   reading: BatteryReading | None) -> SwapOutcome:
        # The lock's own swap time, kept before the request goes out: a break from here on
        # is resumed by asking the lock whether its swap time moved (registration_happened).
        before = await client.battery()
        self._record(swap.lock_id, before)
        swap = self.store.record_lock_swap_before(swap.swap_id, before.last_swap or 0)
        try:
            registration = await client.register_battery_swap()
        except BatteryDepletedError as err:
            reason = _("the new battery reads depleted ({loaded_mv} mV under load): nothing was "
                       "registered; put in another new battery").format(loaded_mv=err.loaded_mv)
            refused = self.store.finish_swap(swap.swap_id, "refused", reason)
            door = Door(now=await bolt_state(client))
            return SwapOutcome("refused", swap.lock_id, customer, with_door(reason, door, swap.lock_id),
                               refused, reading, door)
        self._record(swap.lock_id, registration)
        registered = self.store.mark_swap_registered(swap.swap_id, registration.loaded_mv,
                                                     lock_swap_time=registration.swap_time)
        self.hooks.stage(registered)
        return await self._verify(client, registered, customer, reading)

    async def _verify(self, client: LockClient, swap: SwapRecord, customer: CustomerRecord | None,
                      reading: BatteryReading | None) -> SwapOutcome:
        """Alternate locks and unlocks until each has succeeded ``cycles`` times, recording
        every cycle as it completes; stops at the first failure. Then the door goes back to
        the state it was found in (swap_door.py)."""
        ok = Counter(c.action for c in swap.cycles if c.result == wire.STATUS_OK)
        failed = next((c for c in swap.cycles if c.result != wire.STATUS_OK), None)
        index = swap.cycles[-1].cycle_index + 1 if swap.cycles else 0
        total = 2 * self.cycles
        state = (await client.status()).state
        found = door_found(swap, state)
        last_reading = None
        while failed is None and min(ok["lock"], ok["unlock"]) < self.cycles:
            action = "unlock" if state == LockState.LOCKED else "lock"
            result, travel_ms, error = wire.STATUS_OK, 0, None
            try:
                move = await (client.unlock() if action == "unlock" else client.lock())
                state, travel_ms = move.state, move.travel_ms
            except LockStatusError as err:  # the lock answered: a cycle that failed
                if isinstance(err, (AuthError, ProtocolError)):
                    raise
                result, error = err.status, err
                state = await bolt_state(client)
            lost = None
            try:  # the battery just after the motor's draw: cheap (one short request)
                last_reading = await client.battery()
                loaded_mv = last_reading.loaded_mv
            except LockStatusError:
                loaded_mv = None
            except LockError as err:
                loaded_mv, lost = None, err  # the move happened: record it, then break off
            cycle = self.store.add_swap_cycle(swap.swap_id, index, action, result, int(state),
                                              travel_ms, loaded_mv)
            index += 1
            if result == wire.STATUS_OK:
                ok[action] += 1
            else:
                failed = cycle
            self.hooks.cycle(cycle, index, max(total, index))
            if lost is not None:
                raise lost
            if error is not None:
                self.hooks.note(_("cycle {n} ({action}) failed: {error}").format(
                    n=cycle.cycle_index, action=ACTION_TEXT.get(action, action), error=error))
        if last_reading is not None:
            self._record(swap.lock_id, last_reading)
        if failed is not None:
            # No more motor runs on a bolt or battery that just failed: say how the door is.
            door = Door(found, state)
            reason = _("cycle {n} ({action}) failed: {error}").format(
                n=failed.cycle_index, action=ACTION_TEXT.get(failed.action, failed.action), error=status_text(failed.result))
            done = self.store.finish_swap(swap.swap_id, "failed", reason)
            return SwapOutcome("failed", swap.lock_id, customer,
                               with_door(reason, door, swap.lock_id), done, reading, door)
        if found in (LockState.LOCKED, LockState.UNLOCKED) and state != found:
            self.hooks.note(_("bringing the door back to {state}, as it was found")
                            .format(state=state_name(found).upper()))
        state, failure = await restore(client, found, state)
        door = Door(found, state, failure)
        done = self.store.finish_swap(swap.swap_id, "passed")
        message = _("the battery is registered and {locks} locks and {unlocks} unlocks "
                    "succeeded").format(locks=ok["lock"], unlocks=ok["unlock"])
        return SwapOutcome("passed", swap.lock_id, customer, with_door(message, door, swap.lock_id),
                           done, reading, door)

    # ---- helpers ---------------------------------------------------------------------------

    def _person_key(self, lock_id: str) -> StaffKey:
        return person_key(self.store.keys(lock_id), self._keyfile.keys(lock_id), lock_id,
                          self.person, int(time.time()))

    def _customer(self, number: str | None) -> CustomerRecord | None:
        return None if number is None else self.store.customer(number)

    def _record(self, lock_id: str, reading) -> None:
        store_reading(self.store, lock_id, reading, "swap")
