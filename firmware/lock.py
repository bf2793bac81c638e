# The lock state machine. A lock/unlock command is a request: the state becomes LOCKED or
# UNLOCKED only when end of travel confirms it (a limit switch, or a stall at the end stop on
# boards without switches). A bolt that does not get there in time is a jam; the retry policy
# is one retry after backing off (docs/firmware.md).

import asyncio
import time

from micropython import const

import wire

_POLL_MS = const(5)  # the bolt moves about 1 % of its travel per poll
_MV_SAMPLES = const(4)  # battery samples per poll while the motor runs: enough, and fast
_ATTEMPTS = const(2)  # the first try plus one retry
_STALL_POLLS = const(2)  # consecutive over-current polls that make a stall: one is a spike


class Lock:
    def __init__(self, motor, limits, sense, battery, log, store, cfg, power):
        self._motor = motor
        self._limits = limits
        self._sense = sense
        self._battery = battery
        self._log = log
        self._store = store
        self._cfg = cfg
        self._power = power  # asyncio.Lock shared with the self-test's battery load
        self._moving = False
        self.state = wire.LOCK_UNKNOWN
        self.last_travel_ms = 0
        self._runs = 0  # motor runs so far (each one's charge is worth a flash write)

    def read_sensors(self):
        """State after boot, from the sensors: never assumed from what was stored."""
        if self._limits.locked():
            self.state = wire.LOCK_LOCKED
        elif self._limits.unlocked():
            self.state = wire.LOCK_UNLOCKED
        else:
            self.state = wire.LOCK_UNKNOWN  # between the ends, or a board without switches
        return self.state

    @property
    def busy(self):
        return self._moving

    def _at(self, target):
        """Do the switches show the bolt at target? Without switches nothing is known: the
        bolt may have been turned by hand, so every request drives (docs/firmware.md)."""
        if not self._limits.present:
            return False
        return self._limits.locked() if target == wire.LOCK_LOCKED else self._limits.unlocked()

    async def request(self, target, key_id=0):
        """Move the bolt to target (LOCK_LOCKED or LOCK_UNLOCKED); return a STATUS_ code.

        key_id: whose request it is, for the event log (0: the console or the lock itself).
        """
        if target != wire.LOCK_LOCKED and target != wire.LOCK_UNLOCKED:
            return wire.STATUS_BAD_REQUEST
        if self._moving:
            return wire.STATUS_BUSY  # the running move completes; it is not reversed midway
        self._moving = True
        runs = self._runs
        try:
            async with self._power:
                return await self._move(target, key_id)
        finally:
            self._moving = False
            if self._runs != runs:
                self._battery.charge.save()  # a motor run is most of a day's charge: keep it

    async def _move(self, target, key_id):
        event = wire.EVENT_LOCKED if target == wire.LOCK_LOCKED else wire.EVENT_UNLOCKED
        if self._at(target):
            # Already there: no motor run, but still the carer's arrival or departure, so it
            # is logged with attempts 0 (the visit record), and answered with travel 0.
            self.state = target
            self.last_travel_ms = 0
            self._log.append(event, (0, 0, 0, key_id))
            return wire.STATUS_OK
        battery = self._battery
        if await battery.check() == wire.BATTERY_CRITICAL:
            self._log.append(
                wire.EVENT_REFUSED_BATTERY, (target, battery.idle_mv, battery.loaded_mv)
            )
            return wire.STATUS_BATTERY_CRITICAL
        direction = 1 if target == wire.LOCK_LOCKED else -1
        moving_state = wire.LOCK_LOCKING if direction > 0 else wire.LOCK_UNLOCKING
        self.state = moving_state
        travel_ms = 0
        start_known = self._store.get("lock_state") in (wire.LOCK_LOCKED, wire.LOCK_UNLOCKED)
        # Kept before the bolt moves: a power cut mid-move leaves "moving" in flash, and the
        # next move then knows the start is unknown.
        self._store.update(lock_state=moving_state)
        if not self._limits.present and not start_known:
            # Without switches a stall is judged by how long the bolt travelled, so the start
            # must be an end: find the other end first (new unit, after a jam or a power cut).
            await self._run(-direction, wire.LOCK_UNLOCKED if direction > 0 else wire.LOCK_LOCKED, True)
        for attempt in range(1, _ATTEMPTS + 1):
            self.state = moving_state
            # A retry follows a back-off from the jam: the bolt is known not to be at the
            # target, so a quick stall then is the obstruction again, never "already there".
            reached, travel_ms, loaded_mv = await self._run(direction, target, at_once_is_end=attempt == 1)
            self.last_travel_ms = travel_ms
            battery.record_motor_run(loaded_mv)
            if reached:
                self.state = target
                self._store.update(lock_state=target)
                self._log.append(event, (travel_ms, loaded_mv, attempt, key_id))
                return wire.STATUS_OK
            if attempt < _ATTEMPTS:
                await self._back_off(direction)
        self.state = wire.LOCK_JAMMED
        self._store.update(lock_state=wire.LOCK_JAMMED)
        self._log.append(wire.EVENT_JAMMED, (target, travel_ms, _ATTEMPTS))
        return wire.STATUS_JAMMED

    def _over_current(self):
        return self._sense is not None and self._sense.current_ma() > self._cfg["stall_ma"]

    async def _run(self, direction, target, homing=False, at_once_is_end=True):
        """Drive toward target; return (reached, travel_ms, average loaded mV).

        Without switches a stall ends the run: it is the end stop if it came at once (the bolt
        never moved: it was there) or after min_travel_ms, and a jam in between. homing: any
        stall is the end (the start was unknown). at_once_is_end: a stall at once means the bolt
        was already there (not after a back-off).
        """
        cfg = self._cfg
        meter_total = 0
        meter_count = 0
        over = 0
        reached = False
        at_once_ms = cfg["inrush_ms"] + (_STALL_POLLS + 1) * _POLL_MS
        start = time.ticks_ms()
        self._motor.drive(direction)
        try:
            while True:
                await asyncio.sleep_ms(_POLL_MS)
                elapsed = time.ticks_diff(time.ticks_ms(), start)
                if self._limits.present and self._at(target):
                    reached = True
                    break
                if elapsed >= cfg["inrush_ms"]:
                    meter_total += self._battery_mv()
                    meter_count += 1
                    over = over + 1 if self._over_current() else 0
                    if over >= _STALL_POLLS:
                        # With switches, a stall before the switch is a jam.
                        reached = not self._limits.present and (
                            homing or (at_once_is_end and elapsed <= at_once_ms)
                            or elapsed >= cfg["min_travel_ms"])
                        break
                if elapsed >= cfg["max_travel_ms"]:
                    break
        finally:
            await self._motor.stop()
        elapsed = time.ticks_diff(time.ticks_ms(), start)
        self._battery.charge.add(cfg["run_ma"] * 1000, elapsed)  # the board's running current
        self._runs += 1
        return reached, elapsed, meter_total // meter_count if meter_count else 0

    def _battery_mv(self):
        return self._battery.meter.read_mv(_MV_SAMPLES)

    async def _back_off(self, direction):
        """Reverse briefly to free a caught bolt, then let it settle before the retry."""
        cfg = self._cfg
        self._motor.drive(-direction)
        start = time.ticks_ms()
        try:
            while time.ticks_diff(time.ticks_ms(), start) < cfg["backoff_ms"]:
                await asyncio.sleep_ms(_POLL_MS)
                if self._limits.present and self._at(
                    wire.LOCK_UNLOCKED if direction > 0 else wire.LOCK_LOCKED
                ):
                    break  # back at the start already
        finally:
            await self._motor.stop()
        self._battery.charge.add(cfg["run_ma"] * 1000, time.ticks_diff(time.ticks_ms(), start))
        await asyncio.sleep_ms(cfg["retry_pause_ms"])
