# What the knock sensor tells the lock (docs/knock.md): someone knocked, so stay awake and
# advertising for their phone a while (the power policy's knock window). Boards without the
# sensor never load this module. (Door opened/closed and forced entry: not yet, docs/knock.md.)

import asyncio

import knock
import wire


class KnockWatch:
    def __init__(self, app, sensor):
        self._app = app
        self.sensor = sensor

    async def run(self):
        """Forever: each wake-up the sensor interrupts for (one pending at boot woke the chip)."""
        sensor = self.sensor
        while True:
            if not sensor.pending():
                await sensor.wait()
            try:
                knocked = sensor.clear()
            except OSError as err:  # the bus failed: say so, and do not spin on a held INT1
                self._app.fault(err)
                await asyncio.sleep_ms(1000)
                continue
            if knocked:
                self._app.policy.knocked()  # someone at the door: stay reachable


def watch(app, woke):
    """The board's knock sensor, started; None (a fault logged) if it does not answer."""
    cfg = app.board["accel"]
    try:
        sensor = knock.KnockSensor(cfg, app.hw.knock_bus(cfg), app.hw.knock_int)
        sensor.start(keep=woke)
    except Exception:  # absent, or not answering: the lock works on without it, and says so
        app.log.append(wire.EVENT_FAULT, (wire.FAULT_KNOCK_SENSOR, 0))
        return None
    return KnockWatch(app, sensor)
