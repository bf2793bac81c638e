# The service console on the serial port: line commands for the bench and the virtual board,
# answered with one line "@" + JSON, so a program can tell answers from other output.
# Serial is physical access (the unit's housing is inside the home); the BLE service is the
# authenticated way in for everyone else.

import gc
import json
import sys
import time
from binascii import unhexlify

import asyncio
from micropython import const

import wire
from app import IDENTITY_FILE, SECRET_FILE, reply
from store import replace_file

_MAX_LINE = const(128)  # longer lines are refused whole, not parsed
_MAX_LOG_READ = const(16)  # records per "log" answer: keeps the answer small in RAM
_MAX_IN_FLIGHT = const(4)  # commands run concurrently (a status while the motor runs), up to this


class Console:
    def __init__(self, app):
        self._app = app
        self._commands = {
            "status": self._status,
            "lock": self._lock,
            "unlock": self._unlock,
            "battery": self._battery,
            "selftest": self._selftest,
            "log": self._log,
            "mem": self._mem,
            "swap": self._swap,
            "power": self._power,
            "trace": self._trace,
            "provision": self._provision,
            "reprovision": self._reprovision,
        }
        self._in_flight = 0

    async def _read_line(self, stream, byte=b""):
        """One line, read a byte at a time: readline() on ESP32 stdio would block the whole
        event loop (motor polling, watchdog) from the first byte until the newline.
        byte: one already read (the one that woke the console)."""
        line = b""
        while True:
            got, byte = byte or await stream.read(1), b""
            if not got:
                return None  # stdin closed
            if isinstance(got, str):
                got = got.encode()  # sys.stdin is a text stream on the boards
            if got == b"\n":
                return line
            if got[0] < 32 or got[0] == 127:
                # Line noise, not a command: a tool's Ctrl-B that reached the unit as it booted
                # again (mpremote's after machine.reset()) would otherwise prefix the next line.
                continue
            if len(line) <= _MAX_LINE:
                line += got  # past the limit the rest is dropped, not buffered

    async def serve(self, stream, first=b""):
        while True:
            line = await self._read_line(stream, first)
            first = b""
            if line is None:
                return
            try:
                words = line[:_MAX_LINE].decode().split()
            except UnicodeError:
                reply({"error": "not text"})
                continue
            if not words:
                continue
            if len(line) > _MAX_LINE:
                reply({"cmd": words[0], "error": "line too long"})
                continue
            if words[0] not in self._commands:
                reply({"cmd": words[0], "error": "unknown command"})
            elif self._in_flight >= _MAX_IN_FLIGHT:
                reply({"cmd": words[0], "error": "too many commands at once"})
            else:
                self._in_flight += 1
                asyncio.create_task(self._run(words))

    async def _run(self, words):
        self._app.policy.activity()
        try:
            answer = await self._commands[words[0]](words[1:])
        except ValueError as err:
            answer = {"error": "bad argument: %s" % err}
        except MemoryError:
            answer = None
        except Exception as err:  # a fault (flash, ADC): answer it, keep serving
            answer = {"error": "fault: %s" % err}
        finally:
            self._in_flight -= 1
            self._app.policy.activity()  # the window counts from the end of the last command
        try:
            if answer is None:
                raise MemoryError
            answer["cmd"] = words[0]
            reply(answer)
        except MemoryError:
            # Never leave a command unanswered: a caller waits for it. What was half written
            # ends the line; the short answer below needs no more than a few bytes.
            gc.collect()
            sys.stdout.write('\n@{"cmd": "%s", "error": "out of memory"}\n' % words[0])

    async def _status(self, args):
        app = self._app
        return {
            "state": app.lock.state,
            "busy": app.lock.busy,
            "battery": app.battery.state,
            "next_seq": app.log.next_seq,
            "board": app.name,
            "firmware": app.firmware_version,
            "lock_id": app.auth.lock_id,
            "provisioned": app.auth.provisioned,
            "clock": app.clock.now(),
            "auth_backoff_ms": app.auth.backoff_ms(),
        }

    async def _move(self, target):
        result = await self._app.lock.request(target)
        return {"result": result, "state": self._app.lock.state, "travel_ms": self._app.lock.last_travel_ms}

    async def _lock(self, args):
        return await self._move(wire.LOCK_LOCKED)

    async def _unlock(self, args):
        return await self._move(wire.LOCK_UNLOCKED)

    async def _battery(self, args):
        app = self._app
        state = await app.measure_battery()
        battery = app.battery
        return {"battery": state, "idle_mv": battery.idle_mv, "loaded_mv": battery.loaded_mv,
                "percent": battery.percent, "days_left": battery.days_left(),
                "used_uah": app.charge.used_uah, "last_swap": app.charge.swap_time}

    async def _swap(self, args):
        # The bench's battery-swap registration (the field's is over BLE, technician key).
        result = await self._app.register_battery_swap()
        return {"result": result, "battery": self._app.battery.state,
                "loaded_mv": self._app.battery.loaded_mv, "last_swap": self._app.charge.swap_time}

    async def _power(self, args):
        # power [stay|auto|sleep MS]: "stay" keeps the lock awake for bench work, "auto" follows
        # the policy, "sleep" goes into deep sleep now (the bench's sleep current and knock checks)
        # until MS have passed or a wake source fires; answered first.
        policy = self._app.policy
        if args and args[0] == "sleep":
            ms = int(args[1]) if len(args) == 2 else 0
            if not 0 < ms <= 86_400_000:
                raise ValueError("power sleep MS (1 to 86400000)")
            if self._app.lock.busy:
                return {"error": "the bolt is moving"}  # not stopped halfway by a sleep
            asyncio.create_task(self._sleep_soon(ms))
            return {"sleep_ms": ms}
        if args:
            if args[0] not in ("stay", "auto"):
                raise ValueError("power [stay|auto|sleep MS]")
            policy.bench(args[0] == "stay")
        charge = self._app.charge
        return {"stay": policy.stay_awake, "awake_ms": policy.awake_ms, "sleep_ms": policy.sleep_ms,
                "used_uah": charge.used_uah, "draw_ua": charge.draw_ua(),
                "rate_uah_day": charge.rate_uah_per_day()}

    async def _sleep_soon(self, ms):
        await asyncio.sleep_ms(100)  # the answer's line out of the UART first
        self._app.policy.sleep(ms)

    async def _selftest(self, args):
        result = await self._app.selftest()
        if result is None:
            return {"result": wire.STATUS_BUSY}
        keys = ("idle_mv", "loaded_mv", "battery", "green_off_ms", "blinks", "red_done_ms")
        return dict(zip(keys, result))

    async def _log(self, args):
        from_seq = int(args[0]) if args else 0
        limit = min(int(args[1]), _MAX_LOG_READ) if len(args) > 1 else _MAX_LOG_READ
        records = self._app.log.read(from_seq, limit)
        return {"records": [[r[0], r[1], r[2], r[3]] for r in records], "next_seq": self._app.log.next_seq}

    async def _provision(self, args, again=False):
        # provision LOCK_ID SECRET_HEX [TIME]: the only way a secret reaches the lock (serial is
        # physical access), with the technician's clock (unix time) for a chip whose RTC reads
        # its epoch. The answer never repeats the secret; the lock then restarts.
        # Here and not in app.py: the console's code is loaded only when a serial host types.
        if len(args) not in (2, 3):
            raise ValueError("provision LOCK_ID SECRET_HEX [TIME]")
        app = self._app
        lock_id, secret, now = args[0], unhexlify(args[1]), int(args[2]) if len(args) > 2 else 0
        if app.auth.provisioned and not again:
            raise ValueError("already provisioned: use reprovision (old keys stop working)")
        if len(secret) != wire.SECRET_SIZE or not lock_id or len(lock_id) > 29:
            raise ValueError("a lock id of 1-29 characters and a %d-byte secret" % wire.SECRET_SIZE)
        replace_file(SECRET_FILE, secret)
        replace_file(IDENTITY_FILE, json.dumps({"lock_id": lock_id}))
        app.log.append(wire.EVENT_PROVISIONED, (2 if again else 1,))
        if now > 0:
            # A new chip's RTC reads its epoch, where every key is not yet valid, and only a
            # session may move the clock: so it is set here, with the secret, by physical
            # access (logged as any clock change).
            clock = app.auth.clock
            app.log.append(wire.EVENT_CLOCK_SET, (clock.now(), now, 0))
            clock.set(now)
        asyncio.create_task(self._restart())
        return {"lock_id": args[0], "restarting": True}

    async def _reprovision(self, args):
        return await self._provision(args, True)

    async def _restart(self):
        await asyncio.sleep_ms(100)  # let the answer out first
        self._app.hw.restart()

    async def _trace(self, args):
        # trace [FROM]: the hardware trace (hwtrace.py) from sequence FROM, 16 events an answer.
        # "now" (ticks_ms) lets the reader place the events in its own time.
        tracer = self._app.hw.trace
        events = tracer.read(int(args[0]) if args else 0, _MAX_LOG_READ)
        return {"now": time.ticks_ms(), "next": tracer.count, "events": events}

    async def _mem(self, args):
        gc.collect()
        return {"alloc": gc.mem_alloc(), "free": gc.mem_free()}
