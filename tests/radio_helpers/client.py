"""A client process for the radio tests: only the ordinary bleak API, with config's kwargs.

Usage: client.py COMMAND ARGS... with HEMLAS_RADIO=virtual:<socket> set. Each command prints
one JSON object as its last line (`hold`, `stall` and `go` print one line earlier, too).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from radio_echo import (NOTIFY, OTHER_SERVICE, READ_ONLY, READ_ONLY_VALUE, REFUSING, SERVICE,
                        STALLING, WRITE)

from hemlas.radio.config import client_kwargs, scanner_kwargs

_ROUND_TRIPS = 50
_FIND_TIMEOUT_S = 5.0


def emit(**result) -> None:
    print(json.dumps(result), flush=True)


async def timed_error(operation) -> dict:
    """Run an operation that should fail; report the error's type, code and duration."""
    start = time.perf_counter()
    try:
        await operation
    except (BleakError, TimeoutError) as err:
        code = err.code if isinstance(err, BleakGATTProtocolError) else None
        return {"error": type(err).__name__, "code": code, "s": time.perf_counter() - start}
    return {"error": None, "s": time.perf_counter() - start}


async def scan(name: str, other_name: str) -> None:
    seen: dict[str, list[float]] = {}  # report times by address

    def on_report(device, _adv) -> None:
        seen.setdefault(device.address, []).append(time.perf_counter())

    async with BleakScanner(on_report, **scanner_kwargs()) as scanner:
        await asyncio.sleep(1.0)
    found = scanner.discovered_devices_and_advertisement_data
    intervals = [b - a for times in seen.values() for a, b in zip(times, times[1:])]
    filtered = await BleakScanner.discover(timeout=1.0, service_uuids=[SERVICE],
                                           **scanner_kwargs())
    excluded = await BleakScanner.discover(timeout=1.0, service_uuids=[OTHER_SERVICE],
                                           **scanner_kwargs())
    by_name = await BleakScanner.find_device_by_name(name, _FIND_TIMEOUT_S, **scanner_kwargs())
    by_filter = await BleakScanner.find_device_by_filter(
        lambda d, ad: ad.local_name == other_name and SERVICE in ad.service_uuids,
        _FIND_TIMEOUT_S, **scanner_kwargs())
    emit(found={a: {"name": d.name, "local_name": ad.local_name, "uuids": ad.service_uuids}
                for a, (d, ad) in found.items()},
         filtered=sorted(d.address for d in filtered),
         excluded=[d.address for d in excluded],
         by_name=by_name and by_name.address, by_filter=by_filter and by_filter.address,
         advertising_interval_s=statistics.median(intervals))


async def session(name: str, mtu: str) -> None:
    device = await BleakScanner.find_device_by_name(name, _FIND_TIMEOUT_S, **scanner_kwargs())
    assert device is not None, f"{name} not found"
    start = time.perf_counter()
    async with BleakClient(device, **client_kwargs(mtu=None if mtu == "none" else int(mtu))
                           ) as client:
        connect_s = time.perf_counter() - start
        echoes: asyncio.Queue[bytearray] = asyncio.Queue()
        await client.start_notify(NOTIFY, lambda _char, data: echoes.put_nowait(data))
        limit = client.mtu_size - 3
        round_trips = []
        for i in range(_ROUND_TRIPS):
            value = bytes([i]) * limit
            start = time.perf_counter()
            await client.write_gatt_char(WRITE, value, response=False)
            assert await asyncio.wait_for(echoes.get(), 2.0) == value
            round_trips.append(time.perf_counter() - start)
        await client.write_gatt_char(WRITE, b"with response", response=True)
        echo_with_response = bytes(await asyncio.wait_for(echoes.get(), 2.0))
        emit(mtu=client.mtu_size, name=client.name, connect_s=connect_s,
             round_trip_s=statistics.median(round_trips),
             echo_with_response=echo_with_response.decode(),
             read_only=bytes(await client.read_gatt_char(READ_ONLY)).decode(),
             oversized=await timed_error(client.write_gatt_char(WRITE, bytes(limit + 1), True)),
             read_only_write=await timed_error(client.write_gatt_char(READ_ONLY, b"x", True)),
             refused_write=await timed_error(client.write_gatt_char(REFUSING, b"x", True)),
             command_to_write_only=await timed_error(
                 client.write_gatt_char(REFUSING, b"x", False)),
             read_only_value_ok=bytes(await client.read_gatt_char(READ_ONLY)) == READ_ONLY_VALUE)


async def hold(address: str) -> None:
    """Stay connected until killed."""
    client = BleakClient(address, **client_kwargs())
    await client.connect()
    emit(connected=client.is_connected)
    await asyncio.sleep(3600)


async def stall(address: str) -> None:
    """Write to a characteristic that never answers, and report how that write ends."""
    dropped = asyncio.Event()
    # The scanner keeps this process's radio host open throughout, as a background scan
    # would: a reconnect after the radio is lost must not reuse the dead host.
    async with (BleakScanner(**scanner_kwargs()),
                BleakClient(address, lambda _client: dropped.set(), **client_kwargs()) as client):
        emit(connected=client.is_connected)
        write = await timed_error(client.write_gatt_char(STALLING, b"x", True))
        emit(write=write, connected=client.is_connected, callback=dropped.is_set(),
             reconnect=await timed_error(
                 BleakClient(address, timeout=1.0, **client_kwargs()).connect()))


async def go(address: str) -> None:
    """Connect when a line arrives on stdin; report how long the connect took."""
    kwargs = client_kwargs()  # imports the backend now, not in the measured time
    emit(ready=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    start = time.perf_counter()
    async with BleakClient(address, **kwargs) as client:
        emit(connect_s=time.perf_counter() - start, connected=client.is_connected)


async def absent(address: str, timeout_s: str, present: str) -> None:
    failed = await timed_error(BleakClient(address, timeout=float(timeout_s),
                                           **client_kwargs()).connect())
    async with BleakClient(present, **client_kwargs()) as client:  # the radio still works
        emit(absent=failed, then_connected=client.is_connected)


async def in_turn(address: str) -> None:
    """Two clients one after the other in one process (the radio is shared, then reopened)."""
    values = []
    for _ in range(2):
        async with BleakClient(address, **client_kwargs()) as client:
            values.append(bytes(await client.read_gatt_char(READ_ONLY)).decode())
    emit(values=values)


COMMANDS = {"scan": scan, "session": session, "hold": hold, "stall": stall, "go": go,
            "absent": absent, "in_turn": in_turn}

if __name__ == "__main__":
    asyncio.run(COMMANDS[sys.argv[1]](*sys.argv[2:]))
