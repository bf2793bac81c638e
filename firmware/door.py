# What the knock sensor tells the lock (docs/knock.md): someone knocked (stay awake and
# advertising for their phone: the power policy's knock window); the door swung open or shut;
# it stayed open after a visit; it was hit hard while locked (forced entry). Boards without the
# sensor never load this module.
#
# Each wake-up of the part is told apart by what it holds (knock.py): the FIFO's 160 ms up to
# the wake-up and the latched tap. A leaf swinging moves one way for hundreds of ms before it
# crosses the threshold; a rap or a blow rings (its sign turns every few ms) out of a still door.
# A swing's first push says which way: +Z (the part's axis normal to the leaf) is opening, -Z
# closing. A tap over the blow threshold is a blow. Then the lock watches the door come to
# rest (an opening slows down with -Z, a closing ends on the frame: neither is a second event)
# and re-arms the part. The door's state is kept in flash: it survives deep sleep and resets.

import asyncio

from micropython import const

import knock
import wire

_SWING = const(8)  # samples one way before the wake-up (40 ms at 200 Hz): a rap turns in 6
_POLL_MS = const(40)  # settling: the door read this often
_STILL = const(12)  # polls in a row at rest (~0.5 s): the door has stopped
_SETTLE = const(125)  # polls at most (5 s): a door that never rests is watched again anyway
_OPEN = (wire.DOOR_OPEN, wire.DOOR_LEFT_OPEN)


class DoorWatch:
    def __init__(self, app, sensor, board):
        self._app = app
        self.sensor = sensor
        self.state, self._since = app.store.get("door") or (wire.DOOR_UNKNOWN, 0)
        self._left_s = board["power"]["left_open_s"]  # open this long: "left open"
        self._half = board["accel"]["wake_mg"] // 2

    def _set(self, state, since):
        self.state, self._since = state, since
        self._app.store.update(door=[state, since])

    def sleep_ms(self, ms):
        """The policy's sleep, cut short to wake when an open door becomes left open."""
        if self.state != wire.DOOR_OPEN:
            return ms
        return max(1000, min(ms, (self._since + self._left_s - self._app.clock.now()) * 1000 + 500))

    def _check_left_open(self):
        open_s = self._app.clock.now() - self._since
        if self.state == wire.DOOR_OPEN and open_s >= self._left_s:
            self._app.log.append(wire.EVENT_DOOR_LEFT_OPEN, (open_s,))
            self._set(wire.DOOR_LEFT_OPEN, self._since)

    async def run(self):
        """Forever: each wake-up the sensor interrupts for (one pending at boot woke the chip)."""
        sensor = self.sensor
        while True:
            self._check_left_open()
            if not sensor.pending():
                if self.state == wire.DOOR_OPEN:  # watch the clock too, a second at a time
                    await asyncio.sleep_ms(1000)
                    continue
                await sensor.wait()
            try:
                await self._event()
            except OSError as err:  # the bus failed: say so, and do not spin on a held INT1
                self._app.fault(err)
                await asyncio.sleep_ms(1000)

    def _deviation(self):
        """The sample in self.sensor.mg off the door at rest: the largest axis, in mg."""
        mg, rest = self.sensor.mg, self.sensor.rest
        return max(abs(mg[0] - rest[0]), abs(mg[1] - rest[1]), abs(mg[2] - rest[2]))

    async def _event(self):
        app, sensor, half = self._app, self.sensor, self._half
        app.policy.activity()
        if not sensor.clear() and not sensor.tapped():
            return  # an edge with nothing latched (the part's own reset): nothing happened
        run = sign = peak = 0
        for _ in range(sensor.stored()):  # oldest first: the last is the wake-up's own sample
            sensor.read_mg()
            peak = max(peak, self._deviation())
            z = sensor.mg[2] - sensor.rest[2]
            way = 1 if z > half else -1 if z < -half else 0
            run = run + 1 if way and way == sign else 1 if way else 0
            sign = way
        if run < _SWING:
            # A knock, or a blow (told below): someone at the door; stay reachable for them.
            app.policy.knocked()
        sensor.bypass()  # the newest samples now, to see the door come to rest
        still = polls = 0
        while still < _STILL and polls < _SETTLE:
            await asyncio.sleep_ms(_POLL_MS)
            app.policy.activity()
            sensor.read_mg()
            deviation = self._deviation()
            peak = max(peak, deviation)
            still = still + 1 if deviation < half else 0
            polls += 1
        # A tap ends some samples after the wake-up: an awake lock reads it once the door rests.
        blow = sensor.tapped()
        # Locked: as the lock knows it, or (a board without switches, after a wake) as it
        # last drove the bolt (a hand on the thumb-turn since is not seen). A blow on an
        # unlocked door cannot force the bolt: it was someone at the door, a knock.
        bolt = app.lock.state or app.store.get("lock_state")
        forced = blow and bolt == wire.LOCK_LOCKED
        now = app.clock.now()
        if run >= _SWING and sign > 0 and self.state not in _OPEN:
            app.log.append(wire.EVENT_DOOR_OPENED)
            self._set(wire.DOOR_OPEN, now)
        elif run >= _SWING and sign < 0 and self.state != wire.DOOR_CLOSED:
            app.log.append(wire.EVENT_DOOR_CLOSED, (now - self._since if self._since else 0,))
            self._set(wire.DOOR_CLOSED, now)
        elif run < _SWING and forced:
            # The tap saw a slope over blow_mg: a sample at least that far off, whatever the
            # samples read here (a sleeping chip boots after the blow).
            app.log.append(wire.EVENT_FORCED, (max(peak, sensor.blow_mg),))
        sensor.rearm()


def watch(app, woke, board):
    """The board's knock sensor, started; None (a fault logged) if it does not answer."""
    cfg = board["accel"]
    try:
        sensor = knock.KnockSensor(cfg, app.hw.knock_bus(cfg), app.hw.knock_int)
        sensor.start(keep=woke)
    except Exception:  # absent, or not answering: the lock works on without it, and says so
        app.log.append(wire.EVENT_FAULT, (wire.FAULT_KNOCK_SENSOR, 0))
        return None
    app.policy.door = door = DoorWatch(app, sensor, board)  # STATUS and the sleep ask it
    return door
