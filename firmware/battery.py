# Battery state from the voltage under load. A lithium primary cell holds its open-circuit
# voltage until nearly empty; only under load does a weak cell show itself, so the state is
# decided on the loaded reading (the test load, or the motor itself while it runs), and the
# charge counted since the last swap (energy.py) warns before the voltage does.

from micropython import const

import wire

_RECOVERY_MV = const(50)  # a state improves only this far past its threshold (hysteresis)


def adc_uv_to_mv(uv, adc):
    """Battery millivolts from the ADC pin's microvolts, through the divider and calibration."""
    return int(uv * adc["divider"] * adc["gain"] / 1000 + adc["offset_mv"])


def estimate_percent(idle_mv, cfg):
    """Charge left (0-100) read off the board's open-circuit voltage curve.

    Coarse for a flat lithium cell except near the end; the charge count (energy.py) is the
    main estimate.
    """
    curve = cfg.get("ocv_curve")
    if not curve or idle_mv <= 0:
        return wire.PERCENT_UNKNOWN
    if idle_mv <= curve[0][1]:
        return 0
    for i in range(1, len(curve)):
        soc0, mv0 = curve[i - 1]
        soc1, mv1 = curve[i]
        if idle_mv <= mv1:
            return int(100 * (soc0 + (soc1 - soc0) * (idle_mv - mv0) / (mv1 - mv0)))
    return 100


def classify(loaded_mv, cfg, percent=100):
    """CRITICAL only on the voltage (a count cannot prove a cell dead, and CRITICAL stops the
    motor); LOW on the voltage or when the count says little charge is left."""
    if loaded_mv < cfg["critical_mv"]:
        return wire.BATTERY_CRITICAL
    if loaded_mv < cfg["low_mv"] or percent < cfg["low_pct"]:
        return wire.BATTERY_LOW
    return wire.BATTERY_OK


class Battery:
    """The lock's view of its battery: measures, classifies and logs state changes.

    Callers hold the power lock while measuring, so a reading under the test load never
    overlaps a motor run.
    """

    def __init__(self, meter, cfg, log, store, charge):
        self.meter = meter
        self.charge = charge  # the ChargeMeter
        self._cfg = cfg
        self._log = log
        self._store = store
        self.idle_mv = 0
        self.loaded_mv = store.get("loaded_mv", 0)
        self.state = store.get("battery_state", wire.BATTERY_OK)

    @property
    def percent(self):
        by_voltage = estimate_percent(self.idle_mv, self._cfg)
        return self.charge.percent(100 if by_voltage == wire.PERCENT_UNKNOWN else by_voltage)

    def days_left(self):
        return self.charge.days_left(self.percent)

    async def _measure(self):
        self.idle_mv = self.meter.read_mv()
        if self.idle_mv < self._cfg["critical_mv"]:
            # Not worth loading a cell that is already below the line when resting.
            return self.idle_mv
        if self.meter.has_load:
            loaded = await self.meter.loaded_mv()
            self.charge.add(int(loaded * 1000 / self.meter.load_ohm), self.meter.load_ms)
            return loaded
        return self.loaded_mv or self.idle_mv  # last motor run's reading

    async def check(self):
        """Measure idle, then under the test load; return the battery state."""
        self._update(await self._measure())
        return self.state

    async def register_swap(self, key_id):
        """The person who swapped it (a staff key or above) says a new battery is in: check it
        reads fresh under load, then start the count again. Returns STATUS_OK, or STATUS_BATTERY_DEPLETED (nothing changed)."""
        loaded = await self._measure()
        if not self.meter.has_load:
            loaded = self.idle_mv  # the motor reading is the old battery's (docs/battery.md)
        if loaded < self._cfg["fresh_mv"]:
            self._log.append(wire.EVENT_SWAP_REFUSED, (self.idle_mv, loaded, key_id))
            self._update(loaded)  # the cell in the lock now is this one, swap or not
            return wire.STATUS_BATTERY_DEPLETED
        used_mah = self.charge.swapped() // 1000
        self._log.append(wire.EVENT_BATTERY_SWAP, (self.idle_mv, loaded, used_mah, key_id))
        self._update(loaded, False)  # no hysteresis across a swap: a new cell is judged afresh
        return wire.STATUS_OK

    def record_motor_run(self, loaded_mv):
        """The average voltage while the motor ran. The thresholds are set for the test load,
        so a motor reading (a different current) decides only on boards without one."""
        if loaded_mv and not self.meter.has_load:
            self._update(loaded_mv)

    def _update(self, loaded_mv, hysteresis=True):
        self.loaded_mv = loaded_mv
        percent = self.percent
        state = classify(loaded_mv, self._cfg, percent)
        if hysteresis and state < self.state and classify(loaded_mv - _RECOVERY_MV, self._cfg, percent) != state:
            state = self.state  # too close to the line to call it better: no flapping
        if state != self.state:
            self.state = state
            self._log.append(wire.EVENT_BATTERY, (state, self.idle_mv, loaded_mv))
            self._store.update(battery_state=state, loaded_mv=loaded_mv)  # flash only on change
