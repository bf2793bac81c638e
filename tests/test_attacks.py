"""Issue 13's findings, replayed on the virtual lock by the independent client
(tests/protocol_client.py: written from docs/protocol.md and docs/security.md, not from
firmware/wire.py). Each failed on the code before the fix.
"""

from __future__ import annotations

import asyncio
import os
import struct

import protocol_client as pc
from log_helpers import console_log
import pytest
from test_security import lock  # noqa: F401  (the fixture: a provisioned, locked virtual lock)

from hemlas.radio import config

pytestmark = pytest.mark.virtual_board


def _key(staff) -> pc.Key:
    return pc.Key(staff.lock_id, staff.key_id, staff.role, staff.not_before, staff.not_after, staff.key,
                  staff.adv_key)


async def _open(key: pc.Key) -> pc.Link:
    """A connection to key's lock, found by its rotating id as the client computes it."""
    device = await pc.find(key.adv_key, **config.scanner_kwargs())
    return await pc.Link.open(device, **config.client_kwargs())


async def _still_serves(key: pc.Key) -> int:
    """A new connection, a session and a STATUS: the lock is connectable and answers."""
    link = await _open(key)
    try:
        assert (await link.hello(key)).status == pc.STATUS["OK"]
        return (await link.request("status")).status
    finally:
        await link.close()


def _expected(parts: list[bytes]) -> list[str]:
    """The answers docs/protocol.md ("Fragments") promises for these writes, in order."""
    out, pending, size, index = [], False, 0, 0
    for part in parts:
        if part[0] & pc.FIRST:
            if pending:
                out.append("FRAGMENT_ORDER")  # the frame it cut short
            pending, size, index = True, 0, 0
        if not pending or part[0] & 0x3F != index:
            out.append("FRAGMENT_ORDER")
            pending = False
            continue
        size += len(part) - 1
        if size > pc.MAX_FRAME:
            out.append("TOO_LARGE")
            pending = False
            continue
        index = (index + 1) & 0x3F
        if part[0] & pc.LAST:
            out.append("frame")
            pending = False
    return out


def test_oversized_frames_are_refused_and_the_lock_stays_connectable(lock):  # noqa: F811
    """Finding 1: 1000 bytes in 243-byte fragments, 700 in 100-byte writes, 65 one-byte
    fragments: TOO_LARGE as the document says, no MemoryError, no fault, still connectable."""
    key = _key(lock.staff_key)
    names = {v: k for k, v in pc.STATUS.items()}

    async def go():
        link = await _open(key)
        seen = []
        for size, chunk in ((1000, 243), (700, 100), (65, 1)):
            # Random but never a readable frame: the length field (bytes 10-11) says 65535.
            data = bytes((pc.VERSION,)) + os.urandom(9) + b"\xff\xff" + os.urandom(size - 12)
            parts = pc.fragments(data, min(chunk, link.chunk))
            for part in parts:
                await link.write(part)
            expected = _expected(parts)
            got = [names.get((await link.answer()).status, "?") for _ in expected]
            seen.append((expected, got))
        await link.close()
        return seen

    for expected, got in asyncio.run(go()):
        assert [("MALFORMED" if e == "frame" else e) for e in expected] == got
    assert lock.crashed is None
    assert asyncio.run(_still_serves(key)) == pc.STATUS["OK"]
    assert not [r for r in console_log(lock) if r[2] == 8], "no fault: nothing ran out of heap"


def test_a_replayed_hello_neither_names_the_key_nor_forgives_the_guessing(lock):  # noqa: F811
    """Finding 2: a recorded HELLO replayed between guesses opens a session that never counts."""
    key = _key(lock.staff_key)
    recorded = pc.hello_frame(key, b"\x42" * 16)  # as a listener captured it

    async def go():
        link = await _open(key)
        for _ in range(3):
            assert (await link.send(recorded)).status == pc.STATUS["OK"]  # documented: it opens
            forged = await link.send(pc.hello_frame(key, os.urandom(16), key_bytes=os.urandom(32)))
            assert forged.status == pc.STATUS["BAD_TAG"] and forged.untagged
        await link.close()

    before = len(console_log(lock))
    asyncio.run(go())
    new = console_log(lock)[before:]
    assert not [r for r in new if r[2] == pc.EVENT_SESSION], "a replay named the victim's key"
    assert lock.command("status")["auth_backoff_ms"] >= 1000, "replays forgave the guessing"
    assert len(new) <= 12
    assert asyncio.run(_still_serves(key)) == pc.STATUS["OK"]
    assert [r for r in console_log(lock) if r[2] == pc.EVENT_SESSION][-1][3][0] == key.key_id
    assert lock.command("status")["auth_backoff_ms"] == 0, "a proven session forgives"


def test_a_staff_key_cannot_push_the_clock_a_day_ahead(lock):  # noqa: F811
    """Finding 4: 144 forward moves of 10 minutes stop at 15 minutes an hour."""
    key = _key(lock.staff_key)
    start = lock.command("status")["clock"]

    async def go():
        link = await _open(key)
        assert (await link.hello(key)).status == pc.STATUS["OK"]
        lock_time, refused = start, 0
        for _ in range(144):
            answer = await link.request("set_clock", struct.pack("<I", lock_time + 600))
            assert answer.direction == pc.RESPONSE_DIRECTION  # carried out: encrypted
            status, now = struct.unpack("<BI", answer.body)
            refused += status == pc.STATUS["CLOCK_REFUSED"]
            lock_time = now
        await link.close()
        return refused

    refused = asyncio.run(go())
    assert refused >= 142, "one move of 10 min, then at most 5 more this hour"
    assert lock.command("status")["clock"] - start <= 900 + 60, "15 min an hour (and the test's own seconds)"


async def _record_rotating_id(adv_key: bytes) -> bytes:
    """The lock's current rotating id, as anyone in range can record it (and play it back)."""
    from bleak import BleakScanner

    seen: list[bytes] = []

    def is_it(_device, adv) -> bool:
        seen[:] = [v for v in pc.rotating_ids(adv.service_uuids) if pc.is_rotating_id_of(v, adv_key)]
        return bool(seen)

    await BleakScanner.find_device_by_filter(is_it, timeout=20, **config.scanner_kwargs())
    assert seen, "the lock was not heard"
    return seen[0]


def _start_fake(radio, lock_id: str, status: int, rotating_id: bytes):
    """A fake lock playing back the real one's recorded advertisement (its rotating id, which
    the client recognises): every request gets an untagged refusal."""
    from bumble import gatt

    async def start():
        device = await radio.hub.add_peripheral(lock_id, "C0:FA:CE:00:00:02")
        response = gatt.Characteristic(pc.RESPONSE, gatt.Characteristic.Properties.NOTIFY,
                                       gatt.Characteristic.READABLE, b"")

        async def answer(connection, request: bytes):
            opcode = request[2] | pc.RESPONSE_BIT
            refusal = pc.frame(opcode, 0, 0, bytes((status,)))  # 16 zero bytes: untagged
            for part in pc.fragments(refusal, connection.att_mtu - 4):
                await device.notify_subscriber(connection, response, part, force=True)

        def on_write(connection, value):
            asyncio.ensure_future(answer(connection, bytes(value)))

        control = gatt.Characteristic(pc.CONTROL, gatt.Characteristic.Properties.WRITE,
                                      gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=on_write))
        device.add_services([gatt.Service(pc.SERVICE, [control, response])])
        adv = bytes([2, 1, 6, 17, 7]) + rotating_id  # Flags, the 128-bit list: the recording
        await device.start_advertising(advertising_data=adv,
                                       advertising_interval_min=100, advertising_interval_max=100)
        return device

    return radio.run(start())


@pytest.mark.parametrize("status, said", [(3, "fully discharged"), (13, "expired")])
def test_a_fake_locks_untagged_refusal_is_reported_as_unverified(lock, radio, status, said):  # noqa: F811
    """Finding 5: a fake's untagged BATTERY_CRITICAL or KEY_EXPIRED is its claim, not the lock's:
    no BatteryCriticalError (the discharged-battery routine); a key refusal is said as
    unverified (UnverifiedRefusalError, so the key file's next key may still be tried)."""
    from hemlas.client import LockClient
    from hemlas.errors import (AuthError, BatteryCriticalError, UnverifiedAnswerError,
                               UnverifiedRefusalError)

    rotating_id = asyncio.run(_record_rotating_id(lock.staff_key.adv_key))
    lock.power_cut()
    fake = _start_fake(radio, lock.lock_id, status, rotating_id)

    async def go():
        async with LockClient(lock.lock_id, key=lock.staff_key) as client:
            await client.unlock()

    try:
        with pytest.raises(Exception) as caught:
            asyncio.run(go())
    finally:
        radio.run(radio.hub.remove_peripheral(fake))
    err = caught.value
    assert not isinstance(err, BatteryCriticalError), f"believed the fake: {err!r}"
    if isinstance(err, AuthError):
        assert isinstance(err, UnverifiedRefusalError), f"believed the fake: {err!r}"
    else:
        assert isinstance(err, UnverifiedAnswerError)
    assert err.status == status
    assert "an unverified answer (not from the lock, or tampered) said:" in str(err) and said in str(err)
