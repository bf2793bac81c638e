"""10,000 random and mutated writes to the control characteristic of a virtual lock.

Every write is answered or rejected exactly as the protocol says (a host-side model of the
lock's reassembly predicts how many responses each write must produce), none crashes or stalls
the lock, and the lock's state is unchanged at the end: the writes include well-formed LOCK,
UNLOCK and SELFTEST frames, and none of them is carried out without a session.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time

import pytest
from bleak import BleakClient

from hemlas.client import find_lock
from hemlas.codes import LockState
from hemlas.firmware import wire
from hemlas.radio import config
from hemlas.radio.config import ENV_VAR
from hemlas.sim import VirtualBoard, VirtualRadio

pytestmark = pytest.mark.virtual_board

WRITES = 10_000
_OPS = [wire.OP_STATUS, wire.OP_LOCK, wire.OP_UNLOCK, wire.OP_SELFTEST, wire.OP_LOG_READ,
        wire.OP_REVOKE, wire.OP_SET_CLOCK, wire.OP_KEY_POLICY, 0x00, 0x07, 0x42, 0x7E, 0xFF]


def _base_frame(rng: random.Random) -> bytes:
    op = rng.choice(_OPS)
    if op == wire.OP_LOG_READ:
        payload = struct.pack("<IB", rng.randrange(0, 50), rng.randrange(0, 40))
    else:
        payload = rng.randbytes(rng.choice([0, 0, 1, 5, 30]))
    return wire.encode_frame(op, rng.getrandbits(32), rng.getrandbits(32), payload)


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    kind = rng.randrange(6)
    if kind == 0 and data:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        del data[rng.randrange(len(data) + 1):]
    elif kind == 2:  # extend
        data += rng.randbytes(rng.randint(1, 40))
    elif kind == 3:  # wrong length field
        struct.pack_into("<H", data, 10, rng.getrandbits(16))
    elif kind == 4:  # wrong version
        data[0] = rng.choice([0, 2, 0xFF])
    return bytes(data)  # kind 5: unchanged


def _fragments(rng: random.Random, frame: bytes, max_chunk: int) -> list[bytes]:
    mtu = rng.choice([23, 30, 64, max_chunk + 3])
    parts = wire.fragment(frame, min(mtu, max_chunk + 3))
    style = rng.randrange(8)
    if style == 0 and len(parts) > 1:
        rng.shuffle(parts)  # out of order
    elif style == 1 and len(parts) > 1:
        del parts[rng.randrange(len(parts))]  # one lost
    elif style == 2:
        parts.insert(rng.randrange(len(parts) + 1), parts[rng.randrange(len(parts))])  # a duplicate
    elif style == 3:
        parts = [bytes([rng.getrandbits(8)]) + p[1:] for p in parts]  # random headers
    return parts


def _writes(rng: random.Random, max_chunk: int):
    while True:
        kind = rng.randrange(10)
        if kind == 0:
            yield rng.randbytes(rng.randint(1, max_chunk))  # noise
        elif kind == 1:
            yield b""  # an empty write
        else:
            frame = _mutate(rng, _base_frame(rng)) if kind > 3 else _base_frame(rng)
            yield from _fragments(rng, frame, max_chunk)


def _expected_responses(model: wire.Reassembler, data: bytes) -> int:
    """How many frames the lock sends back for this write (mirrors firmware/ble.py)."""
    cut_short = model.cut_short
    try:
        frame = model.feed(data)
    except ValueError:
        return 1
    return (model.cut_short != cut_short) + (frame is not None)


async def _fuzz(lock_id: str, seed: int) -> dict:
    rng = random.Random(seed)
    responses: asyncio.Queue[bytes] = asyncio.Queue()
    receiver = wire.Reassembler(wire.MAX_RESPONSE)

    def on_notify(_char, data: bytearray) -> None:
        frame = receiver.feed(bytes(data))
        if frame is not None:
            responses.put_nowait(frame)

    model = wire.Reassembler()
    counts = {"writes": 0, "responses": 0, "errors": 0}
    device = await find_lock(lock_id)
    async with BleakClient(device, **config.client_kwargs()) as client:
        await client.start_notify(wire.RESPONSE_CHAR_UUID, on_notify)
        max_chunk = client.mtu_size - 3
        writes = _writes(rng, max_chunk)
        while counts["writes"] < WRITES:
            data = next(writes)
            expected = _expected_responses(model, data)
            await client.write_gatt_char(wire.CONTROL_CHAR_UUID, data, response=True)
            counts["writes"] += 1
            for _ in range(expected):
                answer = await asyncio.wait_for(responses.get(), timeout=10)
                opcode, _, _, body, _ = wire.decode_frame(answer)  # every answer is a valid frame
                assert opcode & wire.RESPONSE_BIT and body
                counts["responses"] += 1
                counts["errors"] += body[0] != wire.STATUS_OK
        await asyncio.sleep(0.2)
        assert responses.empty(), "the lock answered a write it should not have"
    return counts


def test_ten_thousand_fuzzed_writes(tmp_path, monkeypatch, fleet):
    from fleet_helpers import issue

    with VirtualRadio() as radio:
        monkeypatch.setenv(ENV_VAR, radio.spec)
        vb = VirtualBoard(flash_dir=tmp_path / "flash", radio=radio)
        vb.start()
        vb.provision(fleet)
        issue(fleet, vb.lock_id, wire.ROLE_STAFF)
        try:
            before = vb.command("status")
            position = vb.bolt_position
            start = time.monotonic()
            counts = asyncio.run(_fuzz(vb.lock_id, seed=20261125))
            elapsed = time.monotonic() - start
            print(f"\n{counts} in {elapsed:.1f} s")
            after = vb.command("status")
            assert after["state"] == before["state"] == LockState.UNLOCKED
            assert vb.bolt_position == position
            assert counts["writes"] == WRITES and counts["errors"] > WRITES // 4
            assert vb.command("status")["clock"] >= before["clock"]  # no clock change got through
            assert vb.running and vb.crashed is None
            # Still serving: a real request gets a real answer.
            from hemlas.client import LockClient

            async def still_serving():
                async with LockClient(vb.lock_id) as lock:
                    return await lock.lock()

            assert asyncio.run(still_serving()).state == LockState.LOCKED
        finally:
            vb.close()
