"""An independent hemlås protocol client (version 3), written from docs/protocol.md and
docs/security.md alone: it does not import firmware/wire.py (hemlas.firmware.wire) or
hemlas.client, so what it proves about the lock does not rest on the code under test.
hashlib/hmac/zlib from the standard library, AES from `cryptography` in ECB mode only (the CTR
counter blocks are built here by hand from the document's layout, so a mismatch in that
layout shows instead of being hidden in a library's CTR mode), bleak for the radio.

Every number here is the document's: the tests that use this client fail when the document
and the lock disagree.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# docs/protocol.md, "GATT"
SERVICE = "7dc50001-6466-4220-bab7-4b93a4e6cd73"
CONTROL = "7dc50002-6466-4220-bab7-4b93a4e6cd73"
RESPONSE = "7dc50003-6466-4220-bab7-4b93a4e6cd73"
# docs/protocol.md, "Frames" and "Fragments"
VERSION = 3
HEADER = struct.Struct("<BBIIH")  # version, opcode, session, counter, payload length
TAG_BYTES = 16
ZERO_TAG = bytes(TAG_BYTES)  # an untagged frame
MAX_FRAME = 128  # the largest frame the lock accepts
FIRST, LAST = 0x80, 0x40
RESPONSE_BIT, OP_ERROR = 0x80, 0x7F
OP = {"status": 0x01, "lock": 0x02, "unlock": 0x03, "battery": 0x04, "selftest": 0x05,
      "log_read": 0x06, "battery_swap": 0x07, "device_info": 0x08, "hello": 0x10, "revoke": 0x11,
      "set_clock": 0x12, "key_policy": 0x13}
ROLE = {"staff": 1, "technician": 2, "admin": 3}
STATUS = {"OK": 0, "BAD_REQUEST": 4, "MALFORMED": 5, "FRAGMENT_ORDER": 7, "TOO_LARGE": 8,
          "UNSUPPORTED_VERSION": 9, "AUTH_REQUIRED": 10, "BAD_TAG": 11, "REPLAYED": 12,
          "KEY_WRONG_LOCK": 16, "SESSION_EXPIRED": 18, "CLOCK_REFUSED": 20}
# docs/protocol.md, "Frames": direction bytes
HELLO_DIRECTION, REQUEST_DIRECTION, RESPONSE_DIRECTION, CLEAR_DIRECTION = 0x00, 0x01, 0x02, 0x03
EVENT_LOCKED, EVENT_UNLOCKED, EVENT_SESSION, EVENT_AUTH_FAILED, EVENT_CLOCK_SET = 2, 3, 9, 10, 13
RECORD_MAGIC = 0xE7
NONCE_BYTES = 16


def hmac256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# ---- keys (docs/security.md "Staff keys", "Sessions"; docs/protocol.md "Advertising", "Encryption")

def staff_key(secret: bytes, lock_id: str, key_id: int, role: int, not_before: int, not_after: int) -> bytes:
    return hmac256(secret, b"hemlas key v2" + struct.pack("<IBII", key_id, role, not_before, not_after)
                   + lock_id.encode())


def session_key(key: bytes, session_id: int, client_nonce: bytes, lock_nonce: bytes) -> bytes:
    return hmac256(key, b"hemlas session v2" + struct.pack("<I", session_id) + client_nonce + lock_nonce)


def advertising_key(secret: bytes) -> bytes:
    return hmac256(secret, b"hemlas advertising v3")[:16]


def cipher_key(session_key_: bytes) -> bytes:
    return hmac256(session_key_, b"hemlas cipher v3")[:16]


def hello_key(adv_key: bytes, client_nonce: bytes) -> bytes:
    return hmac256(adv_key, b"hemlas hello v3" + client_nonce)[:16]


def rotating_id(adv_key: bytes, r: bytes) -> bytes:
    return r + hmac256(adv_key, b"hemlas rotating id v3" + r)[:8]


def is_rotating_id_of(value: bytes, adv_key: bytes) -> bool:
    """The check a client makes on an advertised 16-byte value ("Advertising")."""
    return len(value) == 16 and hmac.compare_digest(rotating_id(adv_key, value[:8]), value)


# ---- AES ---------------------------------------------------------------------------------

def aes_ecb(key: bytes, data: bytes) -> bytes:
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(data)


def counter_block(direction: int, session: int, counter: int, i: int) -> bytes:
    """Cᵢ = direction u8 ‖ session id u32 ‖ frame counter u32 ‖ 3 zero bytes ‖ i u32."""
    return bytes((direction,)) + struct.pack("<II", session, counter) + bytes(3) + struct.pack("<I", i)


def ctr(key: bytes, direction: int, session: int, counter: int, data: bytes) -> bytes:
    """The payload XORed with AES-128-ECB(key, C₀ ‖ C₁ ‖ …): encrypts and decrypts alike."""
    blocks = b"".join(counter_block(direction, session, counter, i) for i in range((len(data) + 15) // 16))
    stream = aes_ecb(key, blocks) if blocks else b""
    return bytes(a ^ b for a, b in zip(data, stream))


def ah(irk_msb: bytes, prand_msb: bytes) -> bytes:
    """The Core spec's random address hash (Vol 3 Part H 2.2.2): e(k, padding ‖ prand) mod 2²⁴,
    every value most significant byte first as the spec writes them."""
    return aes_ecb(irk_msb, bytes(13) + prand_msb)[-3:]


def resolves(address: str, adv_key: bytes) -> bool:
    """Whether "AA:BB:CC:DD:EE:FF" (most significant first) is an RPA made with adv_key as the
    IRK. The advertising key is the IRK least significant byte first ("Advertising"), so the
    spec's MSB-first key is its reverse. An RPA: prand (top bits 01) ‖ hash, high to low."""
    try:
        raw = bytes.fromhex(address.split("/")[0].replace(":", ""))
    except ValueError:
        return False
    if len(raw) != 6 or raw[0] >> 6 != 0b01:
        return False
    return hmac.compare_digest(ah(bytes(reversed(adv_key)), raw[:3]), raw[3:])


def rotating_ids(service_uuids) -> list[bytes]:
    """An advertisement's 128-bit UUIDs as the AD field carries them (bleak shows them MSB
    first; the air carries them least significant byte first)."""
    values = []
    for text in service_uuids or ():
        digits = text.replace("-", "")
        if len(digits) == 32:
            values.append(bytes(reversed(bytes.fromhex(digits))))
    return values


# ---- frames ------------------------------------------------------------------------------

def frame(opcode: int, session: int, counter: int, payload: bytes = b"", key: bytes | None = None,
          direction: int = REQUEST_DIRECTION, version: int = VERSION) -> bytes:
    """A frame with payload as sent (already encrypted where it should be), tagged with key."""
    body = HEADER.pack(version, opcode, session, counter, len(payload)) + payload
    return body + (hmac256(key, bytes((direction,)) + body)[:TAG_BYTES] if key else ZERO_TAG)


def sealed(session_key_: bytes, opcode: int, session: int, counter: int, plain: bytes = b"",
           direction: int = REQUEST_DIRECTION) -> bytes:
    """A frame in a session: encrypt, then tag the ciphertext."""
    body = ctr(cipher_key(session_key_), direction, session, counter, plain)
    return frame(opcode, session, counter, body, session_key_, direction)


def tag_ok(key: bytes, direction: int, data: bytes) -> bool:
    body, got = data[:-TAG_BYTES], data[-TAG_BYTES:]
    return hmac.compare_digest(hmac256(key, bytes((direction,)) + body)[:TAG_BYTES], got)


@dataclass
class Answer:
    opcode: int
    session: int
    counter: int
    payload: bytes  # as on the air
    tag: bytes
    raw: bytes
    body: bytes = b""  # the plaintext: decrypted when tagged 0x02, else the payload as it is
    direction: int | None = None  # the direction its tag verified under; None: untagged

    @property
    def status(self) -> int:
        return self.body[0]

    @property
    def untagged(self) -> bool:
        return self.tag == ZERO_TAG


def parse(data: bytes) -> Answer:
    version, opcode, session, counter, length = HEADER.unpack_from(data)
    assert version == VERSION and len(data) == HEADER.size + length + TAG_BYTES, data.hex()
    payload = data[HEADER.size:HEADER.size + length]
    return Answer(opcode, session, counter, payload, data[HEADER.size + length:], data, payload)


def fragments(data: bytes, chunk: int) -> list[bytes]:
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    out = []
    for i, part in enumerate(parts):
        header = (i & 0x3F) | (FIRST if i == 0 else 0) | (LAST if i == len(parts) - 1 else 0)
        out.append(bytes((header,)) + part)
    return out


@dataclass
class Key:
    lock_id: str
    key_id: int
    role: int
    not_before: int
    not_after: int
    key: bytes
    adv_key: bytes  # the lock's advertising key: finds the lock, hides HELLO's fields


def hello_fields(key: Key) -> bytes:
    return struct.pack("<IBII", key.key_id, key.role, key.not_before, key.not_after) + key.lock_id.encode()


def hello_frame(key: Key, nonce: bytes, key_bytes: bytes | None = None, adv_key: bytes | None = None) -> bytes:
    """HELLO: the nonce in clear, the fields under the HELLO key, tagged (0x00) with the key."""
    hidden = ctr(hello_key(adv_key or key.adv_key, nonce), HELLO_DIRECTION, 0, 0, hello_fields(key))
    return frame(OP["hello"], 0, 0, nonce + hidden, key_bytes or key.key, HELLO_DIRECTION)


def records(log_page: bytes) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """(seq, time, type, fields) of a LOG_READ answer's plaintext, each record's magic and
    CRC-32 checked (docs/protocol.md, "Requests")."""
    _status, _next_seq, count = struct.unpack_from("<BIB", log_page)
    out, offset = [], 6
    for _ in range(count):
        magic, n, seq, time_s, kind = struct.unpack_from("<BBIIB", log_page, offset)
        end = offset + 11 + 4 * n
        assert magic == RECORD_MAGIC and n <= 8, log_page[offset:].hex()
        assert struct.unpack_from("<I", log_page, end)[0] == zlib.crc32(log_page[offset:end])
        out.append((seq, time_s, kind, struct.unpack_from("<%di" % n, log_page, offset + 11)))
        offset = end + 4
    return out


async def find(adv_key: bytes, timeout: float = 20, **scanner_kwargs):
    """The BLEDevice whose advertisement carries a rotating id adv_key makes ("Advertising")."""
    from bleak import BleakScanner

    def is_it(_device, adv) -> bool:
        return any(is_rotating_id_of(value, adv_key) for value in rotating_ids(adv.service_uuids))

    device = await BleakScanner.find_device_by_filter(is_it, timeout=timeout, **scanner_kwargs)
    assert device is not None, "no advertisement with a rotating id of this advertising key"
    return device


class Link:
    """One BLE connection to a lock: raw writes in, whole answers out (joined per the doc)."""

    def __init__(self, client):
        self.client = client
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()
        self._parts: list[bytes] = []
        self.session_id = 0
        self.session_key: bytes | None = None
        self.counter = 0

    @classmethod
    async def open(cls, address, **kwargs) -> "Link":
        from bleak import BleakClient

        client = BleakClient(address, **kwargs)
        await client.connect()
        link = cls(client)
        await client.start_notify(RESPONSE, link._on_notify)
        return link

    def _on_notify(self, _char, data: bytearray) -> None:
        data = bytes(data)
        if data[0] & FIRST:
            self._parts = []
        self._parts.append(data[1:])
        if data[0] & LAST:
            self.answers.put_nowait(b"".join(self._parts))
            self._parts = []

    @property
    def chunk(self) -> int:
        return self.client.mtu_size - 4

    async def write(self, data: bytes) -> None:
        await self.client.write_gatt_char(CONTROL, data, response=True)

    async def send(self, data: bytes, timeout: float = 30) -> Answer:
        for part in fragments(data, self.chunk):
            await self.write(part)
        return await self.answer(timeout)

    async def answer(self, timeout: float = 30) -> Answer:
        return parse(await asyncio.wait_for(self.answers.get(), timeout))

    async def hello(self, key: Key, nonce: bytes = b"\x07" * 16) -> Answer:
        answer = await self.send(hello_frame(key, nonce))
        if answer.status == STATUS["OK"]:
            _, session_id, lock_nonce, _ = struct.unpack("<BI16sI", answer.payload)
            self.session_id, self.counter = session_id, 0
            self.session_key = session_key(key.key, session_id, nonce, lock_nonce)
            assert tag_ok(self.session_key, CLEAR_DIRECTION, answer.raw), "the HELLO answer's tag (0x03)"
            answer.direction = CLEAR_DIRECTION
        else:
            assert answer.untagged, "a HELLO refusal has no session to be tagged with"
        return answer

    async def request(self, name: str, plain: bytes = b"") -> Answer:
        """A request in the session, encrypted; its answer decrypted (0x02) or taken as it is
        (0x03, or untagged), and refused if tagged with neither."""
        assert self.session_key is not None
        self.counter += 1  # the first request's counter is 1 (>= 1)
        answer = await self.send(sealed(self.session_key, OP[name], self.session_id, self.counter, plain))
        return self.unseal(answer)

    def unseal(self, answer: Answer) -> Answer:
        key = self.session_key
        if tag_ok(key, RESPONSE_DIRECTION, answer.raw):
            answer.direction = RESPONSE_DIRECTION
            answer.body = ctr(cipher_key(key), RESPONSE_DIRECTION, answer.session, answer.counter, answer.payload)
        elif tag_ok(key, CLEAR_DIRECTION, answer.raw):
            answer.direction = CLEAR_DIRECTION
            assert len(answer.payload) == 1, "a clear answer in a session is a refusal: a status alone"
        else:
            assert answer.untagged, "an answer tagged with neither 0x02 nor 0x03"
        return answer

    async def close(self) -> None:
        await self.client.disconnect()
