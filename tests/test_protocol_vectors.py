"""docs/protocol.md's test vectors, recomputed from the documents alone (hashlib/hmac; no
firmware/wire.py): an implementer who follows the text gets the same bytes as the lock. And the
lock's own code (wire) must agree with the vectors too, so neither side drifts."""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _vectors() -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## Test vectors", 1)[1].split("```", 2)[1]
    return {name: bytes.fromhex(value) for name, value in re.findall(r"^(\w+): ([0-9a-f]+)$", block, re.M)}


# The inputs, as the section states them.
SECRET, LOCK_ID = bytes(range(32)), "HL-1A2B3C"
KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER = 7, 1, 1700000000, 1700086400
CLIENT_NONCE, LOCK_NONCE, SESSION_ID, LOCK_TIME = b"\x11" * 16, b"\x22" * 16, 0x01020304, 1700000100


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _frame(opcode: int, session: int, counter: int, payload: bytes, key: bytes | None, direction: int) -> bytes:
    body = struct.pack("<BBIIH", 2, opcode, session, counter, len(payload)) + payload
    return body + (_mac(key, bytes((direction,)) + body)[:16] if key is not None else bytes(16))


def test_the_vectors_follow_from_the_document():
    v = _vectors()
    assert v["secret"] == SECRET
    key = _mac(SECRET, b"hemlas key v2" + struct.pack("<IBII", KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER)
               + LOCK_ID.encode())
    assert v["key"] == key
    session_key = _mac(key, b"hemlas session v2" + struct.pack("<I", SESSION_ID) + CLIENT_NONCE + LOCK_NONCE)
    assert v["session_key"] == session_key
    hello = struct.pack("<IBII16s", KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER, CLIENT_NONCE) + LOCK_ID.encode()
    assert v["hello"] == _frame(0x10, 0, 0, hello, key, 0x00)
    answer = struct.pack("<BI16sI", 0, SESSION_ID, LOCK_NONCE, LOCK_TIME)
    assert v["hello_answer"] == _frame(0x90, SESSION_ID, 0, answer, session_key, 0x02)
    assert v["request"] == _frame(0x01, SESSION_ID, 1, b"", session_key, 0x01)
    status = struct.pack("<BBBBI", 0, 1, 0, 0, 42)
    assert v["response"] == _frame(0x81, SESSION_ID, 1, status, session_key, 0x02)
    assert v["untagged_refusal"] == _frame(0x90, 0, 0, bytes((11,)), None, 0)
    assert all(len(f) <= 128 for f in (v["hello"], v["request"])), "requests fit MAX_FRAME"


def test_the_lock_agrees_with_the_vectors():
    from hemlas.firmware import wire

    v = _vectors()
    key = wire.derive_key(SECRET, LOCK_ID, KEY_ID, ROLE, NOT_BEFORE, NOT_AFTER)
    assert key == v["key"]
    assert wire.derive_session_key(key, SESSION_ID, CLIENT_NONCE, LOCK_NONCE) == v["session_key"]
    assert wire.check_tag(key, wire.TAG_HELLO, v["hello"])
    assert wire.check_tag(v["session_key"], wire.TAG_REQUEST, v["request"])
    assert wire.check_tag(v["session_key"], wire.TAG_RESPONSE, v["response"])
    assert (wire.TAG_HELLO, wire.TAG_REQUEST, wire.TAG_RESPONSE) == (0, 1, 2)
    assert (wire.ROLE_STAFF, wire.ROLE_TECHNICIAN, wire.ROLE_ADMIN) == (1, 2, 3)
    assert wire.MAX_FRAME == 128 and wire.MAX_RESPONSE == 512
