"""What authentication costs: HMAC verifications per second on the MicroPython unix port, its
share of an unlock's processing time on the lock, and the ATT round trips it adds.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/auth_cost.py

The crypto runs in the firmware's own wire module on the real unix port (with the 96 KiB
heap). An unlock in a session costs the lock one tag check and one tag; a HELLO costs a key
derivation, a tag check, a session-key derivation and a tag. Round trips are counted in the
client's Bumble GATT client, for a whole authenticated unlock (HELLO + UNLOCK) beside the
unauthenticated minimum (the UNLOCK frame alone).
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
from hemlas.sim.build import micropython_executable

ROOT = Path(__file__).resolve().parents[1]
MPY_BENCH = """
import time, wire
secret = bytes(range(32))
key = wire.derive_key(secret, "HL-000001", 7, 1, 0, 2000000000)
frame = wire.encode_frame(wire.OP_UNLOCK, 5, 1)
frame = wire.with_tag(frame, wire.tag(key, wire.TAG_REQUEST, frame))
def rate(fn, n):
    t = time.ticks_us()
    for _ in range(n):
        fn()
    dt = time.ticks_diff(time.ticks_us(), t)
    print(n * 1000000 // dt, dt // n)
rate(lambda: wire.hmac_sha256(key, frame), 2000)
rate(lambda: wire.check_tag(key, wire.TAG_REQUEST, frame), 2000)
def hello():
    k = wire.derive_key(secret, "HL-000001", 7, 1, 0, 2000000000)
    wire.check_tag(k, wire.TAG_HELLO, frame)
    s = wire.derive_session_key(k, 1, bytes(16), bytes(16))
    wire.tag(s, wire.TAG_RESPONSE, frame)
rate(hello, 500)
def unlock_auth():
    wire.check_tag(key, wire.TAG_REQUEST, frame)
    wire.tag(key, wire.TAG_RESPONSE, frame)
rate(unlock_auth, 2000)
"""


def micropython_rates() -> list[tuple[int, int]]:
    out = subprocess.run([micropython_executable(), "-X", "heapsize=96K", "-c", MPY_BENCH],
                         env={"MICROPYPATH": f"{ROOT / 'firmware'}:.frozen"}, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [tuple(int(x) for x in line.split()) for line in out if line.strip()]


async def unlock_round_trips(vb, key, mtu) -> tuple[dict, dict, float]:
    vb.set_bolt(1.0)
    device = await find_lock(vb.lock_id)
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


def main() -> None:
    (hmac_rate, hmac_us), (check_rate, check_us), (hello_rate, hello_us), (unlock_rate, unlock_us) = micropython_rates()
    print("On the MicroPython unix port (firmware/wire.py, hashlib.sha256 in C):")
    print(f"  HMAC-SHA256 of a request frame:    {hmac_rate:6d}/s  ({hmac_us} us)")
    print(f"  request tag verification:          {check_rate:6d}/s  ({check_us} us)")
    print(f"  HELLO (derive key, verify, session key, tag): {hello_rate}/s ({hello_us} us)")
    print(f"  per authenticated unlock on the lock (verify + tag the answer): {unlock_us} us")
    with provisioned_lock(wire.ROLE_STAFF) as (vb, key):
        for label, mtu, att_mtu in (("MTU 247", 247, 247), ("MTU 23", None, 23)):
            connect, unlock, processing_s = asyncio.run(unlock_round_trips(vb, key, mtu))
            hello_frame = 12 + 30 + len(vb.lock_id) + 16
            hello_rt = len(wire.fragment(bytes(hello_frame), att_mtu))
            minimum = len(wire.fragment(wire.encode_frame(wire.OP_UNLOCK, 0, 1), att_mtu))
            print(f"{label}: authenticated unlock = HELLO {hello_rt} + UNLOCK {unlock['round_trips']} ATT round trips "
                  f"(+ {1 + unlock['notifications']} answer notifications); the unauthenticated minimum is "
                  f"{minimum} round trip(s): authentication adds {hello_rt} per connection, 0 per request")
            print(f"  unlock processing on the virtual lock (request time - motor travel): {processing_s * 1000:.1f} ms;"
                  f" authentication's share: {unlock_us / 1000 / (processing_s * 1000) * 100:.2f} %")


if __name__ == "__main__":
    main()
