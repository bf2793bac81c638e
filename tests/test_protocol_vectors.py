"""docs/protocol.md's test vectors (version 3), recomputed from the documents alone
(hashlib/hmac, AES-128-ECB from `cryptography` with the CTR counter blocks built here from the
text; no firmware/wire.py): an implementer who follows the text gets the same bytes as the lock.
And the lock's own code (wire) must agree with the vectors too, so neither side drifts."""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _vectors() -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## Test vectors", 1)[1].split("```", 2)[1]
    return {name: bytes.fromhex(value) for name, value in re.findall(r"^(\w+): ([0-9a-f]+)$", block, re.M)}


# The inputs, as the section states them.
SECRET, LOCK_ID = bytes(range(32)), "HL-1A2B3C"
KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER = 7, 1, 1700000000, 1700086400
CLIENT_NONCE, LOCK_NONCE, SESSION_ID, LOCK_TIME = b"\x11" * 16, b"\x22" * 16, 0x01020304, 1700000100
R, PRAND = b"\x33" * 8, bytes.fromhex("401122")
HELLO, REQUEST, RESPONSE, CLEAR = 0x00, 0x01, 0x02, 0x03  # "Frames": direction bytes


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _ecb(key: bytes, data: bytes) -> bytes:
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(data)


def _ctr(key: bytes, direction: int, session: int, counter: int, data: bytes) -> bytes:
    # Cᵢ = direction u8 ‖ session id u32 ‖ frame counter u32 ‖ 3 zero bytes ‖ i u32
    blocks = b"".join(struct.pack("<BII3xI", direction, session, counter, i) for i in range((len(data) + 15) // 16))
    return bytes(a ^ b for a, b in zip(data, _ecb(key, blocks) if blocks else b""))


def _frame(opcode: int, session: int, counter: int, payload: bytes, key: bytes | None, direction: int) -> bytes:
    body = struct.pack("<BBIIH", 3, opcode, session, counter, len(payload)) + payload
    return body + (_mac(key, bytes((direction,)) + body)[:16] if key is not None else bytes(16))


def test_the_vectors_follow_from_the_document():
    v = _vectors()
    assert v["secret"] == SECRET
    key = _mac(SECRET, b"hemlas key v2" + struct.pack("<IBII", KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER)
               + LOCK_ID.encode())
    assert v["key"] == key
    session_key = _mac(key, b"hemlas session v2" + struct.pack("<I", SESSION_ID) + CLIENT_NONCE + LOCK_NONCE)
    assert v["session_key"] == session_key
    adv_key = _mac(SECRET, b"hemlas advertising v3")[:16]
    assert v["advertising_key"] == adv_key
    assert v["rotating_id"] == R + _mac(adv_key, b"hemlas rotating id v3" + R)[:8]
    # ah (Core spec Vol 3 Part H 2.2.2), MSB first: the IRK is the advertising key reversed.
    assert v["rpa"] == PRAND + _ecb(bytes(reversed(adv_key)), bytes(13) + PRAND)[-3:]
    assert v["rpa"][0] >> 6 == 0b01
    hello_key = _mac(adv_key, b"hemlas hello v3" + CLIENT_NONCE)[:16]
    assert v["hello_key"] == hello_key
    cipher_key = _mac(session_key, b"hemlas cipher v3")[:16]
    assert v["cipher_key"] == cipher_key

    fields = struct.pack("<IBII", KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER) + LOCK_ID.encode()
    hello = CLIENT_NONCE + _ctr(hello_key, HELLO, 0, 0, fields)
    assert v["hello"] == _frame(0x10, 0, 0, hello, key, HELLO)
    answer = struct.pack("<BI16sI", 0, SESSION_ID, LOCK_NONCE, LOCK_TIME)
    assert v["hello_answer"] == _frame(0x90, SESSION_ID, 0, answer, session_key, CLEAR)
    assert v["request"] == _frame(0x01, SESSION_ID, 1, b"", session_key, REQUEST)
    status = _ctr(cipher_key, RESPONSE, SESSION_ID, 1, struct.pack("<BBBBIB", 0, 1, 0, 0, 42, 255))
    assert v["response"] == _frame(0x81, SESSION_ID, 1, status, session_key, RESPONSE)
    log_read = _ctr(cipher_key, REQUEST, SESSION_ID, 2, struct.pack("<IB", 0, 8))
    assert v["log_read_request"] == _frame(0x06, SESSION_ID, 2, log_read, session_key, REQUEST)
    assert v["untagged_refusal"] == _frame(0x90, 0, 0, bytes((11,)), None, 0)
    assert all(len(v[f]) <= 128 for f in ("hello", "request", "log_read_request")), "requests fit MAX_FRAME"
    # What "Encryption" says is hidden is not in the clear: the HELLO's lock id, the answer's fields.
    assert LOCK_ID.encode() not in v["hello"] and struct.pack("<I", 42) not in v["response"]


def test_the_lock_agrees_with_the_vectors():
    from hemlas import advertising
    from hemlas.firmware import wire

    v = _vectors()
    key = wire.derive_key(SECRET, LOCK_ID, KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER)
    assert key == v["key"]
    session_key = wire.derive_session_key(key, SESSION_ID, CLIENT_NONCE, LOCK_NONCE)
    assert session_key == v["session_key"]
    adv_key = wire.derive_advertising_key(SECRET)
    assert adv_key == v["advertising_key"] and wire.rotating_id(adv_key, R) == v["rotating_id"]
    assert advertising.resolves(":".join(f"{b:02X}" for b in v["rpa"]), adv_key)
    assert wire.hello_key(adv_key, CLIENT_NONCE) == v["hello_key"]
    cipher_key = wire.derive_cipher_key(session_key)
    assert cipher_key == v["cipher_key"]
    assert (wire.TAG_HELLO, wire.TAG_REQUEST, wire.TAG_RESPONSE, wire.TAG_CLEAR) == (0, 1, 2, 3)
    assert wire.check_tag(key, wire.TAG_HELLO, v["hello"])
    assert wire.check_tag(session_key, wire.TAG_CLEAR, v["hello_answer"])
    for name, opcode, counter, direction, plain in (
            ("request", wire.OP_STATUS, 1, wire.TAG_REQUEST, b""),
            ("response", wire.OP_STATUS | wire.RESPONSE_BIT, 1, wire.TAG_RESPONSE,
             struct.pack("<BBBBIB", 0, 1, 0, 0, 42, 255)),
            ("log_read_request", wire.OP_LOG_READ, 2, wire.TAG_REQUEST, struct.pack("<IB", 0, 8))):
        assert wire.seal(session_key, cipher_key, direction, opcode, SESSION_ID, counter, plain) == v[name], name
        _op, _session, _counter, payload, _tag = wire.decode_frame(v[name])
        assert wire.crypt(cipher_key, direction, SESSION_ID, counter, payload) == plain
    _op, _s, _c, payload, _tag = wire.decode_frame(v["hello"])
    fields = wire.crypt(v["hello_key"], wire.TAG_HELLO, 0, 0, payload[wire.NONCE_SIZE:])
    assert struct.unpack_from(wire.REQUEST_FORMATS[wire.OP_HELLO], fields) == (KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER)
    assert fields[13:].decode() == LOCK_ID
    assert wire.decode_frame(v["untagged_refusal"])[3:] == (bytes((wire.STATUS_BAD_TAG,)), bytes(16))
    assert (wire.ROLE_STAFF, wire.ROLE_TECHNICIAN, wire.ROLE_ADMIN) == (1, 2, 3)
    assert wire.PROTOCOL_VERSION == 3 and wire.MAX_FRAME == 128 and wire.MAX_RESPONSE == 512
