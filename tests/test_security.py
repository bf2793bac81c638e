"""One test per attack on the virtual lock, through the real stack (docs/security.md).

The attacker's tools are the ordinary bleak API and the wire module: whatever can be
captured over the air, replayed or forged. The lock is provisioned over its serial console
and keys come from the fleet store, as in the field.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time

import pytest
from bleak import BleakClient

from fleet_helpers import issue
from hemlas.client import LockClient, find_lock
from hemlas.client import hello_frame as client_hello_frame
from hemlas.codes import LockState, Status
from hemlas.errors import AuthError, BatteryDepletedError, LockAuthenticityError
from hemlas.firmware import wire
from hemlas.radio import config

pytestmark = pytest.mark.virtual_board


@pytest.fixture
def lock(radio, boot_board, fleet):
    """A locked, provisioned virtual lock with a valid staff key in the key file."""
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    vb.staff_key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    return vb


class Wire:
    """A raw link to a lock: what an attacker (or a recording) sees and sends."""

    def __init__(self, client: BleakClient):
        self.client = client
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()
        self._reassembler = wire.Reassembler(wire.MAX_RESPONSE)

    @classmethod
    async def open(cls, lock_id: str):
        client = BleakClient(await find_lock(lock_id), **config.client_kwargs())
        await client.connect()
        link = cls(client)
        await client.start_notify(wire.RESPONSE_CHAR_UUID, link._on_notify)
        return link

    def _on_notify(self, _char, data):
        frame = self._reassembler.feed(bytes(data))
        if frame is not None:
            self.answers.put_nowait(bytes(frame))

    async def send(self, frame: bytes) -> bytes:
        for part in wire.fragment(frame, self.client.mtu_size):
            await self.client.write_gatt_char(wire.CONTROL_CHAR_UUID, part, response=True)
        return await asyncio.wait_for(self.answers.get(), 20)

    async def close(self):
        await self.client.disconnect()


def hello_frame(key, nonce=b"\x01" * 16):
    return client_hello_frame(key, nonce)


def session_of(key, hello_answer, nonce=b"\x01" * 16):
    _, session_id, _, body, _ = wire.decode_frame(hello_answer)
    status, session_id, lock_nonce, _ = struct.unpack(wire.RESPONSE_FORMATS[wire.OP_HELLO], body)
    assert status == Status.OK
    return session_id, wire.derive_session_key(key.key, session_id, nonce, lock_nonce)


def request_frame(session_id, session_key, opcode, counter, payload=b""):
    return wire.seal(session_key, wire.derive_cipher_key(session_key), wire.TAG_REQUEST, opcode,
                     session_id, counter, payload)


def answer_body(answer: bytes, session_key: bytes | None = None) -> bytes:
    """An answer's payload: decrypted when it is tagged as an encrypted answer in the session."""
    _, session_id, counter, body, _ = wire.decode_frame(answer)
    if session_key is not None and wire.check_tag(session_key, wire.TAG_RESPONSE, answer):
        return wire.crypt(wire.derive_cipher_key(session_key), wire.TAG_RESPONSE, session_id, counter, body)
    return body


def status_of(answer: bytes, session_key: bytes | None = None) -> int:
    return answer_body(answer, session_key)[0]


def failures_logged(vb) -> list[int]:
    records = []
    answer = vb.command("log 0")
    while answer["records"]:
        records += answer["records"]
        answer = vb.command(f"log {records[-1][0] + 1}")
    return [r[3][0] for r in records if r[2] == wire.EVENT_AUTH_FAILED]


def valid_key_still_works(vb):
    async def go():
        async with LockClient(vb.lock_id, key=vb.staff_key) as lock:
            return await lock.status()

    assert asyncio.run(go()).state in (LockState.LOCKED, LockState.UNLOCKED)


def test_replayed_unlock_in_the_same_and_a_later_session(lock):
    key = lock.staff_key

    async def go():
        link = await Wire.open(lock.lock_id)
        hello = hello_frame(key)
        session_id, session_key = session_of(key, await link.send(hello))
        unlock = request_frame(session_id, session_key, wire.OP_UNLOCK, 1)
        assert status_of(await link.send(unlock), session_key) == Status.OK  # the genuine one, recorded
        lock.set_bolt(1.0)  # the carer locks the door behind them (by hand, for the test)
        assert status_of(await link.send(unlock)) == Status.REPLAYED
        await link.close()
        await asyncio.sleep(0.3)
        link = await Wire.open(lock.lock_id)  # later: the recorded HELLO opens a session...
        new_session, _ = session_of(key, await link.send(hello))
        assert new_session != session_id
        assert status_of(await link.send(unlock)) == Status.REPLAYED  # ...the old unlock is useless
        patched = bytearray(unlock)
        struct.pack_into("<I", patched, 2, new_session)
        assert status_of(await link.send(bytes(patched))) == Status.BAD_TAG
        await link.close()

    asyncio.run(go())
    assert lock.bolt_position >= 0.99, "the door stayed locked"
    assert failures_logged(lock).count(Status.REPLAYED) == 2
    valid_key_still_works(lock)


@pytest.mark.parametrize("window,status", [
    ((-7200, -3600), Status.KEY_EXPIRED),
    ((3600, 7200), Status.KEY_NOT_YET_VALID),
])
def test_keys_outside_their_window(lock, fleet, window, status):
    now = int(time.time())
    key = issue(fleet, lock.lock_id, wire.ROLE_STAFF, not_before=now + window[0],
                not_after=now + window[1], keyfile=False)

    async def go():
        async with LockClient(lock.lock_id, key=key) as client:
            await client.unlock()

    with pytest.raises(AuthError) as err:
        asyncio.run(go())
    assert err.value.status == status
    assert status in failures_logged(lock)
    assert lock.bolt_position >= 0.99
    valid_key_still_works(lock)


def test_revoked_key(lock, fleet):
    import subprocess
    import sys

    victim = issue(fleet, lock.lock_id, wire.ROLE_STAFF, person="Left the job")
    result = subprocess.run([sys.executable, "-m", "hemlas.cli", "keys", "revoke", str(victim.key_id), "--now"],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "on the lock now" in result.stdout

    async def go():
        async with LockClient(lock.lock_id, key=victim) as client:
            await client.unlock()

    with pytest.raises(AuthError) as err:
        asyncio.run(go())
    assert err.value.status == Status.KEY_REVOKED
    assert lock.bolt_position >= 0.99
    valid_key_still_works(lock)


def test_key_for_another_lock(lock, fleet, boot_board, radio):
    other = boot_board(radio=radio)
    other.provision(fleet)
    foreign = issue(fleet, other.lock_id, wire.ROLE_ADMIN, keyfile=False)
    # An insider's forgery: another lock's key bytes claimed for this lock, with this lock's
    # advertising key (which any holder of a key for it has).
    forged = type(foreign)(lock.lock_id, foreign.key_id, foreign.role, foreign.not_before,
                           foreign.not_after, foreign.key, lock.staff_key.adv_key)

    async def attempt(key):
        # Found with this lock's advertising key: the foreign key's finds only its own lock.
        device = await find_lock(lock.lock_id, adv_keys=[lock.staff_key.adv_key])
        client = LockClient(lock.lock_id, key=key)
        await client.connect(device)
        try:
            await client.unlock()
        finally:
            await client.disconnect()

    with pytest.raises(AuthError) as err:
        asyncio.run(attempt(foreign))
    assert err.value.status == Status.KEY_WRONG_LOCK
    with pytest.raises(AuthError) as err:
        asyncio.run(attempt(forged))
    assert err.value.status == Status.BAD_TAG  # the key is derived from this lock's secret
    assert lock.bolt_position >= 0.99


def test_tampered_frame(lock):
    key = lock.staff_key

    async def go():
        link = await Wire.open(lock.lock_id)
        session_id, session_key = session_of(key, await link.send(hello_frame(key)))
        status = request_frame(session_id, session_key, wire.OP_STATUS, 1)
        tampered = bytearray(status)
        tampered[1] = wire.OP_UNLOCK  # a status request turned into an unlock on the way
        answer = await link.send(bytes(tampered))
        assert status_of(answer) == Status.BAD_TAG
        assert wire.check_tag(session_key, wire.TAG_CLEAR, answer)  # the refusal is the lock's
        await link.close()

    asyncio.run(go())
    assert lock.bolt_position >= 0.99
    assert Status.BAD_TAG in failures_logged(lock)


def test_staff_key_cannot_do_admin_or_technician_requests(lock):
    async def go(action):
        async with LockClient(lock.lock_id, key=lock.staff_key) as client:
            await action(client)

    # The role table (docs/security.md): the self-test stays a technician's over BLE (the
    # routine's self-test is a button press on the unit); revocation and key policy an admin's.
    for action in (lambda c: c.revoke(1, 2**31), lambda c: c.set_key_policy(10_000),
                   lambda c: c.selftest()):
        with pytest.raises(AuthError) as err:
            asyncio.run(go(action))
        assert err.value.status == Status.PERMISSION_DENIED
    assert failures_logged(lock).count(Status.PERMISSION_DENIED) >= 3
    valid_key_still_works(lock)
    asyncio.run(go(lambda c: c.read_log()))  # staff read the log: every connection syncs the visit record


def swap_events(vb) -> list[tuple[int, ...]]:
    """The fields of every EVENT_BATTERY_SWAP in the lock's log (idle, loaded, mAh, key id)."""
    records, answer = [], vb.command("log 0")
    while answer["records"]:
        records += answer["records"]
        answer = vb.command(f"log {records[-1][0] + 1}")
    return [tuple(r[3]) for r in records if r[2] == wire.EVENT_BATTERY_SWAP]


def test_a_carers_staff_key_registers_a_battery_swap_logged_with_its_key_id(lock):
    """The routine has care staff swap the battery and register the swap in the app, so a
    staff key may register it; the lock logs the key id with it (docs/security.md)."""
    async def register():
        async with LockClient(lock.lock_id, key=lock.staff_key) as client:
            return await client.register_battery_swap(), await client.battery()

    lock.swap_battery("fresh")
    registration, reading = asyncio.run(register())
    assert registration.swap_time > 0 and reading.last_swap == registration.swap_time
    assert reading.used_mah == 0  # the charge count starts again
    assert [fields[3] for fields in swap_events(lock)] == [lock.staff_key.key_id]
    assert Status.PERMISSION_DENIED not in failures_logged(lock)


def test_a_staff_key_cannot_register_a_depleted_cell(lock):
    """What a stolen staff key can do with the swap: reset the charge count of a battery that
    is in fact new. The lock's own load check still refuses a depleted cell, whoever asks."""
    async def register():
        async with LockClient(lock.lock_id, key=lock.staff_key) as client:
            return await client.register_battery_swap()

    lock.swap_battery("low")
    with pytest.raises(BatteryDepletedError) as refused:
        asyncio.run(register())
    assert refused.value.status == Status.BATTERY_DEPLETED
    assert lock.command("battery")["last_swap"] == 0 and swap_events(lock) == []  # not reset


def test_staff_key_cannot_turn_the_clock_back(lock, fleet):
    async def go(key, new_time):
        async with LockClient(lock.lock_id, key=key, sync_clock=False) as client:
            return await client.set_clock(new_time)

    before = lock.command("status")["clock"]
    with pytest.raises(AuthError) as err:
        asyncio.run(go(lock.staff_key, before - 7200))  # would revive a key expired an hour ago
    assert err.value.status == Status.CLOCK_REFUSED
    with pytest.raises(AuthError):
        asyncio.run(go(lock.staff_key, before + 86_400))  # would expire every key early
    assert abs(lock.command("status")["clock"] - before) < 5
    admin = issue(fleet, lock.lock_id, wire.ROLE_ADMIN, keyfile=False)
    assert abs(asyncio.run(go(admin, before - 7200)) - (before - 7200)) < 5  # an admin may


def test_fake_lock_cannot_report_anything(lock, radio):
    """A fake answers as the lock would, but cannot prove it holds the lock secret."""
    from bumble import gatt

    genuine = []

    async def record():
        link = await Wire.open(lock.lock_id)
        genuine.append(await link.send(hello_frame(lock.staff_key)))  # a real, recorded answer
        await link.close()

    asyncio.run(record())

    async def record_advertisement() -> bytes:
        # What anyone in range can record and play back: the lock's current rotating id.
        from bleak import BleakScanner

        from hemlas import advertising

        seen = []

        def is_it(_device, adv):
            if advertising.match(lock.lock_id, [lock.staff_key.adv_key], adv.service_uuids, adv.local_name):
                seen.extend(advertising.rotating_ids(adv.service_uuids))
                return True
            return False

        await BleakScanner.find_device_by_filter(is_it, timeout=10, **config.scanner_kwargs())
        return seen[0]

    rotating_id = asyncio.run(record_advertisement())
    lock.power_cut()

    async def start_fake():
        device = await radio.hub.add_peripheral(lock.lock_id, "C0:FA:CE:00:00:01")
        response = gatt.Characteristic(wire.RESPONSE_CHAR_UUID, gatt.Characteristic.Properties.NOTIFY,
                                       gatt.Characteristic.READABLE, b"")

        async def answer(connection):
            frame = genuine[0]  # replays the lock's genuine HELLO answer, then forges "unlocked"
            for part in wire.fragment(frame, connection.att_mtu):
                await device.notify_subscriber(connection, response, part, force=True)

        def on_write(connection, value):
            asyncio.ensure_future(answer(connection))

        control = gatt.Characteristic(wire.CONTROL_CHAR_UUID, gatt.Characteristic.Properties.WRITE,
                                      gatt.Characteristic.WRITEABLE, gatt.CharacteristicValue(write=on_write))
        device.add_services([gatt.Service(wire.LOCK_SERVICE_UUID, [control, response])])
        adv = bytes([2, 1, 6, 17, 7]) + rotating_id  # the recorded advertisement, played back
        await device.start_advertising(advertising_data=adv,
                                       advertising_interval_min=100, advertising_interval_max=100)
        return device

    fake = radio.run(start_fake())

    async def go():
        async with LockClient(lock.lock_id, key=lock.staff_key) as client:
            await client.unlock()

    try:
        with pytest.raises(LockAuthenticityError):
            asyncio.run(go())
    finally:
        radio.run(radio.hub.remove_peripheral(fake))


def test_brute_force_is_slowed_and_valid_keys_still_get_in(lock):
    rng_keys = [os.urandom(32) for _ in range(10)]
    key = lock.staff_key

    async def go():
        link = await Wire.open(lock.lock_id)
        start = time.monotonic()
        for guess in rng_keys:
            forged = type(key)(key.lock_id, key.key_id, key.role, key.not_before, key.not_after, guess,
                               key.adv_key)
            assert status_of(await link.send(hello_frame(forged))) == Status.BAD_TAG
        elapsed = time.monotonic() - start
        await link.close()
        return elapsed

    elapsed = asyncio.run(go())
    backoff = lock.command("status")["auth_backoff_ms"]
    assert backoff == 8000, "the back-off reached its cap, and no further"
    # Lower bound only: failures 4..10 waited 250, 500, ... 8000 ms before being answered.
    assert elapsed >= (250 + 500 + 1000 + 2000 + 4000 + 8000) / 1000
    failures = failures_logged(lock)
    assert failures.count(Status.BAD_TAG) == 5, "the rest are counted, not logged one by one"
    valid_key_still_works(lock)  # waits out one back-off, then resets it
    assert lock.command("status")["auth_backoff_ms"] == 0
    log = lock.command("log 0")["records"]
    assert any(r[2] == wire.EVENT_AUTH_SUPPRESSED and r[3][0] == 5 for r in log)
