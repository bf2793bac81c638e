"""Protocol version 3 on the virtual lock, through the independent client
(tests/protocol_client.py: from docs/protocol.md alone, not firmware/wire.py): what a listener
on a connection sees is ciphertext, a flipped bit is refused, a version-2 client is told so,
HELLO hides who is knocking, and a key for one lock is nothing at another.

Each test holds its own positive control where the property is an absence (no record, no key
id, no lock id on the air): the same check is shown to find them in the plaintext, so a lock or
client that sent them in the clear would fail it.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib

import protocol_client as pc
import pytest
from log_helpers import console_log
from test_attacks import _key, _open
from test_security import lock  # noqa: F401  (the fixture: a provisioned, locked virtual lock)

from fleet_helpers import issue

pytestmark = pytest.mark.virtual_board


def _whole_records_at(data: bytes) -> list[int]:
    """Every offset where a whole event record starts: magic 0xE7, at most 8 fields, and the
    CRC-32 of all before it matching (docs/protocol.md, "Requests")."""
    found = []
    for offset in range(len(data) - 15):
        count = data[offset + 1]
        end = offset + 11 + 4 * count
        if data[offset] != pc.RECORD_MAGIC or count > 8 or end + 4 > len(data):
            continue
        if struct.unpack_from("<I", data, end)[0] == zlib.crc32(data[offset:end]):
            found.append(offset)
    return found


def test_a_version_2_frame_gets_unsupported_version(lock):  # noqa: F811
    """A version-2 client's HELLO (its layout: the fields in clear, then the nonce) and a
    version-2 STATUS inside a v3 session: each an OP_ERROR frame, status UNSUPPORTED_VERSION,
    untagged, and nothing opened (a lock that ignored the version byte would answer the HELLO
    with opcode 0x90, and the STATUS with AUTH_REQUIRED or BAD_TAG)."""
    key = _key(lock.staff_key)
    nonce = os.urandom(16)
    v2_hello = pc.frame(pc.OP["hello"], 0, 0, pc.hello_fields(key)[:13] + nonce + key.lock_id.encode(),
                        key.key, pc.HELLO_DIRECTION, version=2)

    async def go():
        link = await _open(key)
        answers = [await link.send(v2_hello)]
        assert (await link.hello(key)).status == pc.STATUS["OK"]
        answers.append(await link.send(pc.frame(pc.OP["status"], link.session_id, 1, b"", link.session_key,
                                                pc.REQUEST_DIRECTION, version=2)))
        await link.close()
        return answers

    before = len(console_log(lock))
    for answer in asyncio.run(go()):
        assert answer.opcode == pc.OP_ERROR | pc.RESPONSE_BIT
        assert answer.payload == bytes((pc.STATUS["UNSUPPORTED_VERSION"],)) and answer.untagged
    assert not [r for r in console_log(lock)[before:] if r[2] == pc.EVENT_SESSION], "no session was proven"


def test_a_log_read_answer_on_the_air_is_ciphertext(lock):  # noqa: F811
    """The whole log read page by page: on the air no whole record (magic, count, CRC) at any
    offset, not the page's head, not the key id; decrypted as the document says, every record
    whole and the same as the lock's own log. The check for records and the key id is run on
    the plaintext too and finds them there: a lock that sent the page in clear fails."""
    key = _key(lock.staff_key)
    key_id = struct.pack("<I", key.key_id)

    async def go():
        link = await _open(key)
        assert (await link.hello(key)).status == pc.STATUS["OK"]
        pages, seq = [], 0
        while True:
            answer = await link.request("log_read", struct.pack("<IB", seq, 8))
            assert answer.status == pc.STATUS["OK"] and answer.direction == pc.RESPONSE_DIRECTION
            pages.append(answer)
            if not answer.body[5]:  # no records: the end of the log
                break
            seq = pc.records(answer.body)[-1][0] + 1
        await link.close()
        return pages

    pages = asyncio.run(go())
    read = [r for page in pages for r in pc.records(page.body)]
    on_lock = [(r[0], r[1], r[2], tuple(r[3])) for r in console_log(lock)]
    assert read == on_lock, "the pages decrypted are the lock's own log"
    mine = [r for r in read if r[2] == pc.EVENT_SESSION and r[3][0] == key.key_id]
    assert mine, "the session's record names the key (logged as its first request proved it)"
    assert any(key_id in page.body for page in pages), "positive control: the key id is in the plaintext"
    for page in pages:
        count = page.body[5]
        assert len(_whole_records_at(page.body)) >= count, "positive control: records are found in clear"
        assert _whole_records_at(page.payload) == [], "a whole event record is visible on the air"
        assert page.payload[:6] != page.body[:6], "the page's head (status, next seq, count) is visible"
        assert key_id not in page.payload, "the key id is visible on the air"
        assert len(page.payload) == len(page.body)  # CTR: sizes stay visible, as documented


def test_a_request_with_one_bit_flipped_is_refused_and_not_carried_out(lock):  # noqa: F811
    """SET_CLOCK +300 s (a staff key may): each of its 4 ciphertext bytes with one bit flipped
    is refused BAD_TAG, in clear tagged 0x03 (the lock's refusal), and the clock does not move
    and no clock_set is logged; the same frame unflipped, with the same counter, is then
    carried out. A lock that checked no tag would move the clock to a time with one bit
    flipped; one that tagged anything but the ciphertext would refuse the genuine frame too.
    """
    key = _key(lock.staff_key)

    async def go():
        link = await _open(key)
        hello = await link.hello(key)
        _, _, _, lock_time = struct.unpack("<BI16sI", hello.payload)
        genuine = pc.sealed(link.session_key, pc.OP["set_clock"], link.session_id, 1,
                            struct.pack("<I", lock_time + 300))
        refusals = []
        for i in range(4):
            flipped = bytearray(genuine)
            flipped[pc.HEADER.size + i] ^= 1 << (i * 3 % 8)
            refusals.append(link.unseal(await link.send(bytes(flipped))))
        clock_meanwhile = lock.command("status")["clock"]
        carried = link.unseal(await link.send(genuine))
        await link.close()
        return lock_time, refusals, clock_meanwhile, carried

    before = len(console_log(lock))
    lock_time, refusals, clock_meanwhile, carried = asyncio.run(go())
    for answer in refusals:
        assert answer.status == pc.STATUS["BAD_TAG"] and answer.direction == pc.CLEAR_DIRECTION
    assert clock_meanwhile < lock_time + 60, "a flipped request moved the clock"
    assert carried.direction == pc.RESPONSE_DIRECTION
    status, now = struct.unpack("<BI", carried.body)
    assert status == pc.STATUS["OK"] and lock_time + 300 <= now < lock_time + 330
    clock_sets = [r for r in console_log(lock)[before:] if r[2] == pc.EVENT_CLOCK_SET]
    assert [r[3][1] for r in clock_sets] == [lock_time + 300], "only the genuine request was carried out"


def test_the_hello_on_the_air_names_neither_the_lock_nor_the_key(lock, monkeypatch):  # noqa: F811
    """The host client's HELLO as written to the radio (a pass-through tap on bleak's write,
    the frame joined from its fragments): no lock id, no key id in it; the fields are there,
    hidden, since decrypting them under the HELLO key (docs/protocol.md) gives the key's. The
    independent client's HELLO, made from the document, is accepted and hides them as well,
    and one with the same fields in clear is refused (the lock reads only hidden fields)."""
    from bleak import BleakClient

    from hemlas.client import LockClient

    key = _key(lock.staff_key)
    written: list[bytes] = []
    write = BleakClient.write_gatt_char

    async def tap(self, char, data, *args, **kwargs):
        written.append(bytes(data))
        return await write(self, char, data, *args, **kwargs)

    async def host_client():
        async with LockClient(lock.lock_id, key=lock.staff_key, sync_clock=False) as client:
            await client.status()

    with monkeypatch.context() as patch:  # only this: the fixtures' own patches stay
        patch.setattr(BleakClient, "write_gatt_char", tap)
        asyncio.run(host_client())
    hellos = [f for f in _frames(written) if f[1] == pc.OP["hello"]]
    assert len(hellos) == 1
    nonce = os.urandom(16)
    mine = pc.hello_frame(key, nonce)
    clear = pc.frame(pc.OP["hello"], 0, 0, nonce + pc.hello_fields(key), key.key, pc.HELLO_DIRECTION)
    for hello in (hellos[0], mine):
        nonce_on_air, hidden = hello[pc.HEADER.size:pc.HEADER.size + 16], hello[pc.HEADER.size + 16:-pc.TAG_BYTES]
        hello_key = pc.hello_key(key.adv_key, nonce_on_air)
        assert pc.ctr(hello_key, pc.HELLO_DIRECTION, 0, 0, hidden) == pc.hello_fields(key), "the fields are there"
        assert key.lock_id.encode() not in hello, "the lock id is in the HELLO in clear"
        assert struct.pack("<I", key.key_id) not in hello[pc.HEADER.size:], "the key id is in clear"
    assert key.lock_id.encode() in clear, "positive control"

    async def independent():
        link = await _open(key)
        accepted = await link.send(mine)
        refused = await link.send(clear)
        await link.close()
        return accepted, refused

    accepted, refused = asyncio.run(independent())
    assert accepted.status == pc.STATUS["OK"]
    assert refused.status == pc.STATUS["KEY_WRONG_LOCK"] and refused.untagged


def _frames(writes: list[bytes]) -> list[bytes]:
    """Frames joined from written fragments (docs/protocol.md, "Fragments")."""
    frames, parts = [], []
    for part in writes:
        if part[0] & pc.FIRST:
            parts = []
        parts.append(part[1:])
        if part[0] & pc.LAST:
            frames.append(b"".join(parts))
    return frames


def test_a_key_for_one_lock_is_refused_by_another_and_not_logged_as_its_key(  # noqa: F811
        lock, fleet, boot_board, radio):
    """Lock A's key said to lock B: as A's key file has it (fields under A's advertising key,
    noise to B) and re-encrypted under B's (B reads lock id A): KEY_WRONG_LOCK, untagged, and
    B's log records the failures with key id 0, never A's key id (which names a person). B's
    own key then opens a session on the same connection, so the refusals were B's verdict on
    A's key and not a broken link."""
    other = boot_board(radio=radio)
    other.provision(fleet)
    a_key = _key(lock.staff_key)
    b_key = _key(issue(fleet, other.lock_id, pc.ROLE["staff"], keyfile=False))
    assert a_key.key_id != b_key.key_id and a_key.adv_key != b_key.adv_key

    async def go():
        link = await _open(b_key)
        answers = [await link.send(pc.hello_frame(a_key, os.urandom(16))),
                   await link.send(pc.hello_frame(a_key, os.urandom(16), adv_key=b_key.adv_key))]
        assert (await link.hello(b_key, os.urandom(16))).status == pc.STATUS["OK"]
        assert (await link.request("status")).status == pc.STATUS["OK"]
        await link.close()
        return answers

    for answer in asyncio.run(go()):
        assert answer.status == pc.STATUS["KEY_WRONG_LOCK"] and answer.untagged
    log = console_log(other)
    failed = [tuple(r[3]) for r in log if r[2] == pc.EVENT_AUTH_FAILED]
    assert failed == [(pc.STATUS["KEY_WRONG_LOCK"], 0)] * 2
    named = [r[3][0] for r in log if r[2] == pc.EVENT_SESSION]
    assert a_key.key_id not in named and named == [b_key.key_id]


def test_the_lock_is_found_by_its_rotating_id_and_its_address_resolves(lock):  # noqa: F811
    """The advertisement a key's holder finds by the rotating id comes from an RPA that
    resolves under the advertising key as the IRK (Core spec ah), and under no other key."""
    from hemlas.radio import config

    key = _key(lock.staff_key)
    device = asyncio.run(pc.find(key.adv_key, **config.scanner_kwargs()))
    assert pc.resolves(device.address, key.adv_key), device.address
    assert not pc.resolves(device.address, os.urandom(16))
    assert not pc.resolves(device.address, bytes(reversed(key.adv_key)))  # the IRK's byte order matters


def test_ah_matches_the_core_specs_sample_data():
    """Vol 3 Part H, Appendix D.7 (ah): IRK ec0234a357c8ad05341010a60a397d9b, prand 708194,
    hash 0dfbaa, all most significant byte first; and so the address 70:81:94:0D:FB:AA resolves
    under that IRK given least significant byte first, as an advertising key is."""
    irk = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")
    assert pc.ah(irk, bytes.fromhex("708194")) == bytes.fromhex("0dfbaa")
    assert pc.resolves("70:81:94:0D:FB:AA", bytes(reversed(irk)))
    assert not pc.resolves("70:81:94:0D:FB:AB", bytes(reversed(irk)))
    assert not pc.resolves("B0:81:94:0D:FB:AA", bytes(reversed(irk)))  # top bits 10: not an RPA
