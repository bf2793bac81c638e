"""A broken-off battery swap resumes by the lock's own record of the registration (its swap
time, read just before registering and kept in the store), never by time slack
(docs/battery-swap.md, "Breaks and resuming"; issue 11). On the virtual board, through the
real client, radio and fleet store."""

import asyncio
import time

import pytest

from fleet_helpers import issue
from hemlas.client import LockClient
from hemlas.commands.swap_flow import SwapFlow, SwapHooks, SwapInterrupted
from hemlas.errors import LockDisconnectedError
from hemlas.firmware import wire

CUSTOMER = "0456"
PERSON = "Kim Undersköterska"


# ---- the rule, case by case (no radio) ---------------------------------------------------------

@pytest.mark.parametrize("before, now, happened, why", [
    (None, None, False, "never read before registering: the registration was never sent"),
    (None, 1_800_000_000, False, "never read: an earlier swap's time is not this swap's"),
    (0, None, False, "the lock had none and still has none"),
    (0, 1_800_000_000, True, "the lock had none and now has one"),
    (1_800_000_000, 1_800_000_000, False, "the same swap time: no registration since"),
    (1_800_000_000, 1_800_000_360, True, "a later time: registered"),
    (1_800_000_000, 1_799_999_400, True, "an earlier time: registered on a clock that fell back "
                                         "(a power cut resumes it from its floor)"),
    (1_800_000_000, None, False, "the lock's state was reset to no swap: not a registration"),
])
def test_the_registration_happened_iff_the_lock_swap_time_moved(before, now, happened, why):
    from hemlas.fleet.swaps import registration_happened  # here: the board tests run without it

    assert registration_happened(before, now) is happened, why


# ---- on the virtual board -------------------------------------------------------------------

@pytest.fixture
def lock(radio, boot_board, fleet):
    """A locked virtual lock at customer 0456; the carer holds a technician key (as the flow
    before issue 11 needed, so these tests also run against it), valid from an hour ago (a
    test sets the lock's clock back six minutes)."""
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    fleet.add_customer(CUSTOMER, "Berit Berg")
    fleet.assign_lock(vb.lock_id, CUSTOMER)
    vb.person_key = issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN, person=PERSON,
                          not_before=int(time.time()) - 3600)
    return vb


class Hooks(SwapHooks):
    """The carer: swaps in a fresh virtual cell when asked; `break_at_swap` breaks off there
    (Ctrl-C before the battery is in) the first time."""

    def __init__(self, vb, break_at_swap=False):
        self.vb, self.break_at_swap, self.swaps = vb, break_at_swap, 0

    def swap_battery(self, swap):
        if self.break_at_swap:
            self.break_at_swap = False
            raise KeyboardInterrupt
        self.swaps += 1
        self.vb.swap_battery("fresh")


def flow(store, hooks, **kwargs):
    return SwapFlow(store, PERSON, hooks=hooks, cycles=5, scan_timeout=2.0, reboot_wait_s=15.0,
                    **kwargs)


def swap_events(vb):
    records, answer = [], vb.command("log 0")
    while answer["records"]:
        records += answer["records"]
        answer = vb.command(f"log {records[-1][0] + 1}")
    return [r for r in records if r[2] == wire.EVENT_BATTERY_SWAP]


def register_directly(vb, key, clock=None):
    """Register a swap on the lock outside the flow (another person, or an earlier swap),
    optionally with the lock's clock set first (an admin key may set it either way)."""
    async def go():
        async with LockClient(vb.lock_id, key=key, sync_clock=False) as client:
            if clock is not None:
                await client.set_clock(clock)
            return await client.register_battery_swap()

    return asyncio.run(go())


class DropsBeforeRegistering(LockClient):
    """The link drops after the lock's swap time was read, before the registration is sent."""

    async def register_battery_swap(self):
        raise LockDisconnectedError(self.lock_id, "the link dropped before the registration")


def dropping(lock_id, scan_timeout, key=None):
    return DropsBeforeRegistering(lock_id, key=key, role=wire.ROLE_TECHNICIAN, scan_timeout=scan_timeout)


@pytest.mark.virtual_board
def test_issue_case_a_break_before_registration_6_minutes_after_an_earlier_swap(lock, fleet):
    """Issue 11's case: the lock registered a swap six minutes before this one began; the flow
    breaks off before registering. Resuming must register (and so reset the charge count),
    not take the earlier swap for this one."""
    admin = issue(fleet, lock.lock_id, wire.ROLE_ADMIN, person="Admin", keyfile=False)
    earlier = register_directly(lock, admin, clock=int(time.time()) - 360)
    assert len(swap_events(lock)) == 1

    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, Hooks(lock, break_at_swap=True)).run(lock.lock_id)
    swap = fleet.swap(broke.value.swap.swap_id)
    assert (swap.stage, swap.registered) == ("confirmed", False)

    hooks = Hooks(lock)
    outcome = flow(fleet, hooks).resume(swap.swap_id)
    assert outcome.verdict == "passed", outcome.message
    assert hooks.swaps == 1  # the battery was not in yet: the carer is asked to swap it
    assert len(swap_events(lock)) == 2  # this swap's registration: the charge count restarted
    battery = lock.command("battery")
    assert battery["last_swap"] != earlier.swap_time
    done = fleet.swap(swap.swap_id)
    assert done.lock_swap_time == battery["last_swap"]
    assert swap.lock_swap_time_before is None  # the break came before it was read
    assert done.lock_swap_time_before == earlier.swap_time  # read after the new battery went in


@pytest.mark.virtual_board
def test_a_break_after_the_swap_time_was_read_registers_on_resume_without_a_second_swap(lock, fleet):
    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, Hooks(lock), client_factory=dropping).run(lock.lock_id)
    swap = fleet.swap(broke.value.swap.swap_id)
    assert (swap.registered, swap.lock_swap_time_before) == (False, 0)  # read: the lock had none
    assert swap_events(lock) == []

    hooks = Hooks(lock)
    outcome = flow(fleet, hooks).resume(swap.swap_id)
    assert outcome.verdict == "passed", outcome.message
    assert hooks.swaps == 0  # the swap time was read after the battery went in: it is in
    assert len(swap_events(lock)) == 1
    assert fleet.swap(swap.swap_id).lock_swap_time == lock.command("battery")["last_swap"]


@pytest.mark.virtual_board
def test_a_swap_registered_by_another_key_meanwhile_counts_and_is_not_registered_again(lock, fleet):
    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, Hooks(lock), client_factory=dropping).run(lock.lock_id)
    colleague = issue(fleet, lock.lock_id, wire.ROLE_STAFF, person="A Colleague", keyfile=False)
    theirs = register_directly(lock, colleague)  # after the new battery went in

    hooks = Hooks(lock)
    outcome = flow(fleet, hooks).resume(broke.value.swap.swap_id)
    assert outcome.verdict == "passed", outcome.message
    assert hooks.swaps == 0
    events = swap_events(lock)
    assert [e[3][3] for e in events] == [colleague.key_id]  # one registration: the colleague's
    assert fleet.swap(broke.value.swap.swap_id).lock_swap_time == theirs.swap_time


@pytest.mark.virtual_board
def test_the_swap_time_before_is_kept_before_the_request_and_refused_once_registered(lock, fleet):
    swap = fleet.begin_swap(lock.lock_id, PERSON)
    assert fleet.record_lock_swap_before(swap.swap_id, 0).lock_swap_time_before == 0
    kept = fleet.record_lock_swap_before(swap.swap_id, 1_800_000_000)
    assert kept.lock_swap_time_before == 1_800_000_000  # read again on a retry
    registered = fleet.mark_swap_registered(swap.swap_id, 3500, lock_swap_time=1_800_000_900)
    assert (registered.lock_swap_time_before, registered.lock_swap_time) == (1_800_000_000, 1_800_000_900)
    with pytest.raises(Exception, match="registered already"):
        fleet.record_lock_swap_before(swap.swap_id, 1)
    again = fleet.mark_swap_registered(swap.swap_id, 3300, lock_swap_time=5)
    assert again.lock_swap_time == 1_800_000_900  # the first registration stays
