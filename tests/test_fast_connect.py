"""A faster connection (issue 14): the client reuses the GATT handles it verified on a lock's
address and connects straight to an address it saw moments ago; requests in a session go
as writes without response. Never at the price of writing to a handle that is not the lock's.

ATT traffic is counted here in Bumble's GATT client (every request that waits for a
response, and every command), independently of benchmarks/att_counter.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from bleak import BleakClient
from bumble import att, gatt_client

import hemlas.client
from fleet_helpers import issue
from hemlas.client import DIRECT_CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S, LockClient
from hemlas.codes import LockState
from hemlas.errors import LockNotFoundError
from hemlas.firmware import wire
from hemlas.handle_cache import ADDRESS_FRESH_S, FORGET_AFTER_S, GattLayout, HandleCache
from test_security import lock  # noqa: F401  (the fixture: a provisioned, locked virtual lock)

pytestmark = pytest.mark.virtual_board

GOAL_ROUND_TRIPS = 4  # connect to the first request, at MTU 247 (issue 14)
_DISCOVERY = (att.ATT_Read_By_Group_Type_Request, att.ATT_Find_By_Type_Value_Request,
              att.ATT_Read_By_Type_Request, att.ATT_Find_Information_Request)


class AttLog:
    """Every ATT request (with whether it was refused) and command this process's client sends."""

    def __init__(self, monkeypatch):
        self.requests: list[tuple[att.ATT_PDU, bool]] = []
        self.commands: list[att.ATT_PDU] = []
        send_request, send_command = gatt_client.Client.send_request, gatt_client.Client.send_command

        async def request(client, pdu):
            response = await send_request(client, pdu)
            self.requests.append((pdu, isinstance(response, att.ATT_Error_Response)))
            return response

        async def command(client, pdu):
            self.commands.append(pdu)
            return await send_command(client, pdu)

        monkeypatch.setattr(gatt_client.Client, "send_request", request)
        monkeypatch.setattr(gatt_client.Client, "send_command", command)

    def mark(self) -> tuple[int, int]:
        return len(self.requests), len(self.commands)

    def since(self, mark: tuple[int, int]) -> dict:
        requests, commands = self.requests[mark[0]:], self.commands[mark[1]:]
        return {"round_trips": len(requests),
                "discovery": sum(isinstance(pdu, _DISCOVERY) for pdu, _ in requests),
                "commands": len(commands),
                "writes": [(pdu.attribute_handle, refused) for pdu, refused in requests
                           if isinstance(pdu, att.ATT_Write_Request)]
                + [(pdu.attribute_handle, False) for pdu in commands]}


@pytest.fixture
def scans(monkeypatch):
    """How many times the client scanned for a lock."""
    calls = []
    find_lock = hemlas.client.find_lock

    async def counted(*args, **kwargs):
        calls.append(args[0])
        return await find_lock(*args, **kwargs)

    monkeypatch.setattr(hemlas.client, "find_lock", counted)
    return calls


async def _session(lock_id: str, then=None, **kwargs):
    client = LockClient(lock_id, sync_clock=False, **kwargs)
    await client.connect()
    try:
        return await then(client) if then else None
    finally:
        await client.disconnect()
        await asyncio.sleep(0.3)  # the lock advertises again


def _learnt(lock_id: str) -> tuple[str, GattLayout]:
    """The address and layout the client verified (in the handle cache beside the key file)."""
    entry = json.loads(HandleCache().path.read_text())["locks"][lock_id]
    return entry["address"], GattLayout(**entry["layout"])


def test_a_warm_connect_takes_at_most_four_round_trips_to_the_first_request(lock, monkeypatch, scans):
    log = AttLog(monkeypatch)
    asyncio.run(_session(lock.lock_id))  # cold: a scan and a discovery, and the client learns
    assert len(scans) == 1

    counted = {}

    async def unlock_counted(client):
        counted["connect"] = log.since(start)
        before = log.mark()
        result = await client.unlock()
        counted["request"] = log.since(before)
        return result

    start = log.mark()
    result = asyncio.run(_session(lock.lock_id, unlock_counted))
    assert result.state == LockState.UNLOCKED and lock.bolt_position < 0.05
    connect, request = counted["connect"], counted["request"]
    assert len(scans) == 1, "the warm connect scanned: it knew where the lock was"
    assert connect["discovery"] == 0, connect
    # MTU exchange, the CCCD write, the HELLO: nothing else before the first request.
    assert connect["round_trips"] <= GOAL_ROUND_TRIPS, connect
    # The unlock is one write without response; its answer is the first packet back.
    assert request["round_trips"] == 0 and request["commands"] == 1, request


def _corrupt_platform_cache(radio, address: str) -> dict:
    """Swap the control and response characteristics' handles in the virtual radio's GATT
    cache (what the platform would serve for this address); returns the true handles."""
    path = radio.socket_path + ".gatt-cache.json"
    entries = json.loads(open(path).read())
    (service,) = entries[address.upper()]
    control, response = service["characteristics"]
    truth = {"control": control["handle"], "cccd": response["descriptors"][0]["handle"]}
    control["handle"], response["handle"] = response["handle"], control["handle"]
    with open(path, "w") as file:
        json.dump(entries, file)
    return truth


def test_a_platform_cache_that_differs_from_the_verified_handles_is_not_written_to(
        lock, radio, monkeypatch):
    log = AttLog(monkeypatch)
    asyncio.run(_session(lock.lock_id))
    address, layout = _learnt(lock.lock_id)
    truth = _corrupt_platform_cache(radio, address)

    start = log.mark()
    assert asyncio.run(_session(lock.lock_id, lambda c: c.status())).state == LockState.LOCKED
    seen = log.since(start)
    assert seen["discovery"] > 0, "the wrong cached services were used, not rediscovered"
    # Not one write went anywhere but the lock's control value and the response's CCCD.
    assert {handle for handle, _ in seen["writes"]} == {truth["control"], truth["cccd"]}, seen["writes"]
    assert _learnt(lock.lock_id) == (address, layout)

    start = log.mark()  # and the platform's cache was refreshed: warm again
    asyncio.run(_session(lock.lock_id))
    assert log.since(start)["round_trips"] <= GOAL_ROUND_TRIPS


def test_cached_handles_the_lock_refuses_are_dropped_at_once_and_rediscovered(lock, radio, monkeypatch):
    """Both caches wrong alike (as they would be after a re-flash under the same address,
    which a private address rules out, but a bug might not): the first write to the wrong
    control handle is a write request, refused then and there, not a HELLO lost in silence."""
    log = AttLog(monkeypatch)
    asyncio.run(_session(lock.lock_id))
    address, layout = _learnt(lock.lock_id)
    truth = _corrupt_platform_cache(radio, address)
    cache = HandleCache()
    cache.verified(lock.lock_id, address, GattLayout(layout.service, layout.response, layout.control,
                                                     layout.cccd), private=True)

    start, began = log.mark(), time.monotonic()
    assert asyncio.run(_session(lock.lock_id, lambda c: c.status())).state == LockState.LOCKED
    took = time.monotonic() - began
    seen = log.since(start)
    wrong = [(handle, refused) for handle, refused in seen["writes"]
             if handle not in (truth["control"], truth["cccd"])]
    assert wrong and all(refused for _, refused in wrong), f"a write to a wrong handle went unrefused: {wrong}"
    assert seen["discovery"] > 0
    assert took < REQUEST_TIMEOUT_S / 2, f"{took:.1f} s: the refusal was waited out, not heard"
    assert _learnt(lock.lock_id) == (address, layout), "the verified handles are the true ones again"


ROTATION_MS = 4000


@pytest.fixture
def cache_asked(monkeypatch):
    """(address, whether the platform's cached services were asked for) of every BleakClient."""
    asked = []

    class Recording(BleakClient):
        def __init__(self, target, *args, winrt=None, **kwargs):
            address = target if isinstance(target, str) else target.address
            asked.append((address, bool((winrt or {}).get("use_cached_services"))))
            super().__init__(target, *args, winrt=winrt or {}, **kwargs)

    monkeypatch.setattr(hemlas.client, "BleakClient", Recording)
    return asked


def test_a_rotated_address_falls_back_to_a_scan_and_a_discovery(radio, boot_board, fleet, monkeypatch,
                                                               scans, cache_asked):
    vb = boot_board(radio=radio, bolt=1.0, id_rotation_ms=ROTATION_MS)
    vb.provision(fleet)
    issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    log = AttLog(monkeypatch)
    asyncio.run(_session(vb.lock_id))
    old_address, _ = _learnt(vb.lock_id)
    time.sleep(ROTATION_MS / 1000 + 0.5)  # nobody connected: the lock makes a new address

    start = log.mark()
    assert asyncio.run(_session(vb.lock_id, lambda c: c.unlock())).state == LockState.UNLOCKED
    new_address, _ = _learnt(vb.lock_id)
    assert new_address != old_address
    assert len(scans) == 2, "no scan after the known address failed"
    assert (old_address, True) in cache_asked, "the known address was not tried first"
    # Handles are trusted on the address they were verified on only: the lock may have
    # rebooted (into new firmware) since, so a new one is discovered.
    assert log.since(start)["discovery"] > 0
    assert (new_address, True) not in cache_asked, "cached services asked for on an unverified address"

    # The same when a scan, not a failed direct connect, brings news of a new address.
    time.sleep(ROTATION_MS / 1000 + 0.5)

    async def found_by_a_scan():
        client = LockClient(vb.lock_id, sync_clock=False)
        await client.connect(await hemlas.client.find_lock(vb.lock_id))
        await client.disconnect()

    asyncio.run(found_by_a_scan())
    third_address, _ = _learnt(vb.lock_id)
    assert third_address not in (old_address, new_address)
    assert (third_address, True) not in cache_asked, "cached services asked for on an unverified address"


def test_a_lock_neither_at_its_address_nor_advertising_is_not_found(lock):
    asyncio.run(_session(lock.lock_id))
    lock.power_cut()
    began = time.monotonic()
    with pytest.raises(LockNotFoundError):
        asyncio.run(_session(lock.lock_id, scan_timeout=1.0))
    assert time.monotonic() - began < DIRECT_CONNECT_TIMEOUT_S + 1.0 + 3.0


def test_an_unreadable_handle_cache_is_an_empty_one(lock, monkeypatch, scans):
    path = HandleCache().path
    path.write_text("{not json")
    assert asyncio.run(_session(lock.lock_id, lambda c: c.status())).state == LockState.LOCKED
    assert len(scans) == 1
    assert _learnt(lock.lock_id)[1] is not None  # written afresh


def test_a_known_address_is_gone_to_straight_only_while_fresh_and_not_after_a_miss():
    cache, now = HandleCache(in_memory=True), time.time()
    cache.saw("HL-000001", "4A:00:00:00:00:01", now=now)
    assert cache.address("HL-000001", now=now + ADDRESS_FRESH_S - 1) == "4A:00:00:00:00:01"
    assert cache.address("HL-000001", now=now + ADDRESS_FRESH_S + 1) is None
    cache.missed("HL-000001")
    assert cache.address("HL-000001", now=now) is None
    cache.saw("HL-000001", "4A:00:00:00:00:01", now=now)  # a scan found it there after all
    assert cache.address("HL-000001", now=now) == "4A:00:00:00:00:01"
    # Old entries go: the file is no record of which doors were visited, and when.
    seen_long_ago = now - FORGET_AFTER_S - 1
    cache.saw("HL-000002", "4A:00:00:00:00:02", now=seen_long_ago)
    assert cache.address("HL-000002", now=seen_long_ago) is None, "kept past FORGET_AFTER_S"
