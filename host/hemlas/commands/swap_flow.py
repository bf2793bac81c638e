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
from dataclasses import dataclass
from typing import TypeVar

from ..client import SCAN_TIMEOUT_S, LockClient
from ..codes import STATUS_TEXT, BatteryState, LockState
from ..errors import (AuthError, BatteryCriticalError, BatteryDepletedError, HemlasError,
                      LockDisconnectedError, LockError, LockNotFoundError, LockStatusError,
                      LockTimeoutError, ProtocolError)
from ..firmware import wire
from ..fleet.models import CustomerRecord, LockRecord, SwapCycleRecord, SwapRecord
from ..fleet.store import FleetStore
from ..fleet.swaps import VERIFY_CYCLES
from ..results import BatteryReading
from .fleet import when
from .lock import store_reading, sync_quietly
from .output import CommandError, discharged_guidance

# The routine's symptoms of a fully discharged battery: the lock does not answer at all.
_SILENT = (LockNotFoundError, LockTimeoutError, LockDisconnectedError)
REBOOT_WAIT_S = 60.0  # the battery was out: the lock boots, then advertises; a minute covers a slow boot
RECONNECT_DELAY_S = 1.0  # between attempts to find the rebooting lock
# A lock registered the swap itself if its last swap (lock time) is no earlier than the swap's
# start (host time) less this: a technician key moves a lagging lock clock forward by at most
# 600 s per connection (docs/security.md), so a long swap can leave the lock that far behind;
# a minute more for drift. An earlier registration this close to the start would be taken for
# this one (docs/battery-swap.md).
LAST_SWAP_SLACK_S = 660

# A callable giving an unconnected client for a lock: (lock_id, scan_timeout) -> async context
# manager yielding a connected LockClient.
ClientFactory = Callable[[str, float], AbstractAsyncContextManager[LockClient]]
_T = TypeVar("_T")


def technician_client(lock_id: str, scan_timeout: float = SCAN_TIMEOUT_S) -> LockClient:
    """The default factory: a technician-role client with a key from the key file."""
    return LockClient(lock_id, role=wire.ROLE_TECHNICIAN, scan_timeout=scan_timeout)


class SwapInterrupted(CommandError):
    """The flow broke off after the swap was begun; the store keeps it pending."""

    def __init__(self, swap: SwapRecord, cause: str):
        super().__init__(
            f"battery swap {swap.swap_id} for lock {swap.lock_id} broke off ({cause}); it stays "
            f"pending at stage {swap.stage!r} with {len(swap.cycles)} verification cycles "
            f"recorded. Resume it with: hemlas battery-swap --resume {swap.swap_id} "
            f"(or run hemlas battery-swap --lock {swap.lock_id} again)")
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


class SwapFlow:
    """The guided battery swap for one lock.

    Args:
        store: the fleet store everything is recorded in.
        person: who swaps (kept with a new swap; a resumed swap keeps its own).
        client_factory: gives clients for the lock (technician role).
        hooks: the person's side (questions, the physical swap, progress).
        cycles: locks and unlocks each to verify with, at least VERIFY_CYCLES.
        scan_timeout: how long the check before the swap looks for the lock.
        reboot_wait_s: how long to keep looking for the lock after its battery was out.
    """

    def __init__(self, store: FleetStore, person: str, *,
                 client_factory: ClientFactory = technician_client,
                 hooks: SwapHooks | None = None, cycles: int = VERIFY_CYCLES,
                 scan_timeout: float = SCAN_TIMEOUT_S, reboot_wait_s: float = REBOOT_WAIT_S):
        if cycles < VERIFY_CYCLES:
            raise ValueError(f"the routine asks for at least {VERIFY_CYCLES} cycles, not {cycles}")
        self.store, self.person, self.cycles = store, person, cycles
        self._factory, self.hooks = client_factory, hooks or SwapHooks()
        self._scan_timeout, self._reboot_wait_s = scan_timeout, reboot_wait_s

    # ---- the steps, synchronous at the top -------------------------------------------------

    def run(self, lock_id: str) -> SwapOutcome:
        """Swap the lock's battery, or resume its pending swap.

        Raises:
            SwapInterrupted: broken off after the swap was begun (it stays pending).
            UnknownLockError: no such lock in the store.
        """
        lock = self.store.lock(lock_id)
        pending = self.store.pending_swaps(lock_id)
        if pending:
            return self.resume(pending[0].swap_id)
        customer = self._customer(lock.customer_number)
        reading, silent = asyncio.run(self._check(lock_id))
        if reading is None or reading.state == BatteryState.CRITICAL:
            return self._discharged(lock_id, customer, reading, silent, None)
        if not self.hooks.confirm(lock, customer, reading):
            return SwapOutcome("declined", lock_id, customer, "nothing was registered", None, reading)
        swap = self.store.begin_swap(lock_id, self.person)
        self.hooks.stage(swap)
        return self._guarded(swap, lambda: self._swap_and_verify(swap, customer, reading))

    def resume(self, swap_id: int) -> SwapOutcome:
        """Continue a pending swap from its stage: a swap registered on the lock is never
        registered again, and the cycles continue from those recorded.

        Raises:
            SwapInterrupted: broken off again. CommandError: the swap has finished.
        """
        swap = self.store.swap(swap_id)
        if swap.status != "pending":
            raise CommandError(f"battery swap {swap_id} has already finished ({swap.status})")
        customer = self._customer(swap.customer_number)
        self.hooks.note(f"resuming battery swap {swap.swap_id} for lock {swap.lock_id}: stage "
                        f"{swap.stage}, started by {swap.person} at {when(swap.started_at)}, "
                        f"{len(swap.cycles)} cycles recorded")
        if swap.registered:
            return self._guarded(swap, lambda: asyncio.run(
                self._connected(swap.lock_id, self._reboot_wait_s,
                                lambda client: self._verify(client, swap, customer, None))))
        reading, silent = None, None

        async def check_registered(client: LockClient) -> SwapOutcome | None:
            nonlocal reading
            lock_time = getattr(client, "lock_time", None)  # the lock's clock at HELLO
            lag_s = max(0, int(time.time()) - lock_time) if lock_time else 0
            reading = await client.battery()
            self._record(swap.lock_id, reading)
            if not _registered_since(reading.last_swap, swap.started_at, lag_s):
                return None
            self.hooks.note("the lock took the registration before the break: not registering again")
            registered = self.store.mark_swap_registered(swap.swap_id, reading.loaded_mv)
            self.hooks.stage(registered)
            return await self._verify(client, registered, customer, reading)

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
                return self._discharged(swap.lock_id, customer, reading, silent, swap)
            return self._swap_and_verify(swap, customer, reading)

        return self._guarded(swap, steps)

    def _swap_and_verify(self, swap: SwapRecord, customer: CustomerRecord | None,
                         reading: BatteryReading | None) -> SwapOutcome:
        self.hooks.swap_battery(swap)
        self.hooks.note(f"connecting to {swap.lock_id} (it restarts after a battery swap)")
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
            cause = "interrupted" if isinstance(err, KeyboardInterrupt) else (
                "no answer" if isinstance(err, EOFError) else str(err))
            raise SwapInterrupted(self.store.swap(swap.swap_id), cause) from err

    # ---- radio steps -----------------------------------------------------------------------

    async def _check(self, lock_id: str) -> tuple[BatteryReading | None, LockError | None]:
        """The lock's battery before anything is swapped; (None, error) if it is silent."""
        try:
            async with self._factory(lock_id, self._scan_timeout) as client:
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
                        self._factory(lock_id, max(1.0, min(self._scan_timeout, remaining))))
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
        try:
            registration = await client.register_battery_swap()
        except BatteryDepletedError as err:
            reason = (f"the new battery reads depleted ({err.loaded_mv} mV under load): nothing "
                      f"was registered; put in another new battery")
            refused = self.store.finish_swap(swap.swap_id, "refused", reason)
            return SwapOutcome("refused", swap.lock_id, customer, reason, refused, reading)
        self._record(swap.lock_id, registration)
        registered = self.store.mark_swap_registered(swap.swap_id, registration.loaded_mv)
        self.hooks.stage(registered)
        return await self._verify(client, registered, customer, reading)

    async def _verify(self, client: LockClient, swap: SwapRecord, customer: CustomerRecord | None,
                      reading: BatteryReading | None) -> SwapOutcome:
        """Alternate locks and unlocks until each has succeeded ``cycles`` times, recording
        every cycle as it completes. Stops at the first failure."""
        ok = Counter(c.action for c in swap.cycles if c.result == wire.STATUS_OK)
        failed = next((c for c in swap.cycles if c.result != wire.STATUS_OK), None)
        index = swap.cycles[-1].cycle_index + 1 if swap.cycles else 0
        total = 2 * self.cycles
        state = (await client.status()).state
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
                state = await _bolt_state(client)
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
                self.hooks.note(f"cycle {cycle.cycle_index} ({action}) failed: {error}")
        if last_reading is not None:
            self._record(swap.lock_id, last_reading)
        if failed is not None:
            reason = (f"cycle {failed.cycle_index} ({failed.action}) failed: "
                      f"{status_text(failed.result)}")
            done = self.store.finish_swap(swap.swap_id, "failed", reason)
            return SwapOutcome("failed", swap.lock_id, customer, reason, done, reading)
        done = self.store.finish_swap(swap.swap_id, "passed")
        message = (f"the battery is registered and {ok['lock']} locks and {ok['unlock']} "
                   f"unlocks succeeded")
        return SwapOutcome("passed", swap.lock_id, customer, message, done, reading)

    # ---- helpers ---------------------------------------------------------------------------

    def _customer(self, number: str | None) -> CustomerRecord | None:
        return None if number is None else self.store.customer(number)

    def _record(self, lock_id: str, reading) -> None:
        store_reading(self.store, lock_id, reading, "swap")

    def _discharged(self, lock_id: str, customer: CustomerRecord | None,
                    reading: BatteryReading | None, error: Exception | None,
                    pending: SwapRecord | None) -> SwapOutcome:
        if reading is not None:
            why = f"lock {lock_id}: its battery reads CRITICAL ({reading.loaded_mv} mV under load)"
        elif isinstance(error, BatteryCriticalError):
            why = str(error)
        else:
            why = f"it does not answer ({error})"
        kept = (f"\nBattery swap {pending.swap_id} stays pending: nothing was registered."
                if pending else "\nNothing was registered.")
        message = discharged_guidance(why, "Do not swap this battery") + kept
        return SwapOutcome("discharged", lock_id, customer, message, pending, reading)


def _registered_since(last_swap: int | None, started_at: int, lag_s: int) -> bool:
    """Whether the lock's last swap (lock time) is this swap's registration; lag_s is how far
    the lock's clock was behind the host's when the session opened."""
    return last_swap is not None and last_swap >= started_at - lag_s - LAST_SWAP_SLACK_S


async def _bolt_state(client: LockClient) -> int:
    try:
        return (await client.status()).state
    except LockStatusError:
        return LockState.UNKNOWN


def status_text(status: int) -> str:
    return STATUS_TEXT.get(status, f"status {status}")


# ---- the command -------------------------------------------------------------------------------
