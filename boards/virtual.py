# The virtual board: the wiring the simulator models, close to the production lock.
# A 3.6 V Li-SOCl2 pack as in the field, limit switches at both ends of travel and a motor
# current sense amplifier, so both end-of-travel paths of the firmware run here.
# BOARD is copied to the board's flash as board.py, read by the firmware and by the host's
# simulator; HOST, at the end, by the host alone.

BOARD = {
    "name": "virtual",
    "model": "hemlas virtual lock",
    "pins": {
        "motor_a": 25,  # H-bridge IN1 (DRV8833-style): drives the bolt out (lock)
        "motor_b": 26,  # H-bridge IN2: drives the bolt in (unlock)
        "limit_locked": 32,  # switch closed when the bolt is fully thrown
        "limit_unlocked": 33,  # switch closed when the bolt is fully retracted
        "motor_sense": 35,  # ADC: shunt + amplifier on the H-bridge supply
        "button": 0,
        "led_green": 18,
        "led_red": 19,
        "battery_adc": 34,  # ADC1 (ADC2 is unusable while the radio runs)
        "battery_load": 27,  # MOSFET switching the battery test load resistor
    },
    "button_active_low": True,  # button to ground, internal pull-up
    "limit_active_low": True,  # switches to ground, internal pull-ups
    "led_active_high": True,
    "motor": {
        "pwm": True,
        "pwm_freq": 20000,  # above hearing, so the motor does not whine
        "duty_pct": 100,  # full duty: the bolt needs all the torque a 3.6 V pack gives
        "min_travel_ms": 300,  # a stall earlier than this is a jam, not the end stop
        "max_travel_ms": 1500,  # never drive longer: 2.5x nominal covers a weak battery
        "inrush_ms": 60,  # start-up current looks like a stall; ignore it this long
        "run_ma": 220,  # current while the bolt moves freely
        "stall_ma": 400,  # above this the motor is stalled (end stop or jam)
        "sense_mv_per_ma": 2.0,  # 0.1 ohm shunt x gain 20
        "backoff_ms": 200,  # jam retry: reverse this long to free the bolt
        "retry_pause_ms": 300,  # then let it settle before the one retry
    },
    "adc": {
        "atten": 3,  # ADC.ATTN_11DB: about 0.15-2.45 V usable at the pin
        "divider": 2.0,  # 100k/100k: a 3.67 V pack reads 1.84 V at the pin
        "gain": 1.0,  # per-unit calibration against a multimeter
        "offset_mv": 0,
        "samples": 16,  # averaged: the ESP32 ADC has a few mV of noise
    },
    "load": {
        "ohm": 8.2,  # about 440 mA from a fresh pack: a motor stall's worth of load
        "settle_ms": 20,  # the pack's voltage settles under load within this
    },
    "battery": {
        "capacity_mah": 5800,  # spiral-wound C cell (e.g. LSH 14 class)
        "low_mv": 3200,  # loaded voltage below this: battery swap needed
        "critical_mv": 2700,  # loaded voltage below this: fully discharged
        "fresh_mv": 3400,  # a new cell reads at least this under the test load (swap check)
        "low_pct": 10,  # charge counted left below this: battery swap needed (energy.py)
        # Open-circuit voltage against state of charge: flat until near the end.
        "ocv_curve": ((0.0, 2900), (0.01, 3050), (0.03, 3250), (0.08, 3450),
                      (0.2, 3580), (0.6, 3630), (1.0, 3670)),
    },
    "power": {
        "active_ma": 40,  # CPU running, radio idle
        "adv_ma": 2,  # more while advertising, at a 100 ms interval (TX bursts of ~130 mA, ~1.5 ms)
        "conn_ma": 3,  # more while a client is connected (a connection event every ~30 ms)
        "sleep_ua": 25,  # deep sleep: the RTC timer, the button's wake pin, the regulator
        "led_ma": 5,  # each LED through its resistor
        # The development lock stays awake, so the console and tests reach it at any moment;
        # the production lock's policy (esp32c3.py) runs on the virtual board by passing it.
        "policy": None,
    },
    "ble": {
        "adv_interval_ms": 100,  # the virtual link has no radio timing; 100 ms keeps discovery quick
    },
    "wdt_ms": 8000,  # the watchdog restarts a firmware that stops feeding it
    "log_segments": 8,  # event log: segments kept (oldest dropped first)
    "log_segment_records": 64,  # records per segment
}

# What only the host reads (the virtual board's physics and chip, `hemlas boards`): merged
# into BOARD on the host (hemlas.boards.load_board), never copied to the unit, where each
# name would be a qstr and each value heap the lock never reads.
HOST = {
    "chip": "esp32",  # the simulated machine and esp32 modules are the ESP32 build's (hemlas/sim/chips.py)
    "motor": {
        "travel_ms": 600,  # nominal end-to-end travel at full voltage
        "winding_ohm": 6.0,  # stall current = applied voltage / winding resistance
    },
    "battery": {
        "chemistry": "Li-SOCl2",
        "nominal_mv": 3600,
        # Internal resistance (milliohm) grows as the cell empties.
        "r_curve": ((0.0, 4000), (0.01, 2500), (0.03, 1400), (0.08, 600),
                    (0.2, 300), (1.0, 250)),
    },
    "power": {
        "boot_ms": 300,  # from a wake to MicroPython running main.py (ROM, bootloader, start-up)
        "brownout_mv": 2300,  # the ESP32 resets below this supply voltage
    },
}
