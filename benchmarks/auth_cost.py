"""What authentication and encryption cost: per-operation times on the ESP32-like build (and
the 64-bit port beside it), their share of an unlock's processing time on the lock, and the ATT
round trips they add.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/auth_cost.py

The crypto runs in the firmware's own wire module on each MicroPython unix port (96 KiB heap):
hashlib.sha256 and cryptolib's AES in C, CTR mode and HMAC in Python, as on the lock. Version 2
only tagged; version 3 also encrypts: both are timed in the same run, side by side. An unlock
in a session costs the lock a tag check, a decryption (of an empty payload), an encryption of
its 4-byte answer and a tag; a HELLO the HELLO key, its fields' decryption, a key derivation, a
tag check, the session and cipher keys. Round trips are counted in the client's Bumble GATT
client, for a whole authenticated unlock (HELLO + UNLOCK) beside the unauthenticated minimum.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import att_counter
from virtual_lock import provisioned_lock

from hemlas.client import LockClient, find_lock
from hemlas.firmware import wire
from hemlas.errors import VirtualBoardError
from hemlas.sim.build import micropython_executable

ROOT = Path(__file__).resolve().parents[1]
MPY_BENCH = """
import time, wire
secret = bytes(range(32))
adv = wire.derive_advertising_key(secret)
key = wire.derive_key(secret, "HL-000001", 7, 1, 0, 2000000000)
cipher = wire.derive_cipher_key(key)
frame = wire.seal(key, cipher, wire.TAG_REQUEST, wire.OP_UNLOCK, 5, 1, b"")
page = bytes(410)  # a LOG_READ answer of 8 records
nonce = bytes(16)
hello = wire.encode_frame(wire.OP_HELLO, 0, 0, nonce + bytes(13 + 9))
def rate(name, fn, n):
    t = time.ticks_us()
    for _ in range(n):
        fn()
    dt = time.ticks_diff(time.ticks_us(), t)
    print(name, dt // n)
rate("hmac", lambda: wire.hmac_sha256(key, frame), 500)
rate("check", lambda: wire.check_tag(key, wire.TAG_REQUEST, frame), 500)
rate("crypt4", lambda: wire.crypt(cipher, wire.TAG_RESPONSE, 5, 1, b"1234"), 500)
rate("crypt410", lambda: wire.crypt(cipher, wire.TAG_RESPONSE, 5, 1, page), 200)
def hello_v2():
    k = wire.derive_key(secret, "HL-000001", 7, 1, 0, 2000000000)
    wire.check_tag(k, wire.TAG_HELLO, hello)
    s = wire.derive_session_key(k, 1, nonce, nonce)
    wire.tag(s, wire.TAG_CLEAR, hello)
def hello_v3():
    wire.crypt(wire.hello_key(adv, nonce), wire.TAG_HELLO, 0, 0, bytes(22))
    hello_v2()
    wire.derive_cipher_key(key)
rate("hello2", hello_v2, 200)
rate("hello3", hello_v3, 200)
def unlock_v2():
    wire.check_tag(key, wire.TAG_REQUEST, frame)
    wire.tag(key, wire.TAG_RESPONSE, frame)
def unlock_v3():
    wire.check_tag(key, wire.TAG_REQUEST, frame)
    wire.crypt(cipher, wire.TAG_REQUEST, 5, 1, b"")
    wire.seal(key, cipher, wire.TAG_RESPONSE, wire.OP_UNLOCK | 0x80, 5, 1, b"1234")
rate("unlock2", unlock_v2, 500)
rate("unlock3", unlock_v3, 500)
def page_v3():
    wire.seal(key, cipher, wire.TAG_RESPONSE, wire.OP_LOG_READ | 0x80, 5, 1, page)
def page_v2():
    f = wire.encode_frame(wire.OP_LOG_READ | 0x80, 5, 1, page)
    wire.with_tag(f, wire.tag(key, wire.TAG_RESPONSE, f))
rate("page2", page_v2, 200)
rate("page3", page_v3, 200)
"""


def micropython_us(interpreter: str) -> dict[str, int]:
    """Microseconds per operation, by name, on that interpreter."""
    out = subprocess.run([micropython_executable(interpreter), "-X", "heapsize=96K", "-c", MPY_BENCH],
                         env={"MICROPYPATH": f"{ROOT / 'firmware'}:.frozen"}, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return {line.split()[0]: int(line.split()[1]) for line in out if line.strip()}


async def unlock_round_trips(vb, key, mtu) -> tuple[dict, dict, float]:
    vb.set_bolt(1.0)
    device = await find_lock(vb.lock_id, adv_keys=[key.adv_key])
    lock = LockClient(vb.lock_id, key=key, mtu=mtu)
    before = att_counter.snapshot()
    await lock.connect(device)
    connect = att_counter.since(before)
    before = att_counter.snapshot()
    start = time.perf_counter()
    result = await lock.unlock()
    request_s = time.perf_counter() - start
    unlock = att_counter.since(before)
    await lock.disconnect()
    await asyncio.sleep(0.3)
    return connect, unlock, request_s - result.travel_ms / 1000


ROWS = (
    ("HMAC-SHA256 of a request frame", "hmac"),
    ("request tag verification", "check"),
    ("AES-CTR of a 4-byte answer", "crypt4"),
    ("AES-CTR of a 410-byte log page", "crypt410"),
    ("HELLO, v2: key, tag check, session key", "hello2"),
    ("HELLO, v3: + HELLO key, fields, cipher key", "hello3"),
    ("unlock in a session, v2: check + tag", "unlock2"),
    ("unlock in a session, v3: + decrypt + encrypt", "unlock3"),
    ("log page answer, v2: tag", "page2"),
    ("log page answer, v3: encrypt + tag", "page3"),
)


def main() -> None:
    interpreters = [name for name in ("esp32like", "mpy64") if _available(name)]
    figures = {name: micropython_us(name) for name in interpreters}
    print("Microseconds per operation on the MicroPython unix ports (firmware/wire.py; an ESP32 at")
    print("240 MHz is slower than this host by a factor to be measured on a unit):")
    print(f"  {'':48}" + "".join(f"{name:>12}" for name in interpreters))
    for label, name in ROWS:
        print(f"  {label:48}" + "".join(f"{figures[i][name]:>12}" for i in interpreters))
    ref = figures[interpreters[0]]
    print(f"  v3/v2 on {interpreters[0]}: HELLO {ref['hello3'] / ref['hello2']:.2f}x, unlock "
          f"{ref['unlock3'] / ref['unlock2']:.2f}x, log page {ref['page3'] / ref['page2']:.2f}x")
    unlock_us = ref["unlock3"]
    with provisioned_lock(wire.ROLE_STAFF) as (vb, key):
        for label, mtu, att_mtu in (("MTU 247", 247, 247), ("MTU 23", None, 23)):
            connect, unlock, processing_s = asyncio.run(unlock_round_trips(vb, key, mtu))
            hello_frame = 12 + 16 + 13 + len(vb.lock_id) + 16
            hello_rt = len(wire.fragment(bytes(hello_frame), att_mtu))
            minimum = len(wire.fragment(wire.encode_frame(wire.OP_UNLOCK, 0, 1), att_mtu))
            print(f"{label}: authenticated unlock = HELLO {hello_rt} + UNLOCK {unlock['round_trips']} ATT round trips "
                  f"(+ {1 + unlock['notifications']} answer notifications); the unauthenticated minimum is "
                  f"{minimum} round trip(s): authentication adds {hello_rt} per connection, 0 per request")
            print(f"  unlock processing on the virtual lock (request time - motor travel): {processing_s * 1000:.1f} ms;"
                  f" authentication and encryption's share ({interpreters[0]}): "
                  f"{unlock_us / 1000 / (processing_s * 1000) * 100:.2f} %")


def _available(interpreter: str) -> bool:
    try:
        micropython_executable(interpreter)
        return True
    except VirtualBoardError:
        return False


if __name__ == "__main__":
    main()
