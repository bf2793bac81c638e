"""The guided battery swap (`hemlas battery-swap`, docs/battery-swap.md) on the virtual board,
through the real client, radio and fleet store. Only the person is played by the test: the
flow's hooks swap the virtual battery where the CLI would ask a human to."""

import json
import os
from datetime import datetime
import subprocess
import sys

import pytest

from fleet_helpers import issue
from hemlas.client import LockClient
from hemlas.commands.swap_flow import SwapFlow, SwapHooks, SwapInterrupted
from hemlas.codes import LockState
from hemlas.errors import HemlasError, LockDisconnectedError
from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board

CUSTOMER = "0123"
PERSON = "Eva Karlsson"  # a carer: the routine has care staff swap and register


@pytest.fixture
def lock(radio, boot_board, fleet):
    """A locked, provisioned virtual lock with customer 0123 and the carer's staff key."""
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    fleet.add_customer(CUSTOMER, "Anna Andersson")
    fleet.assign_lock(vb.lock_id, CUSTOMER)
    vb.person_key = issue(fleet, vb.lock_id, wire.ROLE_STAFF, person=PERSON)
    return vb


class BoardHooks(SwapHooks):
    """The technician at a virtual lock: swaps in a `battery` cell when told to, and runs
    `on_stage`/`on_cycle` (a test's way to break the flow off at a chosen point)."""

    def __init__(self, vb, battery="fresh", on_stage=None, on_cycle=None):
        self.vb, self.battery = vb, battery
        self.on_stage, self.on_cycle = on_stage, on_cycle
        self.swaps, self.stages, self.confirmed = 0, [], 0

    def confirm(self, lock, customer, reading):
        self.confirmed += 1
        assert (lock.lock_id, customer.customer_number) == (self.vb.lock_id, CUSTOMER)
        return True

    def swap_battery(self, swap):
        self.swaps += 1
        self.vb.swap_battery(self.battery)  # old cell out (the lock goes down), new one in

    def stage(self, swap):
        self.stages.append(swap.stage)
        if self.on_stage:
            self.on_stage(swap)

    def cycle(self, cycle, done, total):
        if self.on_cycle:
            self.on_cycle(cycle)


def flow(store, hooks, person=PERSON, **kwargs):
    return SwapFlow(store, person, hooks=hooks, cycles=5, scan_timeout=2.0, reboot_wait_s=15.0,
                    **kwargs)


def log_records(vb):
    records, answer = [], vb.command("log 0")
    while answer["records"]:
        records += answer["records"]
        answer = vb.command(f"log {records[-1][0] + 1}")
    return records


def swap_events(vb):
    """The lock's own record: every registered swap in its event log."""
    return [r for r in log_records(vb) if r[2] == wire.EVENT_BATTERY_SWAP]


def assert_verified(swap, cycles=10):
    """Passed, with every cycle index once, alternating, at least five of each succeeding."""
    assert swap.status == "passed" and swap.stage == "done" and swap.registered
    assert [c.cycle_index for c in swap.cycles] == list(range(cycles))
    actions = [c.action for c in swap.cycles]
    assert all(a != b for a, b in zip(actions, actions[1:])), actions
    for action in ("lock", "unlock"):
        ok = [c for c in swap.cycles if c.action == action and c.result == wire.STATUS_OK]
        assert len(ok) >= 5
        assert all(c.travel_ms > 0 and c.loaded_mv > 3000 for c in ok)


def test_a_swap_is_checked_confirmed_registered_and_verified(lock, fleet):
    hooks = BoardHooks(lock)
    outcome = flow(fleet, hooks).run(lock.lock_id)
    assert outcome.verdict == "passed", outcome.message
    assert (hooks.confirmed, hooks.swaps, hooks.stages) == (1, 1, ["confirmed", "registered"])
    swap = fleet.swap(outcome.swap.swap_id)
    assert_verified(swap)
    assert swap.cycles[0].action == "unlock"  # the bolt was locked: unlock comes first
    assert swap.person == PERSON and swap.customer_number == CUSTOMER
    assert swap.loaded_mv_at_registration > 3400
    assert fleet.last_swap(lock.lock_id).swap_id == swap.swap_id
    assert lock.command("battery")["last_swap"] >= swap.started_at - 5
    assert len(swap_events(lock)) == 1
    assert {r.source for r in fleet.battery_readings(lock.lock_id)} == {"swap"}
    assert not fleet.pending_swaps(lock.lock_id)


@pytest.mark.parametrize("replacement", ["low", "discharged"])
def test_a_depleted_replacement_is_refused_and_not_counted(lock, fleet, replacement):
    outcome = flow(fleet, BoardHooks(lock, battery=replacement)).run(lock.lock_id)
    assert outcome.verdict == "refused"
    assert "depleted" in outcome.message and "another new battery" in outcome.message
    swap = fleet.swap(outcome.swap.swap_id)
    assert (swap.status, swap.registered, swap.cycles) == ("refused", False, ())
    assert fleet.last_swap(lock.lock_id) is None  # nothing counts as swapped
    assert lock.command("battery")["last_swap"] == 0 and not swap_events(lock)


def test_a_silent_lock_is_not_swapped(lock, fleet):
    lock.power_cut()
    hooks = BoardHooks(lock)
    outcome = flow(fleet, hooks).run(lock.lock_id)
    assert outcome.verdict == "discharged"
    assert "does not answer" in outcome.message and "Do NOT swap" in outcome.message
    assert "self-test" in outcome.message and "Nothing was registered" in outcome.message
    assert hooks.confirmed == hooks.swaps == 0
    assert fleet.swaps(lock.lock_id) == []


@pytest.mark.parametrize("broken_off_before", [False, True])
def test_a_critical_battery_is_not_swapped(lock, fleet, broken_off_before):
    # broken_off_before: a run confirmed a swap and broke off before it; that swap stays pending.
    earlier = fleet.begin_swap(lock.lock_id, "Someone Else") if broken_off_before else None
    lock.set_battery("discharged")
    hooks = BoardHooks(lock)
    outcome = flow(fleet, hooks).run(lock.lock_id)
    assert outcome.verdict == "discharged"
    assert "battery reads CRITICAL" in outcome.message and "Do NOT swap" in outcome.message
    assert hooks.swaps == hooks.confirmed == 0
    assert fleet.last_battery_reading(lock.lock_id).state == wire.BATTERY_CRITICAL
    if earlier is None:
        assert "Nothing was registered" in outcome.message and fleet.swaps(lock.lock_id) == []
        return
    assert f"{earlier.swap_id} stays pending" in outcome.message
    assert [s.swap_id for s in fleet.swaps(lock.lock_id)] == [earlier.swap_id]
    assert fleet.swap(earlier.swap_id).status == "pending" and not fleet.swap(earlier.swap_id).registered


def test_power_lost_mid_verification_resumes_without_doubling_a_cycle(lock, fleet):
    def cut_after_three(cycle):
        if cycle.cycle_index == 2:
            lock.power_cut()

    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, BoardHooks(lock, on_cycle=cut_after_three)).run(lock.lock_id)
    swap_id = broke.value.swap.swap_id
    assert f"--resume {swap_id}" in str(broke.value)
    swap = fleet.swap(swap_id)
    assert (swap.status, swap.stage, len(swap.cycles)) == ("pending", "verifying", 3)

    lock.power_on()
    hooks = BoardHooks(lock)
    outcome = flow(fleet, hooks).run(lock.lock_id)  # the same lock again: its pending swap
    assert outcome.verdict == "passed", outcome.message
    assert outcome.swap.swap_id == swap_id and hooks.swaps == hooks.confirmed == 0
    assert_verified(fleet.swap(swap_id))
    assert len(swap_events(lock)) == 1


class LosesRegistrationAnswer(LockClient):
    """The lock registers the swap, but its answer never arrives (the link drops)."""

    async def register_battery_swap(self):
        await super().register_battery_swap()
        raise LockDisconnectedError(self.lock_id, "the link dropped before the answer")


def test_a_registration_whose_answer_was_lost_is_not_registered_twice(lock, fleet):
    def losing(lock_id, scan_timeout, key):
        return LosesRegistrationAnswer(lock_id, key=key, scan_timeout=scan_timeout)

    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, BoardHooks(lock), client_factory=losing).run(lock.lock_id)
    swap = fleet.swap(broke.value.swap.swap_id)
    assert (swap.status, swap.stage, swap.registered) == ("pending", "confirmed", False)
    assert len(swap_events(lock)) == 1  # the lock has it; the store does not

    hooks = BoardHooks(lock)
    outcome = flow(fleet, hooks).resume(swap.swap_id)
    assert outcome.verdict == "passed", outcome.message
    assert hooks.swaps == 0  # the lock's last swap showed the battery was already in
    assert_verified(fleet.swap(swap.swap_id))
    assert len(swap_events(lock)) == 1


def test_ctrl_c_after_registration_then_resume(lock, fleet):
    def interrupt(swap):
        if swap.stage == "registered":
            raise KeyboardInterrupt

    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, BoardHooks(lock, on_stage=interrupt)).run(lock.lock_id)
    swap = fleet.swap(broke.value.swap.swap_id)
    assert (swap.status, swap.stage, swap.cycles) == ("pending", "registered", ())
    last_swap = lock.command("battery")["last_swap"]
    assert last_swap and len(swap_events(lock)) == 1

    hooks = BoardHooks(lock)
    outcome = flow(fleet, hooks).resume(swap.swap_id)
    assert outcome.verdict == "passed", outcome.message
    assert hooks.swaps == 0 and hooks.stages == []
    assert_verified(fleet.swap(swap.swap_id))
    assert lock.command("battery")["last_swap"] == last_swap and len(swap_events(lock)) == 1
    with pytest.raises(Exception, match="already finished"):
        flow(fleet, hooks).resume(swap.swap_id)


def _hemlas(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "hemlas.cli", "battery-swap", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_cli_swap_with_yes_prints_one_json_document(lock, fleet):
    lock.swap_battery("fresh")  # the technician swapped before running the command with --yes
    result = _hemlas("--customer", CUSTOMER, "--yes", "--json", "--cycles", "5")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == "passed" and document["lock_id"] == lock.lock_id
    assert "lock" not in document
    assert document["customer"] == {"customer_number": CUSTOMER, "name": "Anna Andersson"}
    assert document["swap"]["status"] == "passed" and document["swap"]["person"] == PERSON
    assert [c["cycle_index"] for c in document["cycles"]] == list(range(10))
    assert fleet.last_swap(lock.lock_id).swap_id == document["swap"]["swap_id"]
    # The output vocabulary (formats.py): ISO times with offset, states as names beside codes.
    swap = fleet.swap(document["swap"]["swap_id"])
    for name in ("started_at", "registered_at", "finished_at", "lock_swap_time"):
        assert datetime.fromisoformat(document["swap"][name]).timestamp() == getattr(swap, name)
    assert document["check"]["last_swap"] is None  # the lock had registered no swap before
    assert document["swap"]["lock_swap_time_before"] is None  # none, read before registering
    first = document["cycles"][0]
    assert (first["state"], first["state_code"]) == ("unlocked", wire.LOCK_UNLOCKED)
    assert (first["result"], first["result_code"]) == ("ok", wire.STATUS_OK)
    assert datetime.fromisoformat(first["at"]).tzinfo is not None
    assert document["check"]["state"] == "ok" and document["check"]["state_code"] == wire.BATTERY_OK
    assert (document["door_found"], document["door_now"]) == ("locked", "locked")
    assert document["door_now_code"] == wire.LOCK_LOCKED


def test_cli_answer_no_records_no_swap_and_a_short_cycle_count_is_refused(lock, fleet):
    result = _hemlas("--lock", lock.lock_id, stdin="n\n")
    assert result.returncode == 0, result.stderr
    assert f"Register battery swap for lock {lock.lock_id} at customer {CUSTOMER} " \
           f"(Anna Andersson)? [y/N]" in result.stderr
    assert "nothing was registered" in result.stdout
    assert fleet.swaps(lock.lock_id) == []
    result = _hemlas("--lock", lock.lock_id, "--cycles", "4", "--yes")
    assert result.returncode == 2 and "at least 5" in result.stderr


def test_a_jam_during_verification_fails_the_swap_but_the_battery_counts_as_swapped(lock, fleet):
    def jam(swap):
        if swap.stage == "registered":
            lock.jam(0.5)

    outcome = flow(fleet, BoardHooks(lock, on_stage=jam)).run(lock.lock_id)
    assert outcome.verdict == "failed" and "cycle 0 (unlock) failed" in outcome.message
    swap = fleet.swap(outcome.swap.swap_id)
    assert (swap.status, swap.registered, len(swap.cycles)) == ("failed", True, 1)
    assert swap.cycles[0].result == wire.STATUS_JAMMED
    assert fleet.last_swap(lock.lock_id).swap_id == swap.swap_id


# ---- whose key: the person's (issue 11) -------------------------------------------------------

def moves_and_swaps_since(vb, seq):
    """(type, key id) of every lock, unlock and registered swap the lock logged from seq on."""
    fields_key = {wire.EVENT_LOCKED: 3, wire.EVENT_UNLOCKED: 3, wire.EVENT_BATTERY_SWAP: 3}
    return [(r[2], r[3][fields_key[r[2]]]) for r in log_records(vb)
            if r[0] >= seq and r[2] in fields_key]


def test_the_swap_and_its_moves_are_logged_under_the_persons_own_key(lock, fleet):
    # Another person's more privileged key on the same device is never used for this person.
    other = issue(fleet, lock.lock_id, wire.ROLE_TECHNICIAN, person="Olle Tekniker")
    start = lock.command("status")["next_seq"]
    outcome = flow(fleet, BoardHooks(lock)).run(lock.lock_id)
    assert outcome.verdict == "passed", outcome.message
    logged = moves_and_swaps_since(lock, start)
    assert {key_id for _, key_id in logged} == {lock.person_key.key_id} != {other.key_id}
    types = [t for t, _ in logged]
    assert types.count(wire.EVENT_BATTERY_SWAP) == 1
    assert types.count(wire.EVENT_LOCKED) >= 5 and types.count(wire.EVENT_UNLOCKED) >= 5


@pytest.mark.parametrize("case", ["no key issued", "revoked", "not on this device"])
def test_a_person_without_a_valid_key_here_is_refused_with_the_next_step(lock, fleet, case):
    person = "Sara Nyanställd"
    if case == "revoked":
        fleet.revoke_key(issue(fleet, lock.lock_id, wire.ROLE_STAFF, person=person).key_id)
    elif case == "not on this device":
        issue(fleet, lock.lock_id, wire.ROLE_STAFF, person=person, keyfile=False)
    with pytest.raises(HemlasError) as refused:
        flow(fleet, BoardHooks(lock), person=person).run(lock.lock_id)
    message = str(refused.value)
    assert f"hemlas keys issue {lock.lock_id} --person '{person}'" in message
    assert {"no key issued": "no key for it was issued", "revoked": "revoked",
            "not on this device": "not in this device's key file"}[case] in message
    assert fleet.swaps(lock.lock_id) == [] and swap_events(lock) == []


def test_cli_refuses_a_person_without_a_key_in_one_line(lock, fleet):
    result = _hemlas("--lock", lock.lock_id, "--person", "Nobody Here", "--yes")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("hemlas: ") and len(result.stderr.strip().splitlines()) == 1
    assert f"hemlas keys issue {lock.lock_id} --person 'Nobody Here'" in result.stderr
    assert "Traceback" not in result.stderr and fleet.swaps(lock.lock_id) == []


# ---- the door as it was found (issue 11) ------------------------------------------------------

@pytest.mark.parametrize("bolt, found", [(1.0, LockState.LOCKED), (0.0, LockState.UNLOCKED)])
def test_the_swap_ends_with_the_door_as_it_was_found(lock, fleet, bolt, found):
    lock.set_bolt(bolt)
    outcome = flow(fleet, BoardHooks(lock)).run(lock.lock_id)
    assert outcome.verdict == "passed", outcome.message
    assert (outcome.door.found, outcome.door.now) == (found, found)
    assert f"the door is {found.name}, as it was found" in outcome.message
    assert (lock.bolt_position >= 0.99) == (found == LockState.LOCKED)


class LosesSecondUnlockAnswer(LockClient):
    """The second unlock happens on the lock, but its answer never arrives."""

    unlocks = 0

    async def unlock(self):
        moved = await super().unlock()
        LosesSecondUnlockAnswer.unlocks += 1
        if LosesSecondUnlockAnswer.unlocks == 2:
            raise LockDisconnectedError(self.lock_id, "the link dropped before the answer")
        return moved


def losing_second_unlock(lock_id, scan_timeout, key):
    return LosesSecondUnlockAnswer(lock_id, key=key, scan_timeout=scan_timeout)


def test_a_resumed_swap_whose_move_answer_was_lost_still_leaves_the_door_locked(lock, fleet):
    """Found locked; an unlock's answer is lost, so a resumed flow makes one move more than it
    records, and its cycles end unlocked: the flow locks the door again."""
    LosesSecondUnlockAnswer.unlocks = 0
    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, BoardHooks(lock), client_factory=losing_second_unlock).run(lock.lock_id)
    outcome = flow(fleet, BoardHooks(lock)).resume(broke.value.swap.swap_id)
    assert outcome.verdict == "passed", outcome.message
    assert outcome.swap.cycles[-1].action == "unlock"  # the verification itself ended unlocked
    assert (outcome.door.found, outcome.door.now) == (LockState.LOCKED, LockState.LOCKED)
    assert lock.bolt_position >= 0.99


def test_when_the_door_cannot_be_brought_back_the_outcome_says_how_it_is(lock, fleet):
    LosesSecondUnlockAnswer.unlocks = 0
    with pytest.raises(SwapInterrupted) as broke:
        flow(fleet, BoardHooks(lock), client_factory=losing_second_unlock).run(lock.lock_id)

    def jam_after_the_last(cycle):
        if cycle.cycle_index == 9:  # the last verification cycle: the lock back jams
            lock.jam(0.5)

    outcome = flow(fleet, BoardHooks(lock, on_cycle=jam_after_the_last)).resume(broke.value.swap.swap_id)
    assert outcome.verdict == "passed"  # the battery's verification passed; the door did not
    assert outcome.door.now == LockState.JAMMED
    assert "the door is now JAMMED" in outcome.message and "physical key" in outcome.message
