"""What a listener learns from a provisioned lock's advertising with no key: nothing that names
it, nothing that stays (docs/protocol.md, "Advertising"; issue 13).

The listener is an ordinary bleak scan on the virtual radio, recording every advertisement for
several of the lock's rotations (shortened to 1.5 s here; 10 minutes on a lock). The checks on
what it recorded are written from the document and the Bluetooth Core spec (an RPA's top bits,
its hash under the IRK), not from the firmware.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from bleak import BleakScanner

from fleet_helpers import issue
from hemlas import advertising
from hemlas.client import LockClient
from hemlas.codes import LockState
from hemlas.firmware import wire
from hemlas.radio import config
from hemlas.sim.ble import NIMBLE_DEFAULT_IRK

pytestmark = pytest.mark.virtual_board

ROTATION_MS = 1500


async def _listen(seconds: float) -> list[tuple[str, tuple[str, ...], str | None, bytes]]:
    """Every advertisement heard: (address, 128-bit UUIDs, name, every byte of its data)."""
    heard = []

    def on_advertisement(device, adv):
        raw = b"".join(bytes(v) for v in adv.manufacturer_data.values())
        raw += b"".join(bytes(v) for v in adv.service_data.values())
        heard.append((device.address, tuple(adv.service_uuids or ()), adv.local_name, raw))

    scanner = BleakScanner(on_advertisement, **config.scanner_kwargs())
    await scanner.start()
    await asyncio.sleep(seconds)
    await scanner.stop()
    return heard


def test_a_passive_scan_learns_no_lock_id_and_no_stable_identifier(radio, boot_board, fleet):
    vb = boot_board(radio=radio, id_rotation_ms=ROTATION_MS)
    vb.provision(fleet)
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)

    heard = asyncio.run(_listen(7 * ROTATION_MS / 1000))
    assert heard, "the lock was not heard at all"
    addresses = {address for address, *_ in heard}
    ids = {uuids for _, uuids, _, _ in heard}

    # Nothing names it: no lock id anywhere, no name, not even the lock service's UUID.
    for address, uuids, name, raw in heard:
        assert name is None
        assert wire.LOCK_SERVICE_UUID not in uuids
        assert vb.lock_id.encode() not in raw and all(vb.lock_id.lower() not in u for u in uuids)
        assert address.upper() != vb.address.upper()  # never its identity address

    # Nothing stays: a new address and a new 16-byte value each rotation, changing together
    # (an id seen from two addresses, or the reverse, would chain the sightings).
    assert len(addresses) >= 3 and len(ids) >= 3, f"{len(addresses)} addresses, {len(ids)} ids in 7 rotations"
    pairs = {(address, uuids) for address, uuids, _, _ in heard}
    assert len(pairs) == len(addresses) == len(ids)
    for address, uuids in pairs:
        (value,) = advertising.rotating_ids(uuids)
        # An RPA (top bits 01) under the lock's advertising key as IRK, and no one else's:
        # not NimBLE's built-in default, which every NimBLE device shares.
        assert int(address[:2], 16) >> 6 == 0b01, address
        assert advertising.resolves(address, key.adv_key)
        assert not advertising.resolves(address, NIMBLE_DEFAULT_IRK)
        assert advertising.is_rotating_id_of(value, key.adv_key)
        assert not advertising.is_rotating_id_of(value, bytes(16))

    # And the key's holder still finds it and gets in, whatever the rotation.
    async def unlock():
        async with LockClient(vb.lock_id, key=key) as lock:
            return await lock.unlock()

    assert asyncio.run(unlock()).state == LockState.UNLOCKED


def test_rotation_waits_while_a_client_is_connected(radio, boot_board, fleet):
    """A connected client keeps the lock's address until it leaves: the radio restarts (and
    rotates) only with nobody on it."""
    vb = boot_board(radio=radio, id_rotation_ms=ROTATION_MS)
    vb.provision(fleet)
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)

    async def stay():
        async with LockClient(vb.lock_id, key=key) as lock:
            start = time.monotonic()
            while time.monotonic() - start < 3 * ROTATION_MS / 1000:
                await lock.status()  # fails if the link dropped under a rotation
                await asyncio.sleep(0.2)
            return True

    assert asyncio.run(stay())


def test_an_unprovisioned_lock_on_the_bench_says_who_it_is(radio, boot_board):
    """No secret, no advertising key: the technician finds it by name, as before."""
    vb = boot_board(radio=radio)
    heard = asyncio.run(_listen(1.5))
    mine = [h for h in heard if h[2] == vb.wait_ready()["lock_id"]]
    assert mine and all(wire.LOCK_SERVICE_UUID in uuids for _, uuids, _, _ in mine)
