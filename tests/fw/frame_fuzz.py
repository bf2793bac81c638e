# The bulk of the frame fuzzer (issue 13): runs on the MicroPython unix port, in-process,
# feeding the lock's own Reassembler and handle_frame (firmware/handlers.py) with random and
# mutated frames cut into random fragments, from a fixed seed. Nothing is mocked on the path
# from fragment to answer: a real Auth with a provisioned secret, a real EventLog on flash;
# only the motor (never reached without a session) is a stand-in that records any call.
# Usage: micropython frame_fuzz.py SEED COUNT   (cwd: an empty temporary directory)
# Prints one JSON line: counts, and every invariant broken (each one fails the test).

import asyncio
import gc
import json
import random
import struct
import sys

import wire
from auth import Auth
from eventlog import EventLog
from handlers import error_frame, handle_frame
from store import Store

LOCK_ID = "HL-F0221E"
SECRET = bytes(range(1, 33))


class _Clock:
    def now(self):
        return 1_800_000_000


class _Untouchable:
    """Whatever a request could change: any call is a state change without a session."""

    def __init__(self):
        self.calls = 0
        self.state = wire.LOCK_LOCKED
        self.busy = False
        self.last_travel_ms = 0

    async def request(self, *args):
        self.calls += 1
        return wire.STATUS_OK


class _App:
    def __init__(self):
        self.store = Store("state.json")
        self.log = EventLog("log", 4, 16)
        self.auth = Auth(LOCK_ID, SECRET, _Clock(), self.log, self.store)
        self.lock = _Untouchable()


def _valid_hello(rng):
    key_id = rng.getrandbits(16)
    payload = struct.pack("<IBII16s", key_id, rng.choice((1, 2, 3)), 0, 2_000_000_000,
                          bytes(rng.getrandbits(8) for _ in range(16))) + LOCK_ID.encode()
    frame = wire.encode_frame(wire.OP_HELLO, 0, 0, payload)
    return wire.with_tag(frame, bytes(rng.getrandbits(8) for _ in range(16)))  # no key: a guess


def _base(rng):
    kind = rng.getrandbits(2)
    if kind == 0:
        return _valid_hello(rng)
    if kind == 1:
        opcode = rng.choice((1, 2, 3, 4, 5, 6, 7, 0x11, 0x12, 0x13, 0x7F, rng.getrandbits(8)))
        size = rng.getrandbits(6)
        return wire.encode_frame(opcode, rng.getrandbits(32), rng.getrandbits(32),
                                 bytes(rng.getrandbits(8) for _ in range(size)))
    return bytes(rng.getrandbits(8) for _ in range(rng.getrandbits(rng.choice((3, 5, 7, 9)))))


def _mutate(rng, frame):
    frame = bytearray(frame)
    for _ in range(rng.getrandbits(2)):
        op = rng.getrandbits(2)
        if op == 0 and frame:
            frame[rng.getrandbits(16) % len(frame)] ^= 1 << rng.getrandbits(3)
        elif op == 1 and frame:
            frame = frame[:rng.getrandbits(16) % len(frame)]  # truncated
        elif op == 2:
            frame += bytes(rng.getrandbits(8) for _ in range(rng.getrandbits(4)))
        else:
            frame[0:1] = bytes((wire.PROTOCOL_VERSION,))
    return bytes(frame)


def _fragments(rng, frame):
    chunk = rng.choice((1, 19, 20, 100, 243, rng.getrandbits(8) + 1))
    if len(frame) > 200:
        chunk = max(chunk, 19)  # the generator's own lists fit the test heap
    parts = wire.fragment(frame, chunk + 4) if frame else [b""]
    if rng.getrandbits(3) == 0 and parts:  # out of order, dropped, duplicated, bare headers
        i = rng.getrandbits(8) % len(parts)
        choice = rng.getrandbits(2)
        if choice == 0:
            parts.insert(i, parts[i])
        elif choice == 1:
            parts.pop(i)
        elif choice == 2:
            parts[i] = bytes((rng.getrandbits(8),)) + parts[i][1:]
        else:
            parts.insert(i, b"")
    return parts


async def main(seed, count):
    random.seed(seed)  # MicroPython has no random.Random: the module is the generator
    rng = random
    app = _App()
    visit = app.log.append(wire.EVENT_UNLOCKED, (600, 3500, 1, 7))  # an unsynced visit
    reassembler = wire.Reassembler()
    counts = {"frames": 0, "fragments": 0, "answers": 0, "sessions": 0}
    broken = []
    for n in range(count):
        if n % 256 == 0:
            gc.collect()  # the generator's garbage, not the lock's
        frame = _base(rng)
        if rng.getrandbits(1):
            frame = _mutate(rng, frame)
        for part in _fragments(rng, frame):
            counts["fragments"] += 1
            try:
                whole = reassembler.feed(part)
            except ValueError as err:
                error_frame(err.args[0])
                counts["answers"] += 1
                continue
            except Exception as err:  # noqa: BLE001 - any other exception is a finding
                broken.append("feed %d: %r" % (n, err))
                continue
            if whole is None:
                continue
            try:
                answer = await handle_frame(app, whole)
                counts["answers"] += 1
                if len(answer) > wire.MAX_RESPONSE:
                    broken.append("answer %d too long" % n)
            except Exception as err:  # noqa: BLE001
                broken.append("frame %d: %r" % (n, err))
            session = app.auth.session
            if session is not None:
                counts["sessions"] += 1
                if session.counter:
                    broken.append("frame %d: a session proven without a key" % n)
        counts["frames"] += 1
    records = app.log.read(0, 1000)
    if not any(r[0] == visit for r in records):
        broken.append("the unsynced visit was pushed out")
    if app.lock.calls:
        broken.append("the lock was moved %d times without a session" % app.lock.calls)
    noise = [r for r in records if r[2] != wire.EVENT_UNLOCKED]
    if len(noise) > 12:
        broken.append("%d noise records in the hour" % len(noise))
    counts["records"] = len(records)
    counts["broken"] = broken
    print(json.dumps(counts))


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
