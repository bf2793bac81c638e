"""Visits from a virtual lock's own event log, through the real client, radio, CLI and store:
each connection syncs the log; a sync cut by the lock losing power is resumed by the next
connection with nothing lost or doubled; manual visits are refused without a note."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from fleet_helpers import issue
from hemlas import cli
from hemlas.client import LockClient
from hemlas.errors import LockError
from hemlas.firmware import wire
from hemlas.sim.flashlog import write_event_log
from hemlas.sync import sync_log

pytestmark = pytest.mark.virtual_board

CUSTOMER = "1001"


@pytest.fixture
def lock(radio, boot_board, fleet):
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    fleet.add_customer(CUSTOMER, "Customer One", "Storgatan 1")
    fleet.assign_lock(vb.lock_id, CUSTOMER)
    return vb


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unlock_and_lock_by_a_carer_is_a_visit_in_the_listing(lock, fleet, capsys, tmp_path):
    issue(fleet, lock.lock_id, wire.ROLE_STAFF, person="Anna Andersson")
    before = int(time.time()) - 60
    assert _cli(capsys, "unlock", lock.lock_id)[0] == 0
    assert _cli(capsys, "lock", lock.lock_id)[0] == 0
    # Nothing but the field commands synced the log: the store has every event the lock has.
    cursor = fleet.sync_cursor(lock.lock_id)
    assert cursor.next_seq == lock.command("status")["next_seq"]
    code, out, _ = _cli(capsys, "visits", CUSTOMER, "--from", time.strftime("%Y-%m-%dT%H:%M", time.localtime(before)),
                        "--json", "--csv", str(tmp_path / "visits.csv"))
    assert code == 0
    [visit] = json.loads(out)
    assert visit["person"] == "Anna Andersson" and visit["source"] == "lock" and visit["lock_id"] == lock.lock_id
    assert visit["in"] and visit["out"] and visit["in"] <= visit["out"]
    assert (tmp_path / "visits.csv").read_text(encoding="utf-8-sig").splitlines()[0].startswith("customer_number,person,in,out")
    assert (tmp_path / "visits.csv").stat().st_mode & 0o077 == 0  # it names customers: owner-only
    assert visit["in"][-6] in "+-"  # local time with its UTC offset, unambiguous in the autumn
    code, _, err = _cli(capsys, "visits", CUSTOMER, "--csv", str(tmp_path / "no-such-dir" / "v.csv"))
    assert code == 1 and "cannot write" in err


def test_a_sync_cut_by_a_power_cut_is_resumed_without_loss_or_duplicates(radio, boot_board, fleet, tmp_path):
    flash = tmp_path / "flash-with-history"
    start = int(time.time()) - 86400 * 30
    # A month of visits already in the lock's log (key 77: not this store's, so no visit rows).
    write_event_log(flash, ((start + 3600 * i, wire.EVENT_UNLOCKED if i % 2 == 0 else wire.EVENT_LOCKED,
                             (900, 3100, 1, 77)) for i in range(60)))
    lock = boot_board(radio=radio, flash=flash)
    lock.provision(fleet)
    key = issue(fleet, lock.lock_id, wire.ROLE_STAFF, person="Bo Berg")
    pages_before_cut = 3

    async def cut_sync():
        async with LockClient(lock.lock_id, key=key) as client:
            real = client.read_log_page
            pages = 0

            async def read_then_cut(from_seq):
                nonlocal pages
                pages += 1
                if pages > pages_before_cut:
                    lock.power_cut()  # mid-sync: the lock goes dark
                return await real(from_seq)

            client.read_log_page = read_then_cut
            await sync_log(client, fleet)

    with pytest.raises(LockError):
        asyncio.run(cut_sync())
    partial = fleet.sync_cursor(lock.lock_id).next_seq
    assert partial == 1 + pages_before_cut * wire.MAX_LOG_RECORDS  # both whole pages kept
    lock.power_on()

    async def resume():
        async with LockClient(lock.lock_id, key=key) as client:
            result = await sync_log(client, fleet)
            return result, await client.read_log(0)

    result, on_lock = asyncio.run(resume())
    stored = fleet.lock_events(lock.lock_id)
    assert [(e.seq, e.at, e.type, tuple(e.fields)) for e in stored] == \
        [(r.seq, r.time, r.type, r.fields) for r in on_lock][:len(stored)]
    assert len(stored) >= len(on_lock) - 2  # only what the resumed sync's own session logged after
    assert result.lost == 0 and result.duplicates == 1  # the one record re-read to check the log


def test_manual_visit_is_refused_without_a_note_and_marked_in_listings(lock, fleet, capsys):
    at = "now"  # the lock was mounted moments ago: a visit before that would be refused
    code, _, err = _cli(capsys, "visits", "register-manual", CUSTOMER, "--at", at, "--by", "Anna")
    assert code == 1 and "needs a note saying why" in err
    code, _, err = _cli(capsys, "visits", "register-manual", CUSTOMER, "--at", at, "--by", "Anna", "--note", "  ")
    assert code == 1 and "needs a note saying why" in err
    code, _, err = _cli(capsys, "visits", "register-manual", CUSTOMER, "--at", at, "--by", "Anna",
                        "--note", "x", "--from", "2026-01-01")
    assert code == 1 and "for listing visits" in err
    assert fleet.visits(CUSTOMER, 0, int(time.time()) + 60) == []
    code, out, _ = _cli(capsys, "visits", "register-manual", CUSTOMER, "--at", at, "--by", "Anna",
                        "--note", "The lock did not answer; used the physical key")
    assert code == 0 and "manual visit #" in out
    code, out, _ = _cli(capsys, "visits", CUSTOMER)
    assert code == 0 and "MANUAL" in out and "used the physical key" in out
    code, out, _ = _cli(capsys, "visits", CUSTOMER, "--json")
    assert [v["source"] for v in json.loads(out)] == ["manual"]
