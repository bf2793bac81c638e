"""An independent hemlås protocol client, written from docs/protocol.md and docs/security.md
alone: it does not import firmware/wire.py (hemlas.firmware.wire) or hemlas.client, so what
it proves about the lock does not rest on the code under test. hashlib/hmac from the standard
library, bleak for the radio.

Every number here is the document's: the tests that use this client fail when the document
and the lock disagree.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
from dataclasses import dataclass

# docs/protocol.md, "GATT"
SERVICE = "7dc50001-6466-4220-bab7-4b93a4e6cd73"
CONTROL = "7dc50002-6466-4220-bab7-4b93a4e6cd73"
RESPONSE = "7dc50003-6466-4220-bab7-4b93a4e6cd73"
# docs/protocol.md, "Frames" and "Fragments"
VERSION = 2
HEADER = struct.Struct("<BBIIH")  # version, opcode, session, counter, payload length
TAG_BYTES = 16
ZERO_TAG = bytes(TAG_BYTES)  # an untagged frame
MAX_FRAME = 128  # the largest frame the lock accepts
FIRST, LAST = 0x80, 0x40
RESPONSE_BIT, OP_ERROR = 0x80, 0x7F
OP = {"status": 0x01, "lock": 0x02, "unlock": 0x03, "battery": 0x04, "selftest": 0x05,
      "log_read": 0x06, "battery_swap": 0x07, "hello": 0x10, "revoke": 0x11,
      "set_clock": 0x12, "key_policy": 0x13}
ROLE = {"staff": 1, "technician": 2, "admin": 3}
STATUS = {"OK": 0, "BAD_REQUEST": 4, "MALFORMED": 5, "FRAGMENT_ORDER": 7, "TOO_LARGE": 8,
          "AUTH_REQUIRED": 10, "BAD_TAG": 11, "REPLAYED": 12, "SESSION_EXPIRED": 18,
          "CLOCK_REFUSED": 20}
# docs/security.md, "Sessions": direction bytes
HELLO_DIRECTION, REQUEST_DIRECTION, RESPONSE_DIRECTION = 0x00, 0x01, 0x02
EVENT_LOCKED, EVENT_UNLOCKED, EVENT_SESSION, EVENT_AUTH_FAILED = 2, 3, 9, 10


def hmac256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def staff_key(secret: bytes, lock_id: str, key_id: int, role: int, not_before: int, not_after: int) -> bytes:
    return hmac256(secret, b"hemlas key v2" + struct.pack("<IBII", key_id, role, not_before, not_after)
                   + lock_id.encode())


def session_key(key: bytes, session_id: int, client_nonce: bytes, lock_nonce: bytes) -> bytes:
    return hmac256(key, b"hemlas session v2" + struct.pack("<I", session_id) + client_nonce + lock_nonce)


def frame(opcode: int, session: int, counter: int, payload: bytes = b"", key: bytes | None = None,
          direction: int = REQUEST_DIRECTION) -> bytes:
    body = HEADER.pack(VERSION, opcode, session, counter, len(payload)) + payload
    return body + (hmac256(key, bytes((direction,)) + body)[:TAG_BYTES] if key else ZERO_TAG)


def tag_ok(key: bytes, direction: int, data: bytes) -> bool:
    body, got = data[:-TAG_BYTES], data[-TAG_BYTES:]
    return hmac.compare_digest(hmac256(key, bytes((direction,)) + body)[:TAG_BYTES], got)


@dataclass
class Answer:
    opcode: int
    session: int
    counter: int
    payload: bytes
    tag: bytes
    raw: bytes

    @property
    def status(self) -> int:
        return self.payload[0]

    @property
    def untagged(self) -> bool:
        return self.tag == ZERO_TAG


def parse(data: bytes) -> Answer:
    version, opcode, session, counter, length = HEADER.unpack_from(data)
    assert version == VERSION and len(data) == HEADER.size + length + TAG_BYTES, data.hex()
    payload = data[HEADER.size:HEADER.size + length]
    return Answer(opcode, session, counter, payload, data[HEADER.size + length:], data)


def fragments(data: bytes, chunk: int) -> list[bytes]:
    parts = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    out = []
    for i, part in enumerate(parts):
        header = (i & 0x3F) | (FIRST if i == 0 else 0) | (LAST if i == len(parts) - 1 else 0)
        out.append(bytes((header,)) + part)
    return out


def hello_payload(key_id: int, role: int, not_before: int, not_after: int, nonce: bytes, lock_id: str) -> bytes:
    return struct.pack("<IBII16s", key_id, role, not_before, not_after, nonce) + lock_id.encode()


@dataclass
class Key:
    lock_id: str
    key_id: int
    role: int
    not_before: int
    not_after: int
    key: bytes


def hello_frame(key: Key, nonce: bytes, key_bytes: bytes | None = None) -> bytes:
    payload = hello_payload(key.key_id, key.role, key.not_before, key.not_after, nonce, key.lock_id)
    return frame(OP["hello"], 0, 0, payload, key_bytes or key.key, HELLO_DIRECTION)


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
            assert tag_ok(self.session_key, RESPONSE_DIRECTION, answer.raw), "the HELLO answer's tag"
        return answer

    async def request(self, name: str, payload: bytes = b"") -> Answer:
        assert self.session_key is not None
        self.counter += 1  # the first request's counter is 1 (>= 1)
        answer = await self.send(frame(OP[name], self.session_id, self.counter, payload, self.session_key))
        if not answer.untagged:
            assert tag_ok(self.session_key, RESPONSE_DIRECTION, answer.raw), "an answer's tag"
        return answer

    async def close(self) -> None:
        await self.client.disconnect()


def records(log_page: bytes) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """(seq, time, type, fields) of a LOG_READ answer payload (docs/protocol.md)."""
    _status, _next_seq, count = struct.unpack_from("<BIB", log_page)
    out, offset = [], 6
    for _ in range(count):
        _magic, n, seq, time_s, kind = struct.unpack_from("<BBIIB", log_page, offset)
        fields = struct.unpack_from("<%di" % n, log_page, offset + 11)
        out.append((seq, time_s, kind, fields))
        offset += 11 + 4 * n + 4
    return out
