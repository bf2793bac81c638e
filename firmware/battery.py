# Battery state from the voltage under load. A lithium primary cell holds its open-circuit
# voltage until nearly empty; only under load does a weak cell show itself, so the state is
# decided on the loaded reading (the test load, or the motor itself while it runs).

import wire


def adc_uv_to_mv(uv, adc):
    """Battery millivolts from the ADC pin's microvolts, through the divider and calibration."""
    return int(uv * adc["divider"] * adc["gain"] / 1000 + adc["offset_mv"])


def classify(loaded_mv, cfg):
    if loaded_mv < cfg["critical_mv"]:
        return wire.BATTERY_CRITICAL
    if loaded_mv < cfg["low_mv"]:
        return wire.BATTERY_LOW
    return wire.BATTERY_OK


class Battery:
    """The lock's view of its battery: measures, classifies and logs state changes.

    Callers hold the power lock while measuring, so a reading under the test load never
    overlaps a motor run.
    """

    def __init__(self, meter, cfg, log, store):
        self.meter = meter
        self._cfg = cfg
        self._log = log
        self._store = store
        self.idle_mv = 0
        self.loaded_mv = store.get("loaded_mv", 0)
        self.state = store.get("battery_state", wire.BATTERY_OK)

    async def check(self):
        """Measure idle, then under the test load; return the battery state."""
        self.idle_mv = self.meter.read_mv()
        if self.idle_mv < self._cfg["critical_mv"]:
            # Not worth loading a cell that is already below the line when resting.
            loaded = self.idle_mv
        elif self.meter.has_load:
            loaded = await self.meter.loaded_mv()
        else:
            loaded = self.loaded_mv or self.idle_mv  # last motor run's reading
        self._update(loaded)
        return self.state

    def record_motor_run(self, loaded_mv):
        """The average voltage while the motor ran: the truest load reading there is."""
        if loaded_mv:
            self._update(loaded_mv)

    def _update(self, loaded_mv):
        self.loaded_mv = loaded_mv
        state = classify(loaded_mv, self._cfg)
        if state != self.state:
            self.state = state
            self._log.append(wire.EVENT_BATTERY, (state, self.idle_mv, loaded_mv))
        self._store.update(battery_state=state, loaded_mv=loaded_mv)
